// HTTP load for request-rate metrics: wrk where it works (GET), and our own load generator
// (loadgen-child.ts, in `threads` processes) for HEAD, which wrk 4.1 cannot measure.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { run } from '../../support/tools.js';
import type { LoadChildResult, LoadChildSpec } from './loadgen-child.js';

export interface LoadResult {
  tool: 'wrk' | 'loadgen';
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses with a status outside 2xx/3xx, and socket errors/timeouts. */
  badStatuses: number;
  socketErrors: number;
}

export interface LoadSpec {
  url: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  connections: number;
  threads: number;
  seconds: number;
}

const WRK_DONE_MARKER = 'BENCH_WRK_JSON ';

function luaString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `wrk -tT -cC -dDs --latency` with a Lua script that sets method and headers and reports exact stats. */
export async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-wrk-'));
  try {
    const script = join(dir, 'bench.lua');
    const lines = [
      `wrk.method = ${luaString(spec.method)}`,
      ...Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      `  io.write(string.format("${WRK_DONE_MARKER}{\\"requests\\":%d,\\"duration_us\\":%d,\\"status\\":%d,` +
        `\\"socket\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d}\\n", summary.requests, summary.duration, e.status,` +
        ' e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))',
      'end',
    ];
    await writeFile(script, `${lines.join('\n')}\n`);
    const args = [
      `-t${spec.threads}`,
      `-c${spec.connections}`,
      `-d${spec.seconds}s`,
      '--latency',
      '--timeout',
      '10s',
      '-s',
      script,
      spec.url,
    ];
    const result = await run('wrk', args, { timeoutMs: (spec.seconds + 60) * 1000 });
    const line = result.stdout.split('\n').find((l) => l.startsWith(WRK_DONE_MARKER));
    if (result.code !== 0 || !line) {
      throw new Error(`wrk ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
    }
    const stats = JSON.parse(line.slice(WRK_DONE_MARKER.length)) as {
      requests: number;
      duration_us: number;
      status: number;
      socket: number;
      p50_us: number;
      p99_us: number;
    };
    return {
      tool: 'wrk',
      requests: stats.requests,
      requestsPerSecond: stats.requests / (stats.duration_us / 1e6),
      p50Ms: stats.p50_us / 1000,
      p99Ms: stats.p99_us / 1000,
      badStatuses: stats.status,
      socketErrors: stats.socket,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const childScript = fileURLToPath(new URL('./loadgen-child.ts', import.meta.url));

/** Our own load generator: `threads` processes sharing `connections`, for HEAD (or GET, to calibrate). */
export async function runLoadgen(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url);
  const perChild = Array.from(
    { length: spec.threads },
    (_, i) => Math.floor(spec.connections / spec.threads) + (i < spec.connections % spec.threads ? 1 : 0),
  ).filter((n) => n > 0);
  const results = await Promise.all(
    perChild.map(async (connections) => {
      const childSpec: LoadChildSpec = {
        host: url.hostname,
        port: Number(url.port),
        method: spec.method,
        path: `${url.pathname}${url.search}`,
        headers: spec.headers,
        connections,
        seconds: spec.seconds,
      };
      const args = ['--import', 'tsx', childScript, JSON.stringify(childSpec)];
      const res = await run(process.execPath, args, { timeoutMs: (spec.seconds + 60) * 1000 });
      if (res.code !== 0) throw new Error(`load generator exited ${res.code}: ${res.stderr.slice(-2000)}`);
      return JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as LoadChildResult;
    }),
  );
  const histogram = new Map<number, number>();
  let requests = 0;
  let socketErrors = 0;
  let badStatuses = 0;
  let requestsPerSecond = 0;
  for (const r of results) {
    requests += r.requests;
    socketErrors += r.errors;
    requestsPerSecond += r.requests / (r.elapsedMs / 1000);
    for (const [status, count] of Object.entries(r.statuses)) {
      if (!/^[23]/.test(status)) badStatuses += count;
    }
    for (const [bucket, count] of r.histogram) histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
  }
  return {
    tool: 'loadgen',
    requests,
    requestsPerSecond,
    p50Ms: percentile(histogram, requests, 0.5),
    p99Ms: percentile(histogram, requests, 0.99),
    badStatuses,
    socketErrors,
  };
}

/** Percentile from a histogram of 10 µs buckets, in milliseconds (upper edge of the bucket). */
function percentile(histogram: Map<number, number>, total: number, q: number): number {
  const rank = Math.ceil(total * q);
  let seen = 0;
  for (const bucket of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bucket) ?? 0;
    if (seen >= rank) return ((bucket + 1) * 10) / 1000;
  }
  return Number.NaN;
}
