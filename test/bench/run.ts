// `npm run bench`: Berth against CNCF Distribution 2.8 on loopback, metric by metric, in alternating
// rounds on fresh data directories; prints medians and Berth/Distribution ratios against the issue's
// targets. Besides Berth as shipped (SQLite), Berth on PostgreSQL, alone and as two replicas behind
// nginx (lib/postgres-targets.ts), for the metrics that run against them. Knobs (environment): see
// docs/benchmarks.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../support/processes.js';
import { missingToolsReason, run, which, type ToolName } from '../support/tools.js';
import { chunkedMetric, getMetric, uploadMetric } from './metrics/blobs.js';
import { dockerMetric } from './metrics/docker.js';
import { footprintMetric } from './metrics/footprint.js';
import { catalogMetric, tagsMetric } from './metrics/listing.js';
import { pushesMetric } from './metrics/pushes.js';
import { headMetric, manifestMetric } from './metrics/requests.js';
import { installSignalHandlers, isInterrupted, runToExit, track } from './lib/cleanup.js';
import { createContext } from './lib/context.js';
import { log, measureRound } from './lib/rounds.js';
import { metricTargets, type Metric } from './lib/metric.js';
import {
  readOptions,
  targetUnavailable,
  type BenchOptions,
  type MetricId,
  type TargetName,
} from './lib/options.js';
import { machineInfo, publishRecord, type BenchRecord } from './lib/report.js';

const metricFactories: Record<MetricId, (options: BenchOptions) => Metric> = {
  upload: uploadMetric,
  chunked: chunkedMetric,
  get: getMetric,
  manifest: manifestMetric,
  head: headMetric,
  pushes: pushesMetric,
  tags: tagsMetric,
  catalog: catalogMetric,
  docker: dockerMetric,
  footprint: footprintMetric,
};

const toolsNeeded: Partial<Record<string, ToolName[]>> = {
  manifest: ['wrk'],
  docker: ['docker', 'dockerd', 'busybox'],
};

async function runMetric(
  metric: Metric,
  ctx: ReturnType<typeof createContext>,
  options: BenchOptions,
  record: BenchRecord,
  unavailable: ReadonlyMap<TargetName, string>,
): Promise<void> {
  const selected = options.targets.filter((target) => metricTargets(metric).includes(target));
  const missing = missingToolsReason(toolsNeeded[metric.id] ?? []);
  if (missing) {
    for (const target of selected) {
      record.measurements.push({ metric: metric.id, target, round: 0, error: `not measured: ${missing}` });
    }
    log(`${metric.id}: skipped, ${missing}`);
    return;
  }
  const targets: TargetName[] = [];
  for (const target of selected) {
    const reason = unavailable.get(target);
    if (reason === undefined) targets.push(target);
    else record.measurements.push({ metric: metric.id, target, round: 0, error: `not measured: ${reason}` });
  }
  if (targets.length === 0) return;
  log(`${metric.title}: ${options.rounds} round(s), ${targets.join(', ')}`);
  try {
    await metric.setup?.(ctx);
  } catch (err) {
    for (const target of targets) {
      record.measurements.push({
        metric: metric.id,
        target,
        round: 0,
        error: `setup: ${(err as Error).message}`,
      });
    }
    log(`${metric.id}: setup failed: ${(err as Error).message}`);
    await metric.teardown?.();
    return;
  }
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which registry goes first, so neither always runs on a warmer machine.
      const order: TargetName[] = round % 2 === 0 ? [...targets] : [...targets].reverse();
      for (const target of order) {
        if (isInterrupted()) return;
        record.measurements.push(await measureRound(ctx, metric, target, round));
      }
    }
  } finally {
    await metric.teardown?.();
  }
}

/**
 * Starts the PostgreSQL cluster before the first measured round, when a selected metric will run a
 * PostgreSQL target, and notes the versions of PostgreSQL and nginx in the record. A cluster that does
 * not start is logged here and fails each of those rounds.
 */
async function prepareTargets(
  ctx: ReturnType<typeof createContext>,
  record: BenchRecord,
  unavailable: ReadonlyMap<TargetName, string>,
): Promise<void> {
  const used = new Set(
    record.metrics.flatMap((metric) =>
      metricTargets(metric).filter(
        (target) => record.options.targets.includes(target) && !unavailable.has(target),
      ),
    ),
  );
  if (used.has('berth-pg') || used.has('berth-pg-x2')) {
    log('starting PostgreSQL for the PostgreSQL targets');
    try {
      const cluster = await ctx.postgres();
      const whose = cluster.server.started ? 'a private cluster' : 'the server at PG_TEST_URL';
      record.machine.postgres = `${cluster.version} (${whose}: ${cluster.setup})`;
      log(`PostgreSQL ${record.machine.postgres}`);
      if (cluster.postmasterPid === undefined) {
        log("PostgreSQL's processes are not on this machine: its CPU time is not counted");
      }
    } catch (err) {
      log((err as Error).message);
    }
  }
  if (used.has('berth-pg-x2')) {
    const version = await run(which('nginx') ?? 'nginx', ['-v'], { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    record.machine.nginx = /nginx\/(\S+)/.exec(version?.stderr ?? '')?.[1] ?? 'unknown';
  }
}

async function main(): Promise<number> {
  installSignalHandlers();
  const options = readOptions();
  const started = performance.now();
  const workDir = await mkdtemp(join(options.dir, 'berth-bench-'));
  // Retries: the snapshot of Berth's build (lib/context.ts) may still be copying into it.
  const removeWorkDir = track(() => rm(workDir, { recursive: true, force: true, maxRetries: 20 }));
  try {
    const record: BenchRecord = {
      options,
      machine: await machineInfo(),
      metrics: options.only.map((id) => metricFactories[id](options)),
      measurements: [],
    };
    log(
      `scale=${options.scale} rounds=${options.rounds} targets=${options.targets.join(',')} ` +
        `metrics=${options.only.join(',')} workDir=${workDir} load=${record.machine.loadBefore}`,
    );
    for (const [target, reason] of Object.entries(options.skippedTargets)) {
      log(`${target}: not measured, ${reason}`);
    }
    const ctx = createContext(options, workDir);
    // Targets named in BENCH_TARGETS whose tools are missing (the default leaves them out).
    const unavailable = new Map<TargetName, string>();
    for (const target of options.targets) {
      const reason = targetUnavailable(target);
      if (reason !== undefined) unavailable.set(target, reason);
    }
    await prepareTargets(ctx, record, unavailable);
    for (const metric of record.metrics) {
      if (isInterrupted()) break;
      await runMetric(metric, ctx, options, record, unavailable);
    }
    return await publishRecord(record, started, join(repoRoot, 'docs/benchmarks.md'));
  } finally {
    await removeWorkDir();
  }
}

await runToExit(main);
