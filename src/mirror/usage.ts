// Hit and miss counters per upstream and last-pull times of cached content, gathered in memory and
// written to the mirror store in batches (every `intervalMs` and on stop), so serving from the cache
// costs no database write per request. Counters lost to a crash are at most one interval's worth.
import type { Logger } from '../registry/deps.js';
import type { Digest, RepoName } from '../registry/references.js';
import type { MirrorCounters, MirrorStore } from './mirror-store.js';

const zero = (): MirrorCounters => ({
  hits: 0,
  misses: 0,
  staleHits: 0,
  bytesFromCache: 0,
  bytesFromUpstream: 0,
});

export function createUsageRecorder(
  store: MirrorStore,
  clock: () => number,
  log: Logger,
  intervalMs: number,
  /** Called with every delta as it is counted (metrics); must not throw. */
  onCount?: (upstream: string, delta: Partial<MirrorCounters>) => void,
) {
  let counters = new Map<string, MirrorCounters>();
  let pulls = new Map<string, { repository: RepoName; digest: Digest; at: number }>();
  let flushing: Promise<void> = Promise.resolve();

  const countersOf = (upstream: string) => {
    let found = counters.get(upstream);
    if (!found) counters.set(upstream, (found = zero()));
    return found;
  };

  async function write(
    batch: Map<string, MirrorCounters>,
    touched: Map<string, { repository: RepoName; digest: Digest; at: number }>,
  ): Promise<void> {
    try {
      for (const [upstream, delta] of batch) await store.addCounters(upstream, delta);
      if (touched.size > 0) await store.touchCached([...touched.values()]);
    } catch (err) {
      log.warn({ err }, 'mirror usage counters could not be written');
    }
  }

  function flush(): Promise<void> {
    if (counters.size === 0 && pulls.size === 0) return flushing;
    const batch = counters;
    const touched = pulls;
    counters = new Map();
    pulls = new Map();
    flushing = flushing.then(() => write(batch, touched));
    return flushing;
  }

  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();

  return {
    count(upstream: string, delta: Partial<MirrorCounters>): void {
      const target = countersOf(upstream);
      for (const [key, value] of Object.entries(delta) as Array<[keyof MirrorCounters, number]>) {
        target[key] += value;
      }
      onCount?.(upstream, delta);
    },
    pulled(repository: RepoName, digest: Digest): void {
      pulls.set(`${repository}@${digest}`, { repository, digest, at: clock() });
    },
    /** Counters not yet written, added to what the store says (for a live status). */
    pending(): ReadonlyMap<string, MirrorCounters> {
      return counters;
    },
    flush,
    async stop(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}

export type UsageRecorder = ReturnType<typeof createUsageRecorder>;
