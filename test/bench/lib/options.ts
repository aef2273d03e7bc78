// Benchmark knobs, all read from the environment once (see docs/benchmarks.md for the list).
import { tmpdir } from 'node:os';
import { missingToolsReason, type ToolName } from '../../support/tools.js';

export const MiB = 1024 * 1024;

export const metricIds = [
  'upload',
  'chunked',
  'get',
  'manifest',
  'head',
  'pushes',
  'tags',
  'catalog',
  'docker',
  'footprint',
] as const;
export type MetricId = (typeof metricIds)[number];

/**
 * What a round runs against: `berth` (as shipped: SQLite, filesystem storage), `distribution` (CNCF
 * Distribution 2.8), `berth-pg` (Berth with its metadata on PostgreSQL) and `berth-pg-x2` (two such
 * replicas on one database and one storage directory, behind nginx). See lib/context.ts.
 */
export const targetNames = ['berth', 'distribution', 'berth-pg', 'berth-pg-x2'] as const;
export type TargetName = (typeof targetNames)[number];

/** Column headings of the report. */
export const targetLabels: Record<TargetName, string> = {
  berth: 'Berth',
  distribution: 'Distribution',
  'berth-pg': 'Berth PG',
  'berth-pg-x2': 'Berth PG x2',
};

const POSTGRES_TOOLS: ToolName[] = ['postgres', 'initdb', 'pg_ctl'];

/**
 * Why `target` cannot run on this machine (a missing tool and its package), or undefined. A server at
 * PG_TEST_URL stands in for local PostgreSQL binaries (test/support/postgres.ts).
 */
export function targetUnavailable(target: TargetName): string | undefined {
  const postgres = process.env.PG_TEST_URL ? [] : POSTGRES_TOOLS;
  const tools: Record<TargetName, ToolName[]> = {
    berth: [],
    distribution: ['docker-registry'],
    'berth-pg': postgres,
    'berth-pg-x2': [...postgres, 'nginx'],
  };
  return missingToolsReason(tools[target]);
}

export type Scale = 'quick' | 'default' | 'large';

export interface BenchOptions {
  rounds: number;
  only: MetricId[];
  /** The targets to measure: BENCH_TARGETS, or every allowed target whose tools are present. */
  targets: TargetName[];
  /** True when BENCH_TARGETS chose the targets. */
  targetsSelected: boolean;
  /** Targets left out of the default because a tool is missing, with the reason (for the report). */
  skippedTargets: Partial<Record<TargetName, string>>;
  scale: Scale;
  /** Size of the blobs for upload, chunked upload and GET. */
  blobBytes: number;
  chunkBytes: number;
  /** wrk / HEAD load duration in seconds, connections and client threads. */
  loadSeconds: number;
  loadConnections: number;
  loadThreads: number;
  smallPushes: number;
  smallPushConcurrency: number;
  tags: number;
  repositories: number;
  pageSize: number;
  seedConcurrency: number;
  dockerLayers: number;
  dockerLayerMiB: number;
  /** Write the results table into docs/benchmarks.md. */
  write: boolean;
  /** Parent directory of the work directory (random blob, data dirs); must be on the disk under test. */
  dir: string;
  /** Client used for blob GET: curl (default when installed) or node. */
  getClient: 'curl' | 'node';
  /** Extra arguments for `berth serve` (space separated), e.g. to set the log level. */
  berthArgs: string[];
  /** Write raw per-round results as JSON to this file. */
  jsonPath: string | undefined;
  /** Before each round, wait up to this many seconds for the CPUs to be < quietBusy busy (0: never). */
  quietMaxWait: number;
  quietBusy: number;
  /** Run Berth with `node --cpu-prof` writing profiles into this directory. */
  berthCpuProfDir: string | undefined;
}

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function list<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const values = raw
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  for (const value of values) {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`${name}: unknown value "${value}" (allowed: ${allowed.join(', ')})`);
    }
  }
  return values as T[];
}

