// `npm run bench:auth`: what token authentication costs. Berth (auth.mode token) and CNCF Distribution
// 2.8 (auth.token, trusting Berth's signing key) side by side on loopback, each also with auth none as
// the baseline, plus Berth's token endpoint alone. Every round runs every variant on a fresh data
// directory, in alternating order; the report shows medians and Berth/Distribution ratios.
// Knobs (environment) are those of `npm run bench`: see docs/benchmarks-auth.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../support/processes.js';
import { missingToolsReason, type ToolName } from '../../support/tools.js';
import { installSignalHandlers, isInterrupted, runToExit, track } from '../lib/cleanup.js';
import { createContext } from '../lib/context.js';
import type { Metric } from '../lib/metric.js';
import { readOptions, type TargetName } from '../lib/options.js';
import { machineInfo, publishRecord, type BenchRecord } from '../lib/report.js';
import { log, measureRound } from '../lib/rounds.js';
import {
  deriveTokenCost,
  manifestNoAuthMetric,
  manifestTokenMetric,
  tokenEndpointMetric,
} from './metrics.js';

/** One round's steps: auth none and token per target, then Berth's token endpoint. */
function roundSteps(
  metrics: Record<'none' | 'token' | 'endpoint', Metric>,
  targets: readonly TargetName[],
): [Metric, TargetName][] {
  const steps = targets.flatMap((target): [Metric, TargetName][] => [
    [metrics.none, target],
    [metrics.token, target],
  ]);
  if (targets.includes('berth')) steps.push([metrics.endpoint, 'berth']);
  return steps;
}

async function main(): Promise<number> {
  installSignalHandlers();
  // Berth as shipped and Distribution only: the PostgreSQL targets are not part of this benchmark.
  const options = readOptions(['berth', 'distribution']);
  const tools: ToolName[] = ['wrk', 'openssl'];
  if (options.targets.includes('distribution')) tools.push('docker-registry');
  const missing = missingToolsReason(tools);
  if (missing) throw new Error(`cannot run the auth benchmark: ${missing}`);
  const started = performance.now();
  const workDir = await mkdtemp(join(options.dir, 'berth-bench-auth-'));
  const removeWorkDir = track(() => rm(workDir, { recursive: true, force: true }));
  try {
    const metrics = {
      none: manifestNoAuthMetric(options),
      token: manifestTokenMetric(options),
      endpoint: tokenEndpointMetric(options),
    };
    const record: BenchRecord = {
      options,
      machine: await machineInfo(),
      metrics: [metrics.none, metrics.token, metrics.endpoint],
      measurements: [],
    };
    log(
      `auth benchmark: scale=${options.scale} rounds=${options.rounds} targets=${options.targets.join(',')} ` +
        `workDir=${workDir} load=${record.machine.loadBefore}`,
    );
    const ctx = createContext(options, workDir);
    const steps = roundSteps(metrics, options.targets);
    await metrics.token.setup?.(ctx);
    try {
      for (let round = 0; round < options.rounds && !isInterrupted(); round++) {
        // Alternate the order, so no variant always runs first or on a warmer machine.
        for (const [metric, target] of round % 2 === 0 ? steps : [...steps].reverse()) {
          if (isInterrupted()) break;
          record.measurements.push(await measureRound(ctx, metric, target, round));
        }
      }
    } finally {
      await metrics.token.teardown?.();
    }
    deriveTokenCost(record.measurements);
    return await publishRecord(record, started, join(repoRoot, 'docs/benchmarks-auth.md'));
  } finally {
    await removeWorkDir();
  }
}

await runToExit(main);
