// Storage objects that no record knows: blobs/ objects whose digest has neither a blob record nor a
// manifest nor a pending review (a crash between a sweep's record deletion and its object deletion, a push whose record
// failed after its bytes moved, a restored database), and uploads/<id>/ directories of sessions that
// have no record. Such an object is noted the first time a run sees it unknown and deleted by a run
// at least `graceMs` later if it is still unknown then: the age that matters is how long nothing has
// known it, which neither a filesystem mtime (a rename keeps an upload's) nor an S3 LastModified
// says, and the driver contract needs nothing beyond list(). A blob object goes through the sweep
// (sweep.ts), so a push that starts using the digest meanwhile keeps it. In a dry run nothing is
// noted: objects never noted before count as going only with a grace of 0.
import type { StorageDriver } from '../../storage-drivers/types.js';
import { uploadPrefix } from '../registry/layout.js';
import type { Digest } from '../registry/references.js';
import type { GcStore } from './gc-store.js';
import type { Step } from './progress.js';
import type { GcReport } from './report.js';
import { digestOfBlobKey } from './storage-keys.js';
import type { BlobSweeper } from './sweep.js';

const BATCH = 500;

export interface OrphanSweepDeps {
  store: GcStore;
  driver: StorageDriver;
  sweeper: BlobSweeper;
  clock: () => number;
  graceMs: number;
  dryRun: boolean;
  report: GcReport;
  /** Upload session ids found under uploads/ (with their bytes) and not yet accounted for. */
  uploads: ReadonlyMap<string, number>;
  step: Step;
}

/**
 * Storage and database must belong together: a `berth gc` pointed at the wrong database (another
 * data directory, an empty one) would find every object unknown. When more than this share of the
 * blob objects (and more than ORPHAN_FLOOR of them) are unknown, nothing is noted or deleted and the
 * run says so (GcReport.orphansLeft) instead.
 */
export const ORPHAN_SHARE_LIMIT = 0.5;
const ORPHAN_FLOOR = 2;

interface Candidate {
  key: string;
  digest: Digest;
  size: number;
}

export async function sweepOrphans(deps: OrphanSweepDeps): Promise<void> {
  const { store, driver, sweeper, clock, graceMs, dryRun, report, step } = deps;
  const started = clock();

  /** Those of `keys` that have been unknown for at least the grace period. */
  async function expired(keys: readonly string[]): Promise<string[]> {
    const now = clock();
    const firstSeen = await store.noteOrphans(keys, now, !dryRun);
    return keys.filter((key) => (firstSeen.get(key) ?? now) <= now - graceMs);
  }

  // First every unknown blob object (a handful, unless storage and database do not belong together).
  const candidates: Candidate[] = [];
  let listed = 0;
  let batch: Candidate[] = [];
  const look = async () => {
    const unknown = new Set(await store.unknownDigests(batch.map((object) => object.digest)));
    candidates.push(...batch.filter((object) => unknown.has(object.digest)));
    batch = [];
  };
  for await (const object of driver.list('blobs/')) {
    const digest = digestOfBlobKey(object.key);
    if (digest === undefined) continue;
    listed += 1;
    batch.push({ key: object.key, digest, size: object.size });
    step.advance();
    if (batch.length === BATCH) await look();
  }
  if (batch.length > 0) await look();
  if (candidates.length > ORPHAN_FLOOR && candidates.length > listed * ORPHAN_SHARE_LIMIT) {
    report.orphansLeft = candidates.length;
    return;
  }

  for (let i = 0; i < candidates.length; i += BATCH) {
    const slice = candidates.slice(i, i + BATCH);
    const due = new Set(await expired(slice.map((object) => object.key)));
    for (const object of slice) {
      if (!due.has(object.key)) continue;
      step.check();
      if (dryRun) {
        report.orphansDeleted += 1;
        report.orphanBytes += object.size;
        continue;
      }
      const swept = await sweeper.sweepUnused(object.digest);
      if (swept.swept) {
        report.orphansDeleted += 1;
        report.orphanBytes += object.size;
      }
      if (swept.swept || swept.reason === 'kept') await store.forgetOrphan(object.key);
    }
  }

  const ids = [...deps.uploads.keys()];
  for (let i = 0; i < ids.length; i += BATCH) {
    const unknown = await store.unknownUploads(ids.slice(i, i + BATCH));
    for (const key of await expired(unknown.map(uploadPrefix))) {
      step.check();
      const id = key.slice(0, -1).split('/').at(-1) as string;
      report.orphansDeleted += 1;
      report.orphanBytes += deps.uploads.get(id) ?? 0;
      if (!dryRun) {
        await driver.delete(key);
        await store.forgetOrphan(key);
      }
    }
  }
  if (!dryRun) await store.forgetOrphans(started);
}
