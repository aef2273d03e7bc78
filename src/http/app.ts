// The Koa application: error mapping, common headers, request logging, then the route table.
import Koa from 'koa';
import type { Logger } from '../registry/deps.js';
import type { Registry } from '../registry/registry.js';
import type { Authorizer } from './access.js';
import { errorResponder, HttpError } from './errors.js';
import { API_VERSION, API_VERSION_HEADER } from './headers.js';
import { createRouter } from './routes.js';

export interface AppOptions {
  registry: Registry;
  authorizer: Authorizer;
  log: Logger;
  logRequests: boolean;
  manifestMaxBytes: number;
}

export function createApp({ registry, authorizer, log, logRequests, manifestMaxBytes }: AppOptions): Koa {
  const app = new Koa();
  app.silent = true; // errors are logged by errorResponder, with context
  const router = createRouter({ registry, authorizer, manifestMaxBytes });

  app.use(async (ctx, next) => {
    const started = performance.now();
    ctx.set(API_VERSION_HEADER, API_VERSION);
    try {
      await next();
    } finally {
      if (logRequests) {
        log.info(
          {
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
  app.use(router.routes());
  app.use(
    router.allowedMethods({
      throw: true,
      methodNotAllowed: () => new HttpError(405, 'UNSUPPORTED', 'method not allowed'),
    }),
  );
  app.use((ctx) => {
    throw new HttpError(404, 'UNSUPPORTED', `no such endpoint: ${ctx.method} ${ctx.path}`);
  });
  return app;
}
