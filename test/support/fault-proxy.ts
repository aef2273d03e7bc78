// A streaming reverse proxy between a mirror Berth and its upstream, for fault tests: it can refuse
// connections, answer a status itself, cut a response body, or throttle it, and it records every
// request that reached the upstream ("METHOD /path?query", in order). It forwards every request
// header as is (Authorization included) with the Host of the upstream, and rewrites nothing else:
// a token-auth upstream's WWW-Authenticate realm keeps pointing at the upstream itself.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'none' }
  /** Connections are reset at once (setting it also resets the connections open at that time). */
  | { kind: 'refuse' }
  /** Answer this status (e.g. 503, 429) without asking upstream. */
  | { kind: 'status'; status: number; paths?: RegExp }
  /** Forward, but cut the response body after N bytes (destroy the socket). */
  | { kind: 'cut'; afterBytes: number; paths?: RegExp }
  /** Forward the body throttled. */
  | { kind: 'slow'; bytesPerSecond: number; paths?: RegExp }
  /** Read the request and never answer (an upstream that hangs; stop() cuts these connections). */
  | { kind: 'hang'; paths?: RegExp };

export interface ProxiedExchange {
  method: string;
  path: string;
  /** As the client sent them (the proxy forwards them unchanged but for Host). */
  headers: IncomingHttpHeaders;
  status?: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Requests that reached the upstream, "METHOD /path?query", in order. */
  readonly requests: readonly string[];
  /**
   * Every request the proxy read, "METHOD /path?query", in order: those that reached the upstream and
   * those a 'status' fault answered (connections reset by 'refuse' carry no request and are not here).
   */
  readonly attempts: readonly string[];
  /** The requests in `requests` with the headers they carried and the upstream's status, once known. */
  readonly exchanges: readonly ProxiedExchange[];
  count(method: string, path: RegExp): number;
  setFault(fault: Fault): void;
  /** Clears `requests`, `attempts` and `exchanges`. */
  reset(): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function forwardableHeaders(raw: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const requests: string[] = [];
  const attempts: string[] = [];
  const exchanges: ProxiedExchange[] = [];
  const sockets = new Set<Socket>();
  let fault: Fault = { kind: 'none' };

  const applies = (f: { paths?: RegExp }, path: string) => f.paths === undefined || f.paths.test(path);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const current = fault;
    if (current.kind === 'refuse') {
      req.socket.resetAndDestroy();
      return;
    }
    attempts.push(`${req.method} ${path}`);
    if (current.kind === 'status' && applies(current, path)) {
      req.resume();
      const body = JSON.stringify({
        errors: [{ code: 'UNAVAILABLE', message: `fault proxy: ${current.status}` }],
      });
      res.writeHead(current.status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        ...(current.status === 429 || current.status === 503 ? { 'Retry-After': '1' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (current.kind === 'hang' && applies(current, path)) {
      req.resume();
      return;
    }
    requests.push(`${req.method} ${path}`);
    const exchange: ProxiedExchange = { method: req.method ?? '', path, headers: { ...req.headers } };
    exchanges.push(exchange);
    const headers = forwardableHeaders(req.headers);
    headers.host = upstream.host;
    const outgoing = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers },
      (upRes) => {
        exchange.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardableHeaders(upRes.headers));
        const shaped = current.kind === 'cut' || current.kind === 'slow' ? current : undefined;
        if (shaped === undefined || !applies(shaped, path)) {
          upRes.pipe(res);
          return;
        }
        void pump(upRes, res, shaped).catch(() => {
          upRes.destroy();
          res.destroy();
        });
      },
    );
    outgoing.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end('fault proxy: upstream error');
      } else res.destroy();
    });
    req.pipe(outgoing);
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
  };

  async function pump(
    upRes: IncomingMessage,
    res: ServerResponse,
    shape: Extract<Fault, { kind: 'cut' } | { kind: 'slow' }>,
  ): Promise<void> {
    let sent = 0;
    const started = Date.now();
    for await (const chunk of upRes as AsyncIterable<Buffer>) {
      if (res.destroyed) throw new Error('client left');
      if (shape.kind === 'cut') {
        const room = shape.afterBytes - sent;
        if (chunk.length >= room) {
          if (room > 0) await write(res, chunk.subarray(0, room));
          // Give the written bytes a moment to leave before the socket goes.
          await sleep(20);
          res.socket?.resetAndDestroy();
          res.destroy();
          upRes.destroy();
          return;
        }
        await write(res, chunk);
        sent += chunk.length;
      } else {
        // Slices small enough that the rate is smooth at low rates.
        const slice = Math.max(1, Math.min(64 * 1024, Math.floor(shape.bytesPerSecond / 20)));
        for (let offset = 0; offset < chunk.length; offset += slice) {
          const part = chunk.subarray(offset, offset + slice);
          await write(res, part);
          sent += part.length;
          const due = started + (sent / shape.bytesPerSecond) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
          if (res.destroyed) throw new Error('client left');
        }
      }
    }
    res.end();
  }

  function write(res: ServerResponse, chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (res.destroyed) return reject(new Error('client left'));
      if (res.write(chunk)) return resolve();
      const onDrain = () => {
        res.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        res.off('drain', onDrain);
        reject(new Error('client left'));
      };
      res.once('drain', onDrain);
      res.once('close', onClose);
    });
  }

  const server = createServer(handle);
  server.on('connection', (socket) => {
    if (fault.kind === 'refuse') {
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    attempts,
    exchanges,
    count(method, path) {
      return requests.filter((line) => {
        const space = line.indexOf(' ');
        return line.slice(0, space) === method && path.test(line.slice(space + 1));
      }).length;
    },
    setFault(next) {
      fault = next;
      // A connection kept alive by the mirror would otherwise dodge a 'refuse'.
      if (next.kind === 'refuse') for (const socket of sockets) socket.resetAndDestroy();
    },
    reset() {
      requests.length = 0;
      attempts.length = 0;
      exchanges.length = 0;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
