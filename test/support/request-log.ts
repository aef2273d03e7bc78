// Berth's request log, read from its stdout: every pino JSON line `{"method","path","status","msg":"request"}`
// that src/http/app.ts writes, so e2e tests can assert what a real client actually sent (e.g. the OAuth2
// `POST /auth/token` of containerd) without a proxy in between.
//
// Contract: pass `onStdout` to startBerthProcess; lines are parsed as they arrive (a line split across
// chunks is joined first, non-JSON lines are ignored). mark() and since() bracket one client command.
// A log line can reach this process after the client has exited, so read with settle() first: it sends
// Berth a request with a unique path and waits (bounded) for its line, which Berth wrote after every line
// of the client's requests. Those barrier requests are never listed.
import { randomUUID } from 'node:crypto';

export interface LoggedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  status: number;
}

export interface RequestLog {
  onStdout(chunk: Buffer): void;
  /** Position to pass to since() and eventsSince(): the number of records read so far. */
  mark(): number;
  /** Requests logged after `mark`. */
  since(mark: number): LoggedRequest[];
  /** Other log records (login failures, access denials) logged after `mark`. */
  eventsSince(mark: number): Record<string, unknown>[];
  /** Resolves once every line Berth logged before the call has been read (see the contract above). */
  settle(baseUrl: string, timeoutMs?: number): Promise<void>;
}

const BARRIER_PREFIX = '/e2e-log-barrier/';

export function createRequestLog(): RequestLog {
  let pending = '';
  /** Every record in log order: a request line, or any other record (an event). */
  const records: ({ request: LoggedRequest } | { event: Record<string, unknown> })[] = [];
  const barriersSeen = new Set<string>();

  const take = (line: string): void => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { method, path, status, msg } = record;
    if (msg === 'request' && typeof path === 'string' && path.startsWith(BARRIER_PREFIX)) {
      barriersSeen.add(path);
    } else if (msg === 'request' && typeof method === 'string' && typeof path === 'string') {
      records.push({ request: { method, path, status: Number(status) } });
    } else {
      records.push({ event: record });
    }
  };

  return {
    onStdout(chunk) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) take(line);
    },
    mark: () => records.length,
    since: (mark) => records.slice(mark).flatMap((r) => ('request' in r ? [r.request] : [])),
    eventsSince: (mark) => records.slice(mark).flatMap((r) => ('event' in r ? [r.event] : [])),
    async settle(baseUrl, timeoutMs = 5_000) {
      const path = `${BARRIER_PREFIX}${randomUUID()}`;
      const res = await fetch(`${baseUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      const deadline = Date.now() + timeoutMs;
      while (!barriersSeen.has(path)) {
        if (Date.now() > deadline)
          throw new Error(`Berth's log line for ${path} did not arrive in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      barriersSeen.delete(path);
    },
  };
}

/** One `METHOD path status` per line, for failure messages. */
export function format(requests: readonly LoggedRequest[]): string {
  return requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n');
}

/** `METHOD path status` strings of the requests to `path`, in order (compact to assert with toEqual). */
export function exchangesWith(requests: readonly LoggedRequest[], path: string): string[] {
  return requests.filter((r) => r.path === path).map((r) => `${r.method} ${r.path} ${r.status}`);
}
