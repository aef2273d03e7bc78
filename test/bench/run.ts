// `npm run bench`: Berth against CNCF Distribution 2.8 on loopback, metric by metric, in alternating
// rounds on fresh data directories; prints medians and Berth/Distribution ratios against the issue's
// targets. Knobs (environment): see docs/benchmarks.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../support/processes.js';
import { missingToolsReason, type ToolName } from '../support/tools.js';
import { chunkedMetric, getMetric, uploadMetric } from './metrics/blobs.js';
import { dockerMetric } from './metrics/docker.js';
import { catalogMetric, tagsMetric } from './metrics/listing.js';
import { pushesMetric } from './metrics/pushes.js';
import { headMetric, manifestMetric } from './metrics/requests.js';
import { installSignalHandlers, isInterrupted, runToExit, track } from './lib/cleanup.js';
import { createContext } from './lib/context.js';
import { log, measureRound } from './lib/rounds.js';
import type { Metric } from './lib/metric.js';
import { readOptions, type BenchOptions, type MetricId, type TargetName } from './lib/options.js';
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
): Promise<void> {
  const missing = missingToolsReason(toolsNeeded[metric.id] ?? []);
  if (missing) {
    for (const target of options.targets) {
      record.measurements.push({ metric: metric.id, target, round: 0, error: `not measured: ${missing}` });
    }
    log(`${metric.id}: skipped, ${missing}`);
    return;
  }
  log(`${metric.title}: ${options.rounds} round(s)`);
  try {
    await metric.setup?.(ctx);
  } catch (err) {
    for (const target of options.targets) {
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
      const order: TargetName[] = round % 2 === 0 ? [...options.targets] : [...options.targets].reverse();
      for (const target of order) {
        if (isInterrupted()) return;
        record.measurements.push(await measureRound(ctx, metric, target, round));
      }
    }
  } finally {
    await metric.teardown?.();
  }
}

async function main(): Promise<number> {
  installSignalHandlers();
  const options = readOptions();
  const started = performance.now();
  const workDir = await mkdtemp(join(options.dir, 'berth-bench-'));
  const removeWorkDir = track(() => rm(workDir, { recursive: true, force: true }));
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
    const ctx = createContext(options, workDir);
    for (const metric of record.metrics) {
      if (isInterrupted()) break;
      await runMetric(metric, ctx, options, record);
    }
    return await publishRecord(record, started, join(repoRoot, 'docs/benchmarks.md'));
  } finally {
    await removeWorkDir();
  }
}

await runToExit(main);
