// The content guard of src/registry/content-guard.ts, recorded in the metadata database (GcStore):
// a hold is one small transaction to take and one to release, whatever the number of digests. While
// the collector is sweeping one of the digests (a live sweep marker, which lasts for the deletion of
// one object) the writer waits, polling with a growing pause, for at most `waitMs`; then the request
// fails with 503 UNAVAILABLE, which clients retry. A hold lasts `ttlMs` and is renewed every third
// of that while the work runs, so a holder that dies (a killed replica) blocks sweeping of its
// digests for at most `ttlMs`. Clocks of replicas sharing a database must agree to well within ttlMs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentGuard } from '../registry/content-guard.js';
import type { Logger } from '../registry/deps.js';
import { StoreUnavailableError } from '../registry/errors.js';
import type { Digest } from '../registry/references.js';
import type { GcStore } from './gc-store.js';

export const HOLD_TTL_MS = 60_000;
export const HOLD_WAIT_MS = 10_000;
const FIRST_PAUSE_MS = 5;
const MAX_PAUSE_MS = 250;

export interface ContentGuardOptions {
  store: Pick<GcStore, 'hold' | 'renewHold' | 'releaseHold'>;
  clock: () => number;
  newId: () => string;
  log: Logger;
  ttlMs?: number;
  waitMs?: number;
}

export function createContentGuard(options: ContentGuardOptions): ContentGuard {
  const { store, clock, newId, log } = options;
  const ttlMs = options.ttlMs ?? HOLD_TTL_MS;
  const waitMs = options.waitMs ?? HOLD_WAIT_MS;

  /** Takes the hold, waiting out sweeps in progress; throws 503 once `waitMs` have passed. */
  async function take(holder: string, digests: readonly Digest[]): Promise<void> {
    const started = performance.now();
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      const now = clock();
      if (await store.hold(holder, digests, { now, until: now + ttlMs })) return;
      if (performance.now() - started >= waitMs) {
        throw new StoreUnavailableError(
          `garbage collection is deleting content this change needs (${digests.length} digests held)`,
        );
      }
      await sleep(pause);
    }
  }

  /** Releases the hold; a failure only leaves it to expire (logged), it never fails the change. */
  async function release(holder: string): Promise<void> {
    try {
      await store.releaseHold(holder);
    } catch (err) {
      log.warn({ err }, 'could not release a content hold; it expires on its own');
    }
  }

  return {
    async hold(digests, work) {
      const unique = [...new Set(digests)].sort();
      if (unique.length === 0) return work();
      const holder = newId();
      await take(holder, unique);
      const renewal = setInterval(() => {
        store
          .renewHold(holder, clock() + ttlMs)
          .catch((err: unknown) => log.warn({ err }, 'could not renew a content hold'));
      }, ttlMs / 3);
      renewal.unref();
      try {
        return await work();
      } finally {
        clearInterval(renewal);
        await release(holder);
      }
    },
  };
}
