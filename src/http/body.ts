// Request bodies: streamed for blobs, read whole (and capped) only for manifests.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ManifestTooLargeError } from '../registry/errors.js';

/** Whether the request carries a body at all (a length above zero, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads a whole body of at most `maxBytes`, refusing larger ones before reading them when declared. */
export async function readCappedBody(
  req: IncomingMessage,
  maxBytes: number,
  tooLarge: () => Error = () => new ManifestTooLargeError(maxBytes),
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > maxBytes) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Aborted when the client goes away before the response is complete. */
export function abortSignalFor(req: IncomingMessage): AbortSignal {
  const controller = new AbortController();
  req.once('close', () => {
    if (!req.complete) controller.abort();
  });
  return controller.signal;
}

/** Aborted when the connection closes before the response has been sent (the client gave up). */
export function responseAbandonedSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
