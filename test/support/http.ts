// Raw HTTP for tests that fetch cannot express: paths sent byte for byte (no dot-segment or
// percent-decoding normalisation), chunked bodies, and requests written slowly or cut mid-body.
import { createHash } from 'node:crypto';
import {
  request,
  type Agent,
  type ClientRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { connect } from 'node:net';
import { expect } from 'vitest';

export const REQUEST_TIMEOUT_MS = 15_000;

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface OpenRequest {
  /** The request, headers sent; write to it, then end() or destroy() it. */
  req: ClientRequest;
  /** Settles with the response, or rejects when the connection is cut or times out. */
  response: Promise<RawResponse>;
}

export interface OpenRequestOptions {
  /** A keep-alive Agent to reuse connections; by default each request has its own connection. */
  agent?: Agent;
  timeoutMs?: number;
}

/**
 * Starts `method path` and sends the headers at once. Without a Content-Length header the body goes
 * out with chunked transfer encoding.
 */
export function openRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders = {},
  { agent, timeoutMs = REQUEST_TIMEOUT_MS }: OpenRequestOptions = {},
): OpenRequest {
  const base = new URL(baseUrl);
  let req!: ClientRequest;
  const response = new Promise<RawResponse>((resolve, reject) => {
    req = request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers,
        agent: agent ?? false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out: ${method} ${path}`)));
    req.on('error', reject);
  });
  // Callers that cut the request on purpose may never look at the rejection.
  response.catch(() => {});
  req.flushHeaders();
  return { req, response };
}

export interface RawRequestOptions {
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  /** Send the body with chunked transfer encoding instead of a Content-Length. */
  chunked?: boolean;
}

/** One whole request; a body goes with its Content-Length unless `chunked` is set. */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  { headers = {}, body, chunked = false }: RawRequestOptions = {},
): Promise<RawResponse> {
  // Without this, node:http sends an empty chunked body on POST/PUT/PATCH.
  const bodyless = method === 'GET' || method === 'HEAD';
  const sized =
    chunked || bodyless ? headers : { 'Content-Length': Buffer.byteLength(body ?? ''), ...headers };
  const { req, response } = openRequest(baseUrl, method, path, sized);
  req.end(body);
  return response;
}

/** rawRequest bound to one registry: `api('GET', '/v2/')`. */
export function clientFor(baseUrl: string) {
  return (method: string, path: string, options?: RawRequestOptions) =>
    rawRequest(baseUrl, method, path, options);
}

/**
 * Sends one bodiless request on a bare socket with `Connection: close` and returns everything the
 * server wrote, split at the end of the headers. node:http would hide bytes sent after a HEAD
 * response's headers; this does not.
 */
export function exchangeOnSocket(
  baseUrl: string,
  method: string,
  path: string,
): Promise<{ head: string; rest: Buffer }> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    const chunks: Buffer[] = [];
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy(new Error(`timed out: ${method} ${path}`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no complete response head: ${all.toString('latin1')}`));
      resolve({ head: all.subarray(0, split).toString('latin1'), rest: all.subarray(split + 4) });
    });
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${base.host}\r\nConnection: close\r\n\r\n`);
  });
}

/** The response's JSON error codes, or [] when the body is not an OCI error body. */
export function errorCodes(res: { text: string }): string[] {
  try {
    const parsed = JSON.parse(res.text) as { errors?: Array<{ code?: unknown }> };
    return (parsed.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}

export function digestOf(data: Buffer | string, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Polls `probe` until it returns true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A 416 about a chunk's position: CNCF Distribution answers RANGE_INVALID, a code the OCI spec's
 * table lacks; BLOB_UPLOAD_INVALID is the spec's nearest. Either is accepted.
 */
export const RANGE_ERROR_CODES = ['RANGE_INVALID', 'BLOB_UPLOAD_INVALID'] as const;

/** Asserts `status` and a JSON OCI error body whose first code is `code` (or one of them); returns it. */
export function expectOciError(
  res: RawResponse,
  status: number,
  code: string | readonly string[],
): { code: string; message: string; detail: unknown } {
  const context = `${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers['content-type'], context).toMatch(/^application\/json\b/);
  const parsed = JSON.parse(res.text) as {
    errors: Array<{ code: string; message: string; detail: unknown }>;
  };
  expect(typeof code === 'string' ? [code] : code, context).toContain(parsed.errors[0]?.code);
  expect(typeof parsed.errors[0]?.message, context).toBe('string');
  return parsed.errors[0] as { code: string; message: string; detail: unknown };
}
