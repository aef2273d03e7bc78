// The Koa application: request metrics, error mapping, common headers, request logging, the web UI's
// files (ui.ts: `/`, `/assets/*` and the UI's client routes only), then the route table.
import Koa, { type Middleware } from 'koa';
import type { Logger } from '../registry/deps.js';
import { errorResponder, HttpError } from './errors.js';
import { API_VERSION, API_VERSION_HEADER } from './headers.js';
import { assignRequestId, requestIdOf } from './request-id.js';
import { createRouter, type RouteOptions } from './routes.js';
import { createUiMiddleware, type UiOptions } from './ui.js';

export interface AppOptions extends RouteOptions {
  log: Logger;
  logRequests: boolean;
  /** server.trustProxy: take the client address and scheme from X-Forwarded-* headers. */
  trustProxy?: boolean;
  /** Request metrics (src/metrics/http-metrics.ts): runs first, so every answer is counted. */
  httpMetrics?: Middleware;
  /** server.ui: serve the web UI (ui.ts) at `/`; its files from options.root (default dist/ui). */
  ui?: UiOptions | false;
}

/** Paths that load balancers, orchestrators and Prometheus poll. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createApp(options: AppOptions): Koa {
  const { log, logRequests } = options;
  const app = new Koa();
  app.silent = true; // errors are logged by errorResponder, with context
  app.proxy = options.trustProxy ?? false;
  const router = createRouter(options);

  if (options.httpMetrics) app.use(options.httpMetrics);
  app.use(assignRequestId);
  app.use(async (ctx, next) => {
    const started = performance.now();
    ctx.set(API_VERSION_HEADER, API_VERSION);
    try {
      await next();
    } finally {
      if (logRequests) {
        // Probes and scrapes come every few seconds: at debug, so they do not drown the log.
        const level = PROBE_PATHS.has(ctx.path) ? 'debug' : 'info';
        log[level](
          {
            requestId: requestIdOf(ctx),
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            ms: Math.round((performance.now() - started) * 10) / 10,
          },
          'request',
        );
      }
    }
  });
  app.use(errorResponder(log));
  // Runs after the router and allowedMethods (which answers 405 for a known path): nothing matched.
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      throw new HttpError(404, 'UNSUPPORTED', `no such endpoint: ${ctx.method} ${ctx.path}`);
    }
  });
  if (options.ui) app.use(createUiMiddleware(options.ui));
  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new HttpError(405, 'UNSUPPORTED', 'method not allowed'),
      // A method no route takes anywhere (TRACE, PROPFIND, M-SEARCH, ...): 405 like any other method a
      // path does not take (RFC 9110 would also allow 501), never a 5xx that monitoring counts as ours.
      notImplemented: () => new HttpError(405, 'UNSUPPORTED', 'method not allowed'),
    }),
  );
  return app;
}
