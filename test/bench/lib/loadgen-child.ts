// One load-generator process (see loadgen.ts): keep-alive HTTP/1.1 connections over raw sockets, one
// request in flight per connection, for a fixed duration. It exists because wrk 4.1 cannot do HEAD (it
// waits for a body that a HEAD response never has). Responses must carry Content-Length (or be HEAD).
// Prints one JSON line: { requests, errors, statuses, elapsedMs, histogram: [[bucket, count], …] },
// where a bucket is 10 µs of latency.
import { connect, type Socket } from 'node:net';

export interface LoadChildSpec {
  host: string;
  port: number;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface LoadChildResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  elapsedMs: number;
  histogram: [number, number][];
}

const HEADER_END = Buffer.from('\r\n\r\n');
const BUCKET_US = 10;

function run(spec: LoadChildSpec): Promise<LoadChildResult> {
  const head = [
    `${spec.method} ${spec.path} HTTP/1.1`,
    `Host: ${spec.host}:${spec.port}`,
    ...Object.entries(spec.headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  const requestBytes = Buffer.from(head);
  const histogram = new Map<number, number>();
  const statuses: Record<string, number> = {};
  let requests = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + spec.seconds * 1000;
  let open = 0;

  return new Promise((resolve) => {
    const finish = (): void => {
      if (--open > 0) return;
      resolve({
        requests,
        errors,
        statuses,
        elapsedMs: performance.now() - start,
        histogram: [...histogram.entries()],
      });
    };

    const openConnection = (): void => {
      open++;
      let buffer: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      let closed = false;
      const socket: Socket = connect({ host: spec.host, port: spec.port, noDelay: true });
      const send = (): void => {
        sentAt = performance.now();
        socket.write(requestBytes);
      };
      const close = (failed: boolean): void => {
        if (closed) return;
        closed = true;
        if (failed) errors++;
        socket.destroy();
        // A failed connection is replaced while there is time left, as wrk does.
        if (failed && performance.now() < deadline) openConnection();
        finish();
      };
      socket.on('connect', send);
      socket.on('error', () => close(true));
      socket.on('close', () => close(performance.now() < deadline));
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        for (;;) {
          const end = buffer.indexOf(HEADER_END);
          if (end < 0) return;
          let bodyLength = 0;
          if (spec.method !== 'HEAD') {
            const headerText = buffer.subarray(0, end).toString('latin1');
            const match = /\r\ncontent-length:\s*(\d+)/i.exec(headerText);
            if (!match?.[1]) {
              close(true);
              return;
            }
            bodyLength = Number(match[1]);
          }
          const total = end + 4 + bodyLength;
          if (buffer.length < total) return;
          const status = buffer.subarray(9, 12).toString('latin1');
          buffer = buffer.subarray(total);
          const now = performance.now();
          const bucket = Math.floor(((now - sentAt) * 1000) / BUCKET_US);
          histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
          statuses[status] = (statuses[status] ?? 0) + 1;
          requests++;
          if (now >= deadline) {
            close(false);
            return;
          }
          send();
        }
      });
    };

    for (let i = 0; i < spec.connections; i++) openConnection();
  });
}

const arg = process.argv[2];
if (arg === undefined) {
  console.error('usage: loadgen-child.ts <json spec>');
  process.exit(2);
}
const result = await run(JSON.parse(arg) as LoadChildSpec);
process.stdout.write(`${JSON.stringify(result)}\n`);
