// What online garbage collection needs from the metadata database (src/metadata implements it on
// SQLite and PostgreSQL; gc-conformance.ts is the behaviour both show). Five parts:
//
// - Review queues, filled by database triggers (migrations 009-gc / postgres 008-gc), so that no code
//   path can forget them: a tag that moves or goes queues its old manifest; a deleted manifest queues
//   the blobs and child manifests it referenced, the manifests whose subject it was, and its own bytes;
//   a blob linked to or unlinked from a repository queues the blob; a deleted upload session queues its
//   storage. A referrer recorded while its subject is absent is queued too. Queues are append-only logs
//   (inserting never waits for another transaction), read grouped by candidate: a candidate is due
//   when its newest event is older than the review delay, so every new event postpones its review.
// - Reviews: one transaction each, re-checking the rules against the rows as they are then, refused
//   while a writer holds the digest (the guard below).
// - The guard (content-guard.ts): holds (shared, any number of writers per digest) and sweep markers
//   (one sweeper per digest) exclude each other per digest, across processes and replicas. A hold or
//   a marker ends at its `until`, so a holder that died blocks nobody for long.
// - Orphans: storage objects that no record knows, noted when first seen unknown, deleted after a
//   grace period if they stay unknown.
// - Run history (migrations 011-gc-runs / postgres 010-gc-runs): one record per run, whatever started
//   it (runs.ts records them), newest first; only the newest GC_RUNS_KEPT are kept.
import type { Lease } from '../registry/metadata-store.js';
import type { Digest, RepoName } from '../registry/references.js';
import type { GcReport } from './report.js';

/** A manifest due for review: `repositoryId` (the store's key, for paging) and the newest event. */
export interface QueuedManifest {
  repositoryId: number;
  /** Undefined when the repository itself was deleted: there is nothing left to review. */
  repository: RepoName | undefined;
  digest: Digest;
  /** The newest queue entry: entries up to it are settled by this review. */
  lastId: number;
  queuedAt: number;
}

export interface QueuedBlob {
  digest: Digest;
  lastId: number;
  queuedAt: number;
}

export interface QueuedUpload {
  id: string;
  queuedAt: number;
}

/**
 * A manifest review's outcome: deleted (untagged, no index of its repository references it, and it
 * is no referrer of a manifest its repository keeps); kept; held by a writer (reviewed again by the
 * next run); gone already.
 */
export type ManifestReview = 'deleted' | 'kept' | 'held' | 'gone';

/**
 * The start of a sweep: the digest's record is gone and a marker keeps writers off it until the
 * caller has deleted the bytes (`size` is the blob's, null for a manifest's bytes or an orphan); or
 * why not: still referenced, held by a writer, or being swept by another.
 */
export type SweepStart = { sweeping: true; size: number | null } | { sweeping: false; reason: SweepRefusal };
export type SweepRefusal = 'kept' | 'held' | 'sweeping';

export interface BlobReview {
  /** Repositories whose link to the blob was removed (no manifest of theirs references it). */
  unlinked: RepoName[];
  sweep: SweepStart;
}

/** What a dry run decides a manifest's fate from (the rules, without deleting anything). */
export interface ManifestFacts {
  tagged: boolean;
  /** Manifests of the repository that reference it (an index and its children). */
  parents: Digest[];
  subject: Digest | null;
  /** Whether the subject is a manifest of the repository. */
  subjectPresent: boolean;
  blobs: Digest[];
  children: Digest[];
  /** Manifests of the repository whose subject it is. */
  referrers: Digest[];
}

/** What a dry run decides a blob's fate from. */
export interface BlobFacts {
  /** Repositories linking the blob, each with its manifests that reference it. */
  links: Array<{ repository: RepoName; referencedBy: Digest[] }>;
  /** Repositories holding a manifest with this digest (its bytes are then a manifest's). */
  manifestIn: RepoName[];
  /** The blob record's size; null when there is none (a manifest's bytes). */
  size: number | null;
}

export interface DueCounts {
  manifests: number;
  blobs: number;
  uploads: number;
}

/** What started a run: the server's schedule (gc.interval), `berth gc`, or POST /api/v1/gc/runs. */
export type GcTrigger = 'scheduled' | 'cli' | 'api';

/**
 * `running` until the run records its outcome. A run whose process died stays `running` until the
 * next run starts, which closes it as `failed` with `finishedAt` null (it never finished).
 */
export type GcRunStatus = 'running' | 'succeeded' | 'failed';

/** What a run did (a dry run: would do): the counters of its report (report.ts). */
export type GcRunCounts = Omit<GcReport, 'dryRun' | 'delayMs' | 'startedAt' | 'durationMs'>;

export interface NewGcRun {
  trigger: GcTrigger;
  dryRun: boolean;
  /** The review delay it uses, in ms. */
  delayMs: number;
  /** The host (os.hostname()) whose process runs it. */
  host: string;
  startedAt: number;
}

export interface GcRun extends NewGcRun {
  /** Increasing in the order runs were recorded. */
  id: number;
  status: GcRunStatus;
  /** Null while running, and for a run that never finished. */
  finishedAt: number | null;
  /** Why a failed run failed. */
  error: string | null;
  /** Null unless it succeeded: a failed run's partial work is not known. */
  counts: GcRunCounts | null;
}

