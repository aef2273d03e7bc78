// `npm run bench`: Berth against CNCF Distribution 2.8 on loopback, metric by metric, in alternating
// rounds on fresh data directories; prints medians and Berth/Distribution ratios against the issue's
// targets. Knobs (environment): see docs/benchmarks.md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../support/processes.js';
import { missingToolsReason, type ToolName } from '../support/tools.js';
import { chunkedMetric, getMetric, uploadMetric } from './metrics/blobs.js';
import { dockerMetric } from './metrics/docker.js';
import { catalogMetric, tagsMetric } from './metrics/listing.js';
import { pushesMetric } from './metrics/pushes.js';
import { headMetric, manifestMetric } from './metrics/requests.js';
import { cleanupAll, installSignalHandlers, isInterrupted, track } from './lib/cleanup.js';
import { createContext } from './lib/context.js';
import { waitForQuiet } from './lib/quiet.js';
import type { Metric } from './lib/metric.js';
import { readOptions, type BenchOptions, type MetricId, type TargetName } from './lib/options.js';
import {
  formatLoad,
  machineInfo,
  renderReport,
  writeDoc,
  type BenchRecord,
  type Measurement,
} from './lib/report.js';

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

const toolsNeeded: Partial<Record<MetricId, ToolName[]>> = {
  manifest: ['wrk'],
  docker: ['docker', 'dockerd', 'busybox'],
};

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function summarize(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v >= 100 ? v.toFixed(0) : v.toPrecision(3)}`)
    .join(' ');
}

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
        const measurement: Measurement = { metric: metric.id, target, round };
        record.measurements.push(measurement);
        if (options.quietMaxWait > 0) {
          measurement.busyBefore = await waitForQuiet(options.quietBusy, options.quietMaxWait, log);
        }
        const started = performance.now();
        try {
          const server = await ctx.startTarget(target, metric.id);
          try {
            measurement.values = await metric.round(ctx, server, target);
          } catch (err) {
            const tail = server.output().trim().split('\n').slice(-5).join('\n');
            throw new Error(`${(err as Error).message}${tail ? `\n  server output tail:\n${tail}` : ''}`);
          } finally {
            await server.stop();
          }
          const took = ((performance.now() - started) / 1000).toFixed(1);
          const busy =
            measurement.busyBefore === undefined
              ? ''
              : `, CPU busy before ${(measurement.busyBefore * 100).toFixed(0)}%`;
          log(
            `  ${metric.id} round ${round + 1} ${target}: ${summarize(measurement.values)} (${took} s${busy})`,
          );
        } catch (err) {
          measurement.error = (err as Error).message;
          log(`  ${metric.id} round ${round + 1} ${target}: ERROR ${measurement.error}`);
        }
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
    record.machine.loadAfter = formatLoad();
    record.seconds = (performance.now() - started) / 1000;
    const report = renderReport(record);
    console.log(`\n${report}\n`);
    if (options.jsonPath) {
      await writeFile(options.jsonPath, `${JSON.stringify({ ...record, metrics: undefined }, null, 2)}\n`);
      log(`raw results written to ${options.jsonPath}`);
    }
    if (options.write) {
      const doc = join(repoRoot, 'docs/benchmarks.md');
      await writeDoc(doc, record);
      log(`results written to ${doc}`);
    }
    return record.measurements.some((m) => m.error !== undefined) ? 1 : 0;
  } finally {
    await removeWorkDir();
  }
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
} finally {
  await cleanupAll();
}
process.exit(exitCode);
