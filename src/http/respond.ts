import type { Context } from 'koa';

/**
 * Ends with `status` and no body (Content-Length: 0). The body is cleared first: Koa turns a
 * status into 204 when the body is set to null after it.
 */
export function respondEmpty(ctx: Context, status: number): void {
  ctx.body = null;
  ctx.status = status;
}
