import type { Context } from 'koa';

/** GET /v2/: the API version check (OCI dist-spec end-1). */
export function apiVersionCheck(ctx: Context): void {
  ctx.status = 200;
  ctx.body = {};
}