export type GcRunOutcome =
  | { status: 'succeeded'; finishedAt: number; counts: GcRunCounts }
  | { status: 'failed'; finishedAt: number; error: string };

/** The error of a run closed by the next one: it never recorded an outcome (its process died). */
export const GC_RUN_UNFINISHED = 'did not finish: its process stopped before it recorded an outcome';

/** Runs recorded at most: recording a run deletes the older ones beyond this many. */
export const GC_RUNS_KEPT = 1000;

export interface GcStore {
  /**
   * Records `holder`'s hold on `digests` until `lease.until`, unless one of them is being swept (a
   * marker live at `lease.now`): then false and nothing is recorded. Holders are unique per operation.
   */
  hold(holder: string, digests: readonly Digest[], lease: Omit<Lease, 'holder'>): Promise<boolean>;
  /** Extends every hold of `holder` to `until`. */
  renewHold(holder: string, until: number): Promise<void>;
  releaseHold(holder: string): Promise<void>;

  /** Candidates whose newest event is at or before `before`, after `after` in the store's order. */
  dueManifests(
    before: number,
    limit: number,
    after?: { repositoryId: number; digest: Digest },
  ): Promise<QueuedManifest[]>;
  dueBlobs(before: number, limit: number, after?: Digest): Promise<QueuedBlob[]>;
  dueUploads(before: number, limit: number, after?: string): Promise<QueuedUpload[]>;
  countDue(before: number): Promise<DueCounts>;

  /**
   * Deletes the manifest when the rules allow it and nobody holds its digest at `now`, in one
   * transaction that also settles its queue entries (all of them when deleted, up to `lastId` else;
   * none when held).
   */
  reviewManifest(item: QueuedManifest, now: number): Promise<ManifestReview>;
  /** Settles a manifest's queue entries up to `lastId` without a review (its repository is gone). */
  dequeueManifest(item: QueuedManifest): Promise<void>;
  /**
   * In one transaction, unless a writer holds the digest at `lease.now`: removes the links of
   * repositories none of whose manifests references the blob, then, when no link and no manifest
   * with the digest remains, deletes the blob record and records `lease.holder`'s sweep marker
   * (see beginSweep). Settles the queue entries (all when sweeping, up to `lastId` when kept).
   */
  reviewBlob(item: QueuedBlob, lease: Lease): Promise<BlobReview>;
  /** Whether an upload session record exists (its storage must then stay). */
  uploadExists(id: string): Promise<boolean>;
  dequeueUpload(id: string): Promise<void>;

  /**
   * Starts sweeping a digest's bytes when nothing knows them any more: no link, no manifest with the
   * digest, no live hold or marker. Deletes the blob record (if any) and records the marker, in one
   * transaction. The caller then confirms the marker, deletes the bytes and ends the sweep.
   */
  beginSweep(digest: Digest, lease: Lease): Promise<SweepStart>;
  /** Extends the holder's live marker to `lease.until`; false when it ended or was taken over. */
  confirmSweep(digest: Digest, lease: Lease): Promise<boolean>;
  /** Drops the holder's marker: writers may use the digest again (and store its bytes anew). */
  endSweep(digest: Digest, holder: string): Promise<void>;

  manifestFacts(repository: RepoName, digest: Digest): Promise<ManifestFacts | undefined>;
  blobFacts(digest: Digest): Promise<BlobFacts>;

  /**
   * Those of `digests` that nothing knows: no blob record, no manifest, and no review queued (a
   * deleted manifest's bytes are the review's to sweep, after the delay).
   */
  unknownDigests(digests: readonly Digest[]): Promise<Digest[]>;
  /** Those of the upload ids that have no session record. */
  unknownUploads(ids: readonly string[]): Promise<string[]>;
  /**
   * Notes storage keys seen unknown at `now` and answers when each was first seen so (now, for a key
   * not noted before). Read-only (nothing noted) when `record` is false, as in a dry run: keys never
   * noted are then absent from the answer.
   */
  noteOrphans(keys: readonly string[], now: number, record: boolean): Promise<Map<string, number>>;
  /** Forgets orphan notes not seen since before `time` (deleted, or known again). */
  forgetOrphans(seenBefore: number): Promise<void>;
  forgetOrphan(key: string): Promise<void>;

  /** Deletes holds and sweep markers that ended before `now` (their holders died). */
  dropExpired(now: number): Promise<{ holds: number; sweeps: number }>;

  /**
   * Records a run as running, in one transaction that also closes the runs still recorded as running
   * (failed, "did not finish", finishedAt null: the caller holds the `gc-run` job lease, which only
   * one run at a time can, so they ended without recording their outcome) and deletes all but the
   * newest `keep` runs (GC_RUNS_KEPT, a bounded history).
   */
  startGcRun(run: NewGcRun, keep: number): Promise<GcRun>;
  /** Records a run's outcome (also over a "did not finish" set meanwhile); nothing when it was pruned. */
  finishGcRun(id: number, outcome: GcRunOutcome): Promise<void>;
  /** Runs newest first (by id), those with an id below `before` when given. */
  listGcRuns(limit: number, before?: number): Promise<GcRun[]>;
  getGcRun(id: number): Promise<GcRun | undefined>;
}
