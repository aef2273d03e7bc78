// X-Request-Id: taken from the client (or a proxy in front) when it is a short token, else made here;
// echoed on the response, written on the request's log lines and carried by its events.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Accepted as given: what proxies and tracing systems send, nothing that could forge a log line. */
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(ctx: Context): string {
  return (ctx.state as { requestId?: string }).requestId ?? '';
}

export async function assignRequestId(ctx: Context, next: Next): Promise<void> {
  const given = ctx.get(REQUEST_ID_HEADER);
  const id = ACCEPTABLE.test(given) ? given : randomUUID();
  (ctx.state as { requestId?: string }).requestId = id;
  ctx.set(REQUEST_ID_HEADER, id);
  await next();
}
