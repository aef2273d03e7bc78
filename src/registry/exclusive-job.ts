// Background work that one process at a time must do (the upload purge; garbage collection later),
// whatever the number of replicas sharing the metadata store. Every process ticks every `intervalMs`;
// a tick runs the work only in the holder of the job's lease (MetadataStore.leaseJob). The lease
// outlasts two ticks, so its holder keeps it from one run to the next, and when the holder dies
// another replica takes over within two intervals. A holder that stops gives the lease up (as the
// webhook delivery worker does: a renewal that ends now), so a replica restarted by a rolling update
// does not leave the job undone for two intervals.
import type { Logger } from './deps.js';
import type { MetadataStore } from './metadata-store.js';

export interface ExclusiveJobOptions {
  name: string;
  intervalMs: number;
  metadata: Pick<MetadataStore, 'leaseJob'>;
  /** This process, unique among the replicas (a random id per start). */
  holder: string;
  clock: () => number;
  log: Logger;
  work: () => Promise<void>;
}

export interface ExclusiveJob {
  /** One tick now: runs the work when the lease is (or becomes) ours; resolves when it is done. */
  tick(): Promise<boolean>;
  /** No more ticks; waits for a run in progress, then gives the lease up if this process held it. */
  stop(): Promise<void>;
}

export function startExclusiveJob(options: ExclusiveJobOptions): ExclusiveJob {
  const { name, intervalMs, metadata, holder, clock, log, work } = options;
  let running: Promise<boolean> | undefined;
  let held = false;

  async function runIfHolder(): Promise<boolean> {
    const now = clock();
    held = await metadata.leaseJob(name, { holder, now, until: now + 2 * intervalMs });
    if (!held) return false;
    await work();
    return true;
  }

  function tick(): Promise<boolean> {
    // A run still going when the next tick comes is not started twice.
    running ??= runIfHolder()
      .catch((err: unknown) => {
        log.error({ err, job: name }, 'background job failed');
        return false;
      })
      .finally(() => (running = undefined));
    return running;
  }

  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  void tick();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
      if (!held) return;
      const now = clock();
      await metadata.leaseJob(name, { holder, now, until: now }).catch((err: unknown) => {
        log.warn({ err, job: name }, 'could not give up the background job lease');
      });
    },
  };
}
