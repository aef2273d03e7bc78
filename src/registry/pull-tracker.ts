// Pull counts for the catalog (last pulled, pull count): manifest GETs counted in memory, one Map
// update per GET and nothing awaited on the request's path, and written as one batch every
// `intervalMs` (CatalogStore.recordPulls), and once more on close. A batch that cannot be written
// (the database unreachable) is merged back and tried again with the next one; what is counted when
// the process dies unflushed is lost (at most one interval). Each replica counts its own GETs; the
// store adds the batches up.
import type { CatalogStore, PullCount } from './catalog-store.js';
import type { Logger } from './deps.js';
import type { Digest, RepoName, Tag } from './references.js';

/** How often counted pulls are written by default. */
export const PULL_FLUSH_INTERVAL_MS = 5_000;

export interface PullTrackerDeps {
  store: Pick<CatalogStore, 'recordPulls'>;
  clock: () => number;
  log: Logger;
  intervalMs?: number;
}

export function createPullTracker({
  store,
  clock,
  log,
  intervalMs = PULL_FLUSH_INTERVAL_MS,
}: PullTrackerDeps) {
  let pending = new Map<string, PullCount>();
  let closed = false;
  /** The flush under way, if any: flushes never overlap. */
  let flushing: Promise<void> | undefined;

  function add(key: string, pull: PullCount): void {
    const counted = pending.get(key);
    if (!counted) {
      pending.set(key, pull);
      return;
    }
    counted.count += pull.count;
    counted.at = Math.max(counted.at, pull.at);
  }

  async function writeBatch(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await store.recordPulls([...batch.values()]);
    } catch (err) {
      log.warn(
        { err, entries: batch.size },
        'pull counts could not be recorded; retrying with the next batch',
      );
      for (const [key, pull] of batch) add(key, pull);
    }
  }

  /** Writes what is counted, after any flush under way. */
  async function flush(): Promise<void> {
    while (flushing) await flushing;
    flushing = writeBatch().finally(() => {
      flushing = undefined;
    });
    await flushing;
  }

  const timer = setInterval(() => {
    if (!flushing) void flush();
  }, intervalMs);
  timer.unref();

  /** Counts one manifest GET, by tag (with the digest it resolved to) or by digest. */
  function count(repository: RepoName, digest: Digest, tag?: Tag): void {
    if (closed) return;
    const key = tag === undefined ? `${repository}@${digest}` : `${repository}@${digest}:${tag}`;
    const counted = pending.get(key);
    if (counted) {
      counted.count += 1;
      counted.at = clock();
    } else {
      pending.set(key, { repository, digest, ...(tag !== undefined && { tag }), count: 1, at: clock() });
    }
  }

  return {
    count,
    flush,

    /** Stops counting and writes what was counted. */
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      await flush();
    },
  };
}

export type PullTracker = ReturnType<typeof createPullTracker>;
