// Deleting a digest's bytes, in the order that leaves nothing dangling (GcStore.beginSweep):
//   1. one transaction: nothing references the digest (no link, no manifest with it), nobody holds
//      it; the blob record is deleted and a sweep marker recorded (writers wait while it lives);
//   2. the marker is confirmed (it may have expired while this process stalled, and a writer may
//      then have stored and linked the digest again: the bytes are then left alone); a marker taken
//      less than half its lifetime ago needs no confirming (only its holder or its expiry ends it);
//   3. the storage object is deleted;
//   4. the marker is dropped.
// A crash after 1 leaves at worst an object that no record knows (the orphan sweep deletes it after
// its grace period), never a record without bytes. A marker lasts SWEEP_TTL_MS, renewed at step 2.
import type { StorageDriver } from '../../storage-drivers/types.js';
import type { Logger } from '../registry/deps.js';
import { blobKey } from '../registry/layout.js';
import type { Digest } from '../registry/references.js';
import type { GcStore, SweepRefusal } from './gc-store.js';

export const SWEEP_TTL_MS = 30_000;

export type SweepResult = { swept: true; bytes: number } | { swept: false; reason: SweepRefusal | 'lost' };

export interface BlobSweeper {
  /** Steps 1 to 4 for a digest whose references are already gone (mirror eviction, orphans). */
  sweepUnused(digest: Digest): Promise<SweepResult>;
  /** Steps 2 to 4 after the store began the sweep with `lease` (GcStore.reviewBlob). */
  finish(digest: Digest, lease: SweepLease, size: number | null): Promise<SweepResult>;
  /** A new marker holder and lease for GcStore.reviewBlob or beginSweep. */
  lease(): SweepLease;
}

export interface SweepLease {
  holder: string;
  now: number;
  until: number;
}

export interface SweeperDeps {
  store: Pick<GcStore, 'beginSweep' | 'confirmSweep' | 'endSweep'>;
  driver: StorageDriver;
  clock: () => number;
  newId: () => string;
  log: Logger;
  ttlMs?: number;
}

export function createSweeper({
  store,
  driver,
  clock,
  newId,
  log,
  ttlMs = SWEEP_TTL_MS,
}: SweeperDeps): BlobSweeper {
  const lease = () => {
    const now = clock();
    return { holder: newId(), now, until: now + ttlMs };
  };

  async function finish(digest: Digest, lease: SweepLease, size: number | null): Promise<SweepResult> {
    const { holder } = lease;
    const now = clock();
    try {
      const fresh = now < lease.until - ttlMs / 2;
      if (!fresh && !(await store.confirmSweep(digest, { holder, now, until: now + ttlMs }))) {
        log.warn(
          { digest },
          'a sweep marker expired before its bytes were deleted: they stay for the orphan sweep',
        );
        return { swept: false, reason: 'lost' };
      }
      const key = blobKey(digest);
      const bytes = size ?? (await driver.stat(key))?.size ?? 0;
      await driver.delete(key);
      return { swept: true, bytes };
    } finally {
      await store.endSweep(digest, holder);
    }
  }

  return {
    lease,
    finish,
    async sweepUnused(digest) {
      const started = lease();
      const begun = await store.beginSweep(digest, started);
      if (!begun.sweeping) return { swept: false, reason: begun.reason };
      return finish(digest, started, begun.size);
    },
  };
}
