import type { Context } from 'koa';
import type { Readable } from 'node:stream';
import { isSendable } from '../../storage-drivers/types.js';

/**
 * Ends with `status` and no body (Content-Length: 0). The body is cleared first: Koa turns a
 * status into 204 when the body is set to null after it.
 */
export function respondEmpty(ctx: Context, status: number): void {
  ctx.body = null;
  ctx.status = status;
}

/**
 * Sends a blob's bytes as the body, with status and headers already set. A stream that can write
 * itself (storage-drivers/types.ts SendableStream: filesystem files, with reused buffers) is written
 * into the response here, bypassing Koa's piping, and the handler's promise lasts until the last byte
 * is out, so the request log times the whole transfer. Any other stream is left to Koa to pipe.
 * A client that goes away ends the send quietly; a failing read or a body shorter than ctx.length
 * rejects (errors.ts then cuts the connection: the client sees a short body, never a complete one).
 */
export async function respondStream(ctx: Context, stream: Readable): Promise<void> {
  if (!isSendable(stream)) {
    ctx.body = stream;
    return;
  }
  ctx.respond = false;
  const res = ctx.res;
  let sent: number;
  try {
    sent = await stream.sendTo(res);
  } catch (err) {
    if (res.destroyed && !res.writableFinished) return; // the client went away
    throw err;
  }
  // A stored object shorter than the length announced (a damaged file): ending here would leave the
  // client waiting for the missing bytes on a kept-alive connection.
  if (sent !== ctx.length) throw new Error(`sent ${sent} of the ${ctx.length} bytes announced`);
  res.end();
}
