// The run history of garbage collection, kept in one place whatever starts a run: the server's
// schedule (scheduled.ts runs recorded('scheduled')), `berth gc` (recorded('cli')) and
// POST /api/v1/gc/runs (start('api'), which answers once the run is recorded and lets it go on).
// - A run is recorded (GcStore.startGcRun, status running) once it holds the `gc-run` lease, before it
//   changes anything: an attempt refused with GcBusyError is no run and leaves no record.
// - When it ends, its outcome is recorded: the counters of its report, or the message of what it threw
//   (a cancelled run, an interrupted `berth gc`, a lost lease: failed too).
// - A process that dies mid-run leaves its record running; the next run, which only the lease holder
//   can start, closes it as failed ("did not finish") with no finish time: nothing is made up.
// Failing to record is logged and never fails the run itself.
import type { Logger } from '../registry/deps.js';
import type { Collector, GcRunOptions } from './collector.js';
import {
  GC_RUNS_KEPT,
  type GcRun,
  type GcRunCounts,
  type GcRunOutcome,
  type GcStore,
  type GcTrigger,
} from './gc-store.js';
import { summarize, type GcReport } from './report.js';

export interface GcRunsDeps {
  store: Pick<GcStore, 'startGcRun' | 'finishGcRun'>;
  collector: Collector;
  /** The host of this process (os.hostname()), recorded with each run. */
  host: string;
  clock: () => number;
  log: Logger;
  /** Sees the report of each run that start() began (metrics), as scheduled.ts's onReport does its own. */
  onReport?: (report: GcReport) => void;
}

export interface GcRuns {
  /** The collector, every run of which is recorded as started by `trigger`. */
  recorded(trigger: GcTrigger): Collector;
  /**
   * Starts a run that goes on in the background. Resolves with its record (running) once it holds
   * the lease; rejects with GcBusyError while another run holds it, or with what kept it from being
   * recorded. Its outcome is recorded and logged when it ends.
   */
  start(trigger: GcTrigger, options: GcRunOptions): Promise<GcRun>;
  /** Cancels the runs that start() began; resolves once their outcomes are recorded. */
  stop(): Promise<void>;
}

function countsOf(report: GcReport): GcRunCounts {
  const {
    dryRun: _dryRun,
    delayMs: _delayMs,
    startedAt: _startedAt,
    durationMs: _duration,
    ...counts
  } = report;
  return counts;
}

/** Aborted when `a` or `b` is (AbortSignal.any needs Node 20.3; Berth runs on any Node 20). */
function eitherAborted(a: AbortSignal, b: AbortSignal): AbortSignal {
  const either = new AbortController();
  for (const signal of [a, b]) {
    if (signal.aborted) either.abort(signal.reason);
    else signal.addEventListener('abort', () => either.abort(signal.reason), { once: true });
  }
  return either.signal;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createGcRuns(deps: GcRunsDeps): GcRuns {
  const { store, collector, clock, log } = deps;
  const cancel = new AbortController();
  const background = new Set<Promise<void>>();

  async function finish(run: GcRun, outcome: GcRunOutcome): Promise<void> {
    try {
      await store.finishGcRun(run.id, outcome);
    } catch (err) {
      log.warn({ err, run: run.id }, 'could not record the outcome of a garbage collection run');
    }
  }

  async function runRecorded(
    trigger: GcTrigger,
    options: GcRunOptions,
    onRecorded?: (run: GcRun) => void,
  ): Promise<GcReport> {
    let run: GcRun | undefined;
    try {
      const report = await collector.run({
        ...options,
        onStart: async () => {
          await options.onStart?.();
          run = await store.startGcRun(
            {
              trigger,
              dryRun: options.dryRun ?? false,
              delayMs: options.delayMs,
              host: deps.host,
              startedAt: clock(),
            },
            GC_RUNS_KEPT,
          );
          onRecorded?.(run);
        },
      });
      if (run) await finish(run, { status: 'succeeded', finishedAt: clock(), counts: countsOf(report) });
      return report;
    } catch (err) {
      if (run) await finish(run, { status: 'failed', finishedAt: clock(), error: messageOf(err) });
      throw err;
    }
  }

  return {
    recorded: (trigger) => ({ run: (options) => runRecorded(trigger, options) }),

    start(trigger, options) {
      return new Promise<GcRun>((resolve, reject) => {
        let recorded = false;
        const signal = options.signal ? eitherAborted(options.signal, cancel.signal) : cancel.signal;
        const onRecorded = (run: GcRun) => {
          recorded = true;
          resolve(run);
        };
        const running = runRecorded(trigger, { ...options, signal }, onRecorded).then(
          (report) => {
            log.info({ gc: report, trigger }, `garbage collection ${summarize(report)}`);
            deps.onReport?.(report);
          },
          (err: unknown) => {
            if (!recorded) reject(err);
            else if (!cancel.signal.aborted) log.error({ err, trigger }, 'garbage collection failed');
          },
        );
        background.add(running);
        void running.finally(() => background.delete(running));
      });
    },

    async stop() {
      cancel.abort(new Error('the server stopped'));
      await Promise.all(background);
    },
  };
}
