// One garbage collection run, online: pushes, pulls and deletes go on meanwhile, in this process and
// in others sharing the metadata database. Phases, in order:
//   1. manifests due for review (GcStore.reviewManifest: deleted when the rules allow and nobody
//      holds the digest); with a delay of 0, what the deletions queue is reviewed in the same run;
//   2. blobs due for review (GcStore.reviewBlob: unused links removed, then the bytes swept, sweep.ts);
//   3. uploads: abandoned sessions purged (UploadService.purgeStale), storage left by ended sessions
//      deleted (one listing of uploads/);
//   4. orphans (when asked): storage objects under blobs/ and uploads/ that no record knows, deleted
//      once they have stayed unknown for the grace period.
// A candidate is due when its newest event is older than the delay. One run at a time, whatever the
// number of processes: a run holds the `gc-run` job lease (renewed while it runs), so `berth gc` and
// scheduled runs never overlap. A dry run changes nothing and reports what a run would delete
// (the rules over the candidates' facts, rules.ts, in the order a run would review them).
import type { StorageDriver } from '../../storage-drivers/types.js';
import type { Logger } from '../registry/deps.js';
import { blobKey, UPLOADS_PREFIX, uploadPrefix } from '../registry/layout.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import type { Digest, RepoName } from '../registry/references.js';
import type { GcStore, QueuedBlob, QueuedManifest, QueuedUpload } from './gc-store.js';
import { sweepOrphans } from './orphans.js';
import { createStep, type GcProgress, type Step } from './progress.js';
import { emptyReport, type GcReport } from './report.js';
import { blobIsUnused, manifestIsUnused, unusedLinks } from './rules.js';
import type { BlobSweeper } from './sweep.js';
import { uploadIdOfKey } from './storage-keys.js';

/** The job lease every run holds (MetadataStore.leaseJob). */
export const GC_RUN_JOB = 'gc-run';
const RUN_LEASE_MS = 60_000;
const BATCH = 200;
/** Passes over the manifest queue in one run (what a pass's deletions queued is due at once with a delay of 0). */
const MAX_PASSES = 16;
/**
 * Blob reviews in flight at once: storage deletions (an S3 round trip, a file system's metadata
 * update) overlap; on PostgreSQL each holds a pooled connection, so a few leave the rest to requests.
 */
const BLOB_CONCURRENCY = 4;

/** Another process's run holds the lease: wait for it, or try again later. */
export class GcBusyError extends Error {
  constructor() {
    super('another garbage collection run is in progress');
    this.name = 'GcBusyError';
  }
}

export interface GcRunOptions {
  dryRun?: boolean;
  /** Review candidates whose newest event is older than this (gc.delay, `berth gc --delay`). */
  delayMs: number;
  /** Look for storage objects that no record knows (lists all of storage). */
  orphans: boolean;
  orphanGraceMs: number;
  /** Upload sessions idle for longer than this are purged (uploads.maxAge). */
  uploadMaxAgeMs: number;
  signal?: AbortSignal;
  onProgress?: (progress: GcProgress) => void;
  /**
   * Called once the run holds the lease, before it changes anything (runs.ts records the run here);
   * when it rejects, the run ends with its error.
   */
  onStart?: () => Promise<void>;
}

export type { GcPhase, GcProgress } from './progress.js';

export interface CollectorDeps {
  store: GcStore;
  metadata: Pick<MetadataStore, 'leaseJob' | 'listUploadsUpdatedBefore'>;
  driver: StorageDriver;
  sweeper: BlobSweeper;
  /** Deletes upload sessions idle since before `olderThan` with their bytes (UploadService.purgeStale). */
  purgeStaleUploads: (olderThan: number) => Promise<number>;
  clock: () => number;
  newId: () => string;
  log: Logger;
}

export interface Collector {
  /** One run; rejects with GcBusyError while another process's run holds the lease. */
  run(options: GcRunOptions): Promise<GcReport>;
}

const keyOf = (repository: RepoName, digest: Digest) => `${repository}\n${digest}`;

