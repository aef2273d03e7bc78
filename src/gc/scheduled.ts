// Scheduled garbage collection in the server (gc.enabled): one run per gc.interval, in one replica at
// a time (the exclusive job `gc`; each run also holds the `gc-run` lease, as `berth gc` does, so the
// two never overlap). Each run logs one summary line. stop() cancels a run in progress (it stops
// between two steps; every step is complete on its own) and resolves once it has ended.
import { startExclusiveJob } from '../registry/exclusive-job.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import { GcBusyError, type Collector, type GcRunOptions } from './collector.js';
import { summarize, type GcReport } from './report.js';

export interface ScheduledGcDeps {
  collector: Collector;
  metadata: Pick<MetadataStore, 'leaseJob'>;
  intervalMs: number;
  options: GcRunOptions;
  /** This process, unique among the replicas. */
  holder: string;
  clock: () => number;
  log: Logger;
  /** Sees every report (metrics). */
  onReport?: (report: GcReport) => void;
}

export interface ScheduledGc {
  /** One tick now (tests): runs when this process holds the job; resolves when the run is over. */
  tick(): Promise<boolean>;
  stop(): Promise<void>;
}

export function startScheduledGc(deps: ScheduledGcDeps): ScheduledGc {
  const { collector, log } = deps;
  const cancel = new AbortController();
  let running: Promise<void> | undefined;

  async function runOnce(): Promise<void> {
    try {
      const report = await collector.run({ ...deps.options, signal: cancel.signal });
      log.info({ gc: report }, `garbage collection ${summarize(report)}`);
      deps.onReport?.(report);
    } catch (err) {
      if (err instanceof GcBusyError) {
        log.info({}, 'garbage collection skipped: another process is running it');
        return;
      }
      if (cancel.signal.aborted) return;
      throw err;
    }
  }

  const job = startExclusiveJob({
    name: 'gc',
    intervalMs: deps.intervalMs,
    metadata: deps.metadata,
    holder: deps.holder,
    clock: deps.clock,
    log,
    work: async () => {
      running = runOnce();
      try {
        await running;
      } finally {
        running = undefined;
      }
    },
  });

  return {
    tick: job.tick,
    async stop() {
      cancel.abort(); // the run in progress ends early; job.stop() waits for it, then gives the lease up
      await job.stop();
      await running?.catch(() => undefined);
    },
  };
}
