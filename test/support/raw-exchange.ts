// HTTP/1.1 on a bare socket, for requests node:http refuses to send: any method token (or garbage
// in its place), a Content-Length that lies about the body, and bodies that stop early. Every
// exchange is bounded by a timeout that rejects with the request it was waiting on.
import { connect } from 'node:net';

export interface ParsedResponse {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The stream ended before the body its framing announced. */
  truncated: boolean;
}

export interface RawExchangeRequest {
  method: string;
  /** Sent byte for byte, without normalisation. */
  path: string;
  /** Written verbatim, in order, after Host. */
  headers?: ReadonlyArray<readonly [string, string]>;
  /** The body bytes actually written (after the headers). */
  body?: Buffer;
  /**
   * The Content-Length header: `'actual'` (the default when a body is given) is the body's length;
   * a number may lie; `'none'` sends no Content-Length (with `chunked`, a chunked body).
   */
  contentLength?: number | 'actual' | 'none';
  chunked?: boolean;
  /**
   * Stop after writing `afterBytes` of the body, wait `delayMs`, then `destroy` the connection
   * (a client crash) or `end` it (a half-close: no more bytes will come).
   */
  cut?: { afterBytes: number; delayMs: number; how: 'destroy' | 'end' };
  timeoutMs?: number;
}

export interface RawExchangeResult {
  /** Every response read off the connection, in order (a lying body may yield two). */
  responses: ParsedResponse[];
  /** The socket error, if the connection failed (ECONNRESET, EPIPE ...). */
  error?: string;
}

export const EXCHANGE_TIMEOUT_MS = 10_000;

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(head.slice(0, 200))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), headers };
}

/** Decodes a chunked body; `rest` is what follows it, undefined when it is incomplete. */
function dechunk(data: Buffer): { body: Buffer; rest: Buffer | undefined } {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return { body: Buffer.concat(parts), rest: undefined };
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), rest: undefined };
    const start = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n\r\n', lineEnd);
      return { body: Buffer.concat(parts), rest: trailerEnd < 0 ? undefined : data.subarray(trailerEnd + 4) };
    }
    if (data.length < start + size + 2) {
      parts.push(data.subarray(start));
      return { body: Buffer.concat(parts), rest: undefined };
    }
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}

/** Splits everything the server wrote into responses; the first answers `method`. */
export function parseResponses(data: Buffer, method: string): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let rest = data;
  let first = true;
  while (rest.length > 0) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) break;
    const { status, headers } = parseHead(rest.subarray(0, split).toString('latin1'));
    rest = rest.subarray(split + 4);
    if (status >= 100 && status < 200) continue;
    let body: Buffer;
    let truncated = false;
    const length = headers['content-length'];
    if ((first && method === 'HEAD') || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const decoded = dechunk(rest);
      body = decoded.body;
      truncated = decoded.rest === undefined;
      rest = decoded.rest ?? Buffer.alloc(0);
    } else if (length !== undefined) {
      body = rest.subarray(0, Number(length));
      truncated = body.length < Number(length);
      rest = rest.subarray(body.length);
    } else {
      body = rest;
      rest = Buffer.alloc(0);
    }
    responses.push({ status, headers, body, text: body.toString('utf8'), truncated });
    first = false;
  }
  return responses;
}

const describe = (req: RawExchangeRequest) => `${JSON.stringify(req.method)} ${JSON.stringify(req.path)}`;

/**
 * Sends one request on its own connection (`Connection: close`) and collects every byte the
 * server writes until it closes. Resolves with the parsed responses, also when the connection was
 * reset; rejects only when the server neither answers nor closes within the timeout.
 */
export function rawExchange(baseUrl: string, req: RawExchangeRequest): Promise<RawExchangeResult> {
  const base = new URL(baseUrl);
  const timeoutMs = req.timeoutMs ?? EXCHANGE_TIMEOUT_MS;
  const body = req.body ?? Buffer.alloc(0);
  const declared = req.contentLength ?? (req.body ? 'actual' : 'none');
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${base.host}`, 'Connection: close'];
  for (const [name, value] of req.headers ?? []) lines.push(`${name}: ${value}`);
  if (declared !== 'none') lines.push(`Content-Length: ${declared === 'actual' ? body.length : declared}`);
  if (req.chunked) lines.push('Transfer-Encoding: chunked');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const sent = req.cut ? body.subarray(0, req.cut.afterBytes) : body;
  const payload = req.chunked
    ? Buffer.concat([
        sent.length > 0 ? Buffer.from(`${sent.length.toString(16)}\r\n`) : Buffer.alloc(0),
        sent,
        sent.length > 0 ? Buffer.from('\r\n') : Buffer.alloc(0),
        req.cut ? Buffer.alloc(0) : Buffer.from('0\r\n\r\n'),
      ])
    : sent;

  return new Promise((resolve, reject) => {
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let cutTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      const got = Buffer.concat(chunks).toString('latin1').slice(0, 300);
      reject(
        new Error(
          `no answer or close within ${timeoutMs} ms to ${describe(req)}; got ${JSON.stringify(got)}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(cutTimer);
      try {
        resolve({ responses: parseResponses(Buffer.concat(chunks), req.method), error });
      } catch (err) {
        reject(new Error(`${describe(req)}: ${(err as Error).message}`));
      }
    });
    socket.write(Buffer.concat([head, payload]));
    if (req.cut) {
      const { how, delayMs } = req.cut;
      cutTimer = setTimeout(() => (how === 'destroy' ? socket.destroy() : socket.end()), delayMs);
    }
  });
}
