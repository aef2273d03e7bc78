// Request-rate metrics under 64 keep-alive connections: manifest GET by tag (wrk) and blob HEAD (our
// load generator, since wrk 4.1 cannot do HEAD).
import type { BenchServer } from '../lib/context.js';
import { makeSmallImage, MANIFEST_ACCEPT, pushSmallImage, RegistryClient } from '../lib/http.js';
import { runLoadgen, runWrk, type LoadResult, type LoadSpec } from '../lib/loadgen.js';
import type { Metric } from '../lib/metric.js';
import type { BenchOptions, TargetName } from '../lib/options.js';

export const WARMUP_SECONDS = 2;

/**
 * Load result plus the server's CPU time per request (µs, all threads; see BenchServer.cpuSeconds)
 * during the measured run, which follows a warm-up run of `warmupSeconds` (0: none).
 */
export async function measure(
  options: BenchOptions,
  server: BenchServer,
  spec: Omit<LoadSpec, 'connections' | 'threads' | 'seconds'>,
  tool: (spec: LoadSpec) => Promise<LoadResult>,
  warmupSeconds = WARMUP_SECONDS,
): Promise<LoadResult & { cpuMicros: number }> {
  const full = {
    ...spec,
    connections: options.loadConnections,
    threads: options.loadThreads,
    seconds: options.loadSeconds,
  };
  if (warmupSeconds > 0) await tool({ ...full, seconds: warmupSeconds });
  const cpuBefore = server.cpuSeconds();
  const result = await tool(full);
  const cpuMicros = ((server.cpuSeconds() - cpuBefore) * 1e6) / result.requests;
  if (result.badStatuses > 0 || result.requests === 0) {
    throw new Error(
      `${spec.method} ${spec.url}: ${result.badStatuses} non-2xx/3xx answers out of ${result.requests} ` +
        `(reproduce: curl -si ${spec.method === 'HEAD' ? '-I ' : ''}${spec.url})`,
    );
  }
  return { ...result, cpuMicros };
}

/** The targets of the request-rate metrics: Berth on PostgreSQL too, as one process. */
const TARGETS: readonly TargetName[] = ['berth', 'distribution', 'berth-pg'];

/** The repository the request-rate metrics read from. */
export const REQUESTS_REPO = 'bench/requests';

/** Pushes one small image as REQUESTS_REPO:latest, sending `headers` (e.g. Authorization) with each request. */
async function seed(
  server: BenchServer,
  headers: Record<string, string> = {},
): Promise<{ repo: string; layerDigest: string }> {
  const client = new RegistryClient(server.url, 2, headers);
  try {
    const image = makeSmallImage('requests');
    await pushSmallImage(client, REQUESTS_REPO, 'latest', image);
    return { repo: REQUESTS_REPO, layerDigest: image.layerDigest };
  } finally {
    client.close();
  }
}

/** Seeds REQUESTS_REPO:latest, then loads GET of that manifest by tag with wrk, adding `headers`. */
export async function measureManifestGet(
  options: BenchOptions,
  server: BenchServer,
  headers: Record<string, string> = {},
): Promise<LoadResult & { cpuMicros: number }> {
  const { repo } = await seed(server, headers);
  return measure(
    options,
    server,
    {
      url: `${server.url}/v2/${repo}/manifests/latest`,
      method: 'GET',
      headers: { Accept: MANIFEST_ACCEPT, ...headers },
    },
    runWrk,
  );
}

export function manifestMetric(options: BenchOptions): Metric {
  const load = `${options.loadConnections} connections, ${options.loadSeconds} s, wrk -t${options.loadThreads}`;
  return {
    id: 'manifest',
    title: 'Manifest GET by tag',
    targets: TARGETS,
    rows: [
      {
        key: 'manifest.rps',
        label: `Manifest GET by tag (${load})`,
        unit: 'req/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 5 },
        goals: { 'berth-pg': [{ kind: 'ratio-at-least', value: 3 }] },
      },
      { key: 'manifest.p99', label: 'Manifest GET p99 latency', unit: 'ms', better: 'lower' },
      { key: 'manifest.cpu', label: 'Server CPU time per manifest GET', unit: 'µs', better: 'lower' },
    ],
    async round(_ctx, server) {
      const result = await measureManifestGet(options, server);
      return {
        'manifest.rps': result.requestsPerSecond,
        'manifest.p99': result.p99Ms,
        'manifest.cpu': result.cpuMicros,
      };
    },
  };
}

export function headMetric(options: BenchOptions): Metric {
  const load = `${options.loadConnections} connections, ${options.loadSeconds} s, ${options.loadThreads} client processes`;
  return {
    id: 'head',
    title: 'Blob HEAD',
    targets: TARGETS,
    rows: [
      {
        key: 'head.rps',
        label: `Blob HEAD (${load})`,
        unit: 'req/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 5 },
        goals: { 'berth-pg': [{ kind: 'ratio-at-least', value: 3 }] },
      },
      { key: 'head.p99', label: 'Blob HEAD p99 latency', unit: 'ms', better: 'lower' },
      { key: 'head.cpu', label: 'Server CPU time per blob HEAD', unit: 'µs', better: 'lower' },
    ],
    async round(_ctx, server) {
      const { repo, layerDigest } = await seed(server);
      const result = await measure(
        options,
        server,
        { url: `${server.url}/v2/${repo}/blobs/${layerDigest}`, method: 'HEAD', headers: {} },
        runLoadgen,
      );
      return { 'head.rps': result.requestsPerSecond, 'head.p99': result.p99Ms, 'head.cpu': result.cpuMicros };
    },
  };
}
