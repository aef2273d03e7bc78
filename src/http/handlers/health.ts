// GET /healthz: the process answers (liveness). GET /readyz: it can serve, its database and storage
// both answering (readiness): 200, or 503 naming what is unavailable. Neither needs credentials nor
// reveals more than these words.
import type { Context } from 'koa';
import type { Registry } from '../../registry/registry.js';

export function healthHandlers(registry: Registry) {
  return {
    live(ctx: Context) {
      ctx.body = { status: 'ok' };
    },
    async ready(ctx: Context) {
      const { ready, checks } = await registry.health.readiness();
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
    },
  };
}
