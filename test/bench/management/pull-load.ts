// Manifest GET load over many repositories: wrk (as lib/loadgen.ts runs it) with a Lua script that
// sends each connection's requests to the next of `paths` in turn, so that the pull tracker counts
// many distinct (repository, manifest, tag) keys per batch, as a busy registry's would.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../support/tools.js';
import type { LoadResult } from '../lib/loadgen.js';

export interface PathsLoadSpec {
  /** Base URL of the server. */
  base: string;
  paths: string[];
  headers: Record<string, string>;
  connections: number;
  threads: number;
  seconds: number;
}

const DONE_MARKER = 'BENCH_WRK_JSON ';

const lua = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export async function runWrkOverPaths(spec: PathsLoadSpec): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-wrk-paths-'));
  try {
    const script = join(dir, 'paths.lua');
    const lines = [
      'wrk.method = "GET"',
      ...Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`),
      `paths = { ${spec.paths.map(lua).join(', ')} }`,
      'local i = math.random(#paths)',
      'request = function()',
      '  i = i % #paths + 1',
      '  return wrk.format(nil, paths[i])',
      'end',
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      `  io.write(string.format("${DONE_MARKER}{\\"requests\\":%d,\\"duration_us\\":%d,\\"status\\":%d,` +
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
      spec.base,
    ];
    const result = await run('wrk', args, { timeoutMs: (spec.seconds + 60) * 1000 });
    const line = result.stdout.split('\n').find((l) => l.startsWith(DONE_MARKER));
    if (result.code !== 0 || !line) {
      throw new Error(`wrk ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
    }
    const stats = JSON.parse(line.slice(DONE_MARKER.length)) as {
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
