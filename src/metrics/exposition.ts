// GET /metrics in the Prometheus text format: as a Koa handler on the main listener, or as a separate
// plain-HTTP listener (metrics.listen) that serves nothing else.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'koa';
import type { Registry } from 'prom-client';
import type { Logger } from '../registry/deps.js';

export interface MetricsListener {
  /** host:port actually listened on. */
  address: string;
  close(): Promise<void>;
}

export function metricsHandler(registry: Registry) {
  return async (ctx: Context): Promise<void> => {
    const body = await registry.metrics();
    ctx.set('Content-Type', registry.contentType);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };
}

export function startMetricsListener(
  registry: Registry,
  at: { host: string; port: number },
  log: Logger,
): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.error({ err }, 'cannot render /metrics');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      resolve({
        address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