export function createCollector(deps: CollectorDeps): Collector {
  const { store, metadata, driver, sweeper, clock, newId, log } = deps;

  /**
   * Reviews the due manifests, pass after pass (at most MAX_PASSES) while a delay of 0 lets deletions
   * queue more: an index's children, then theirs.
   */
  async function reviewManifests(options: GcRunOptions, report: GcReport, step: Step): Promise<void> {
    const held = new Set<string>();
    for (let pass = 1; ; pass++) {
      let deleted = 0;
      let after: QueuedManifest | undefined;
      for (;;) {
        step.check();
        const page = await store.dueManifests(clock() - options.delayMs, BATCH, after);
        for (const item of page) {
          if (item.repository === undefined) {
            await store.dequeueManifest(item);
          } else {
            const outcome = await store.reviewManifest(item, clock());
            if (outcome === 'deleted') {
              deleted += 1;
              report.manifestsDeleted += 1;
              held.delete(keyOf(item.repository, item.digest));
              log.debug({ repository: item.repository, digest: item.digest }, 'gc deleted a manifest');
            } else if (outcome === 'held') {
              held.add(keyOf(item.repository, item.digest));
            }
          }
          step.advance();
        }
        if (page.length < BATCH) break;
        after = page.at(-1);
      }
      if (deleted === 0 || options.delayMs > 0 || pass === MAX_PASSES) break;
    }
    report.held += held.size;
  }

  /** Reviews the due blobs, BLOB_CONCURRENCY at a time (each on its own: one digest per review). */
  async function reviewBlobs(options: GcRunOptions, report: GcReport, step: Step): Promise<void> {
    const review = async (item: QueuedBlob) => {
      const lease = sweeper.lease();
      const reviewed = await store.reviewBlob(item, lease);
      report.linksRemoved += reviewed.unlinked.length;
      if (reviewed.sweep.sweeping) {
        const swept = await sweeper.finish(item.digest, lease, reviewed.sweep.size);
        if (swept.swept) {
          report.blobsDeleted += 1;
          report.bytesFreed += swept.bytes;
        }
      } else if (reviewed.sweep.reason !== 'kept') {
        report.held += 1;
      }
      step.advance();
    };
    for (let after: Digest | undefined; ;) {
      step.check();
      const page = await store.dueBlobs(clock() - options.delayMs, BATCH, after);
      let next = 0;
      const worker = async () => {
        while (next < page.length) await review(page[next++] as QueuedBlob);
      };
      await Promise.all(Array.from({ length: BLOB_CONCURRENCY }, worker));
      if (page.length < BATCH) return;
      after = page.at(-1)?.digest;
    }
  }

  /** Every due upload queue entry (deleted sessions), in order. */
  async function dueUploads(options: GcRunOptions): Promise<QueuedUpload[]> {
    const due: QueuedUpload[] = [];
    for (let after: string | undefined; ;) {
      const page = await store.dueUploads(clock() - options.delayMs, 1_000, after);
      due.push(...page);
      if (page.length < 1_000) return due;
      after = page.at(-1)?.id;
    }
  }

  /**
   * Abandoned sessions, then what ended sessions left in storage: one listing of uploads/, from
   * which the sessions that the queue says have ended are deleted. The listing goes on to the orphan
   * sweep, which looks at the sessions without a record that the queue does not know.
   */
  async function collectUploads(
    options: GcRunOptions,
    report: GcReport,
    step: Step,
  ): Promise<Map<string, number> | undefined> {
    const olderThan = clock() - options.uploadMaxAgeMs;
    report.uploadsPurged = options.dryRun
      ? (await metadata.listUploadsUpdatedBefore(olderThan)).length
      : await deps.purgeStaleUploads(olderThan);
    const due = await dueUploads(options);
    if (due.length === 0 && !options.orphans) return undefined;
    const stored = new Map<string, number>();
    for await (const object of driver.list(UPLOADS_PREFIX)) {
      const id = uploadIdOfKey(object.key);
      if (id !== undefined) stored.set(id, (stored.get(id) ?? 0) + object.size);
    }
    for (const { id } of due) {
      step.check();
      if (stored.has(id) && !(await store.uploadExists(id))) {
        report.uploadLeftovers += 1;
        if (!options.dryRun) await driver.delete(uploadPrefix(id));
        stored.delete(id);
      }
      if (!options.dryRun) await store.dequeueUpload(id);
      step.advance();
    }
    return stored;
  }

  /** The dry run of phases 1 and 2: the rules over facts, in the order a run would review. */
  async function predict(options: GcRunOptions, report: GcReport, step: Step): Promise<void> {
    const immediate = options.delayMs === 0;
    const gone = new Set<string>();
    const isGone = (repository: RepoName, digest: Digest) => gone.has(keyOf(repository, digest));
    // What the deletions would queue: reviewed in this run with a delay of 0, postponed otherwise.
    const queuedManifests = new Set<string>();
    const queuedBlobs = new Set<Digest>();
    const work: Array<{ repository: RepoName; digest: Digest }> = [];
    const before = clock() - options.delayMs;
    for (let after: QueuedManifest | undefined; ;) {
      const page = await store.dueManifests(before, BATCH, after);
      for (const item of page)
        if (item.repository) work.push({ repository: item.repository, digest: item.digest });
      if (page.length < BATCH) break;
      after = page.at(-1);
    }
    for (let index = 0; index < work.length; index++) {
      step.check();
      const { repository, digest } = work[index] as { repository: RepoName; digest: Digest };
      const key = keyOf(repository, digest);
      step.advance();
      if (gone.has(key) || (!immediate && queuedManifests.has(key))) continue;
      const facts = await store.manifestFacts(repository, digest);
      if (!facts || !manifestIsUnused(repository, facts, isGone)) continue;
      gone.add(key);
      report.manifestsDeleted += 1;
      for (const next of [...facts.children, ...facts.referrers]) {
        queuedManifests.add(keyOf(repository, next));
        if (immediate) work.push({ repository, digest: next });
      }
      for (const blob of [...facts.blobs, digest]) queuedBlobs.add(blob);
    }

    const candidates = new Set<Digest>();
    for (let after: Digest | undefined; ;) {
      const page = await store.dueBlobs(before, BATCH, after);
      for (const item of page) if (immediate || !queuedBlobs.has(item.digest)) candidates.add(item.digest);
      if (page.length < BATCH) break;
      after = page.at(-1)?.digest;
    }
    if (immediate) for (const digest of queuedBlobs) candidates.add(digest);
    for (const digest of [...candidates].sort()) {
      step.check();
      const facts = await store.blobFacts(digest);
      report.linksRemoved += unusedLinks(facts, isGone).length;
      if (blobIsUnused(digest, facts, isGone)) {
        report.blobsDeleted += 1;
        report.bytesFreed += facts.size ?? (await driver.stat(blobKey(digest)))?.size ?? 0;
      }
      step.advance();
    }
  }

  return {
    async run(options) {
      const dryRun = options.dryRun ?? false;
      const holder = newId();
      const leased = async (until: (now: number) => number) => {
        const now = clock();
        return metadata.leaseJob(GC_RUN_JOB, { holder, now, until: until(now) });
      };
      if (!(await leased((now) => now + RUN_LEASE_MS))) throw new GcBusyError();
      let lost = false;
      const renewal = setInterval(() => {
        leased((now) => now + RUN_LEASE_MS).then(
          (ok) => (lost ||= !ok),
          (err: unknown) => log.warn({ err }, 'could not renew the garbage collection lease'),
        );
      }, RUN_LEASE_MS / 3);
      renewal.unref();
      const report = emptyReport(dryRun, options.delayMs, clock());
      try {
        await options.onStart?.();
        const step = createStep(options, () => {
          if (lost) throw new GcBusyError();
        });
        if (!dryRun) await store.dropExpired(clock());
        const due = await store.countDue(clock() - options.delayMs);
        if (dryRun) {
          step.begin('manifests', due.manifests + due.blobs);
          await predict(options, report, step);
        } else {
          step.begin('manifests', due.manifests);
          await reviewManifests(options, report, step);
          step.begin('blobs', (await store.countDue(clock() - options.delayMs)).blobs);
          await reviewBlobs(options, report, step);
        }
        step.begin('uploads', due.uploads);
        const uploads = await collectUploads(options, report, step);
        if (options.orphans) {
          step.begin('orphans');
          await sweepOrphans({
            store,
            driver,
            sweeper,
            clock,
            graceMs: options.orphanGraceMs,
            dryRun,
            report,
            uploads: uploads ?? new Map(),
            step,
          });
        }
        if (report.orphansLeft > 0) {
          log.warn(
            { unknown: report.orphansLeft },
            'garbage collection left storage objects alone: most of storage is unknown to the database',
          );
        }
        report.durationMs = clock() - report.startedAt;
        return report;
      } finally {
        clearInterval(renewal);
        await leased((now) => now).catch(() => undefined);
      }
    },
  };
}