function flag(name: string): boolean {
  const raw = process.env[name];
  return raw !== undefined && raw !== '' && raw !== '0' && raw.toLowerCase() !== 'false';
}

/**
 * Reads the knobs. `allowedTargets` are the targets this benchmark script knows how to measure (all of
 * them for `npm run bench`); BENCH_TARGETS may name only those.
 */
export function readOptions(allowedTargets: readonly TargetName[] = targetNames): BenchOptions {
  const quick = flag('BENCH_QUICK');
  const largeRaw = process.env.BENCH_SCALE;
  if (largeRaw !== undefined && largeRaw !== '' && largeRaw !== 'large' && largeRaw !== 'default') {
    throw new Error(`BENCH_SCALE must be "large" or "default", got "${largeRaw}"`);
  }
  const large = largeRaw === 'large';
  if (quick && large) throw new Error('BENCH_QUICK=1 and BENCH_SCALE=large exclude each other');
  const scale: Scale = quick ? 'quick' : large ? 'large' : 'default';
  const getClientRaw = process.env.BENCH_GET_CLIENT ?? 'curl';
  if (getClientRaw !== 'curl' && getClientRaw !== 'node') {
    throw new Error(`BENCH_GET_CLIENT must be "curl" or "node", got "${getClientRaw}"`);
  }
  const targetsSelected = (process.env.BENCH_TARGETS ?? '').trim() !== '';
  const skippedTargets: Partial<Record<TargetName, string>> = {};
  if (!targetsSelected) {
    for (const target of allowedTargets) {
      const reason = targetUnavailable(target);
      if (reason) skippedTargets[target] = reason;
    }
  }
  return {
    rounds: int('BENCH_ROUNDS', 3),
    only: list('BENCH_ONLY', metricIds, metricIds),
    targets: list(
      'BENCH_TARGETS',
      allowedTargets,
      allowedTargets.filter((target) => skippedTargets[target] === undefined),
    ),
    targetsSelected,
    skippedTargets,
    scale,
    blobBytes: int('BENCH_BLOB_MIB', quick ? 64 : 1024) * MiB,
    chunkBytes: int('BENCH_CHUNK_MIB', 16) * MiB,
    loadSeconds: int('BENCH_LOAD_SECONDS', quick ? 3 : 10),
    loadConnections: int('BENCH_LOAD_CONNECTIONS', 64),
    loadThreads: int('BENCH_LOAD_THREADS', 2),
    smallPushes: int('BENCH_SMALL_PUSHES', quick ? 50 : 200),
    smallPushConcurrency: int('BENCH_SMALL_PUSH_CONCURRENCY', 16),
    tags: int('BENCH_TAGS', quick ? 1_000 : large ? 100_000 : 10_000),
    repositories: int('BENCH_REPOS', quick ? 200 : large ? 20_000 : 2_000),
    pageSize: int('BENCH_PAGE_SIZE', 100),
    seedConcurrency: int('BENCH_SEED_CONCURRENCY', 32),
    dockerLayers: int('BENCH_DOCKER_LAYERS', quick ? 2 : 5),
    dockerLayerMiB: int('BENCH_DOCKER_LAYER_MIB', quick ? 5 : 20),
    write: flag('BENCH_WRITE'),
    dir: process.env.BENCH_DIR ?? tmpdir(),
    getClient: getClientRaw,
    berthArgs: (process.env.BENCH_BERTH_ARGS ?? '').split(' ').filter((a) => a !== ''),
    jsonPath: process.env.BENCH_JSON,
    berthCpuProfDir: process.env.BENCH_BERTH_CPU_PROF,
    quietMaxWait: process.env.BENCH_QUIET_WAIT === '0' ? 0 : int('BENCH_QUIET_WAIT', 20),
    quietBusy: int('BENCH_QUIET_BUSY_PERCENT', 25) / 100,
  };
}
