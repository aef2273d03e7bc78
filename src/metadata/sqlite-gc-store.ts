// GcStore on SQLite: the only place with garbage collection's SQL for it (tables and triggers of
// migrations/009-gc.ts, run history of 011-gc-runs.ts). Each call is one statement or one IMMEDIATE
// transaction, run synchronously through the connection's lock (connection-lock.ts). SQLite has one
// writer at a time, so a review's transaction, which re-checks the rules and the holds before it
// deletes, is never interleaved with a writer's hold or with the records a held writer adds. After
// each committed deletion of manifests or links it calls `onIndexChange` (the read cache of the
// MetadataStore sharing the connection cannot see this connection's own commits: index-changes.ts).
import {
  GC_RUN_UNFINISHED,
  type BlobFacts,
  type BlobReview,
  type DueCounts,
  type GcRun,
  type GcStore,
  type ManifestFacts,
  type ManifestReview,
  type NewGcRun,
  type QueuedBlob,
  type QueuedManifest,
  type QueuedUpload,
  type SweepStart,
} from '../gc/gc-store.js';
import type { Lease } from '../registry/metadata-store.js';
import type { Digest, RepoName } from '../registry/references.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';
import { GC_RUN_COLUMNS, GC_RUN_COUNT_COLUMNS, gcRunCountValues, gcRunOfRow } from './gc-run-rows.js';

export interface SqliteGcStoreOptions {
  /** Told after each committed deletion of index rows (manifests, links). */
  onIndexChange?: () => void;
}

interface DueManifestRow {
  repository_id: number;
  digest: string;
  last_id: number;
  queued_at: number;
  name: string | null;
}

/** The rules under which a manifest may go, for a statement that names the manifest `manifests`. */
const MANIFEST_UNUSED = `
  NOT EXISTS (SELECT 1 FROM tags t
              WHERE t.repository_id = manifests.repository_id AND t.digest = manifests.digest)
  AND NOT EXISTS (SELECT 1 FROM manifest_references r
                  WHERE r.repository_id = manifests.repository_id AND r.kind = 'manifest'
                  AND r.target_digest = manifests.digest)
  AND NOT (manifests.subject_digest IS NOT NULL AND EXISTS (
    SELECT 1 FROM manifests s
    WHERE s.repository_id = manifests.repository_id AND s.digest = manifests.subject_digest))`;

export function createSqliteGcStore(db: SqliteDatabase, options: SqliteGcStoreOptions = {}): GcStore {
  const changed = () => options.onIndexChange?.();
  const s = {
    hold: db.prepare(
      `INSERT INTO gc_holds (digest, holder, until)
       SELECT DISTINCT value, @holder, @until FROM json_each(@digests)
       WHERE NOT EXISTS (SELECT 1 FROM gc_sweeps
                         WHERE digest IN (SELECT value FROM json_each(@digests)) AND until > @now)
       ON CONFLICT (digest, holder) DO UPDATE SET until = excluded.until`,
    ),
    renewHold: db.prepare('UPDATE gc_holds SET until = ? WHERE holder = ?'),
    releaseHold: db.prepare('DELETE FROM gc_holds WHERE holder = ?'),
    held: db.prepare('SELECT 1 FROM gc_holds WHERE digest = ? AND until > ? LIMIT 1').pluck(),

    dueManifests: db.prepare(
      `SELECT g.repository_id, g.digest, g.last_id, g.queued_at, r.name FROM (
         SELECT repository_id, digest, max(id) AS last_id, max(queued_at) AS queued_at
         FROM gc_manifest_queue WHERE (repository_id, digest) > (@afterRepository, @afterDigest)
         GROUP BY repository_id, digest HAVING max(queued_at) <= @before
         ORDER BY repository_id, digest LIMIT @limit
       ) g LEFT JOIN repositories r ON r.id = g.repository_id
       ORDER BY g.repository_id, g.digest`,
    ),
    dueBlobs: db.prepare(
      `SELECT digest, max(id) AS last_id, max(queued_at) AS queued_at FROM gc_blob_queue
       WHERE digest > @after GROUP BY digest HAVING max(queued_at) <= @before
       ORDER BY digest LIMIT @limit`,
    ),
    dueUploads: db.prepare(
      `SELECT id, queued_at FROM gc_upload_queue WHERE queued_at <= @before AND id > @after
       ORDER BY id LIMIT @limit`,
    ),
    countManifests: db
      .prepare(
        `SELECT count(*) FROM (SELECT 1 FROM gc_manifest_queue GROUP BY repository_id, digest
         HAVING max(queued_at) <= ?)`,
      )
      .pluck(),
    countBlobs: db
      .prepare(
        'SELECT count(*) FROM (SELECT 1 FROM gc_blob_queue GROUP BY digest HAVING max(queued_at) <= ?)',
      )
      .pluck(),
    countUploads: db.prepare('SELECT count(*) FROM gc_upload_queue WHERE queued_at <= ?').pluck(),

    deleteUnusedManifest: db.prepare(
      `DELETE FROM manifests WHERE repository_id = @repositoryId AND digest = @digest AND ${MANIFEST_UNUSED}`,
    ),
    manifestExists: db
      .prepare('SELECT 1 FROM manifests WHERE repository_id = @repositoryId AND digest = @digest')
      .pluck(),
    dequeueManifest: db.prepare(
      'DELETE FROM gc_manifest_queue WHERE repository_id = @repositoryId AND digest = @digest AND id <= @lastId',
    ),
    dequeueManifestAll: db.prepare(
      'DELETE FROM gc_manifest_queue WHERE repository_id = @repositoryId AND digest = @digest',
    ),

    unlinkUnreferenced: db.prepare(
      `DELETE FROM repository_blobs WHERE digest = @digest AND NOT EXISTS (
         SELECT 1 FROM manifest_references r WHERE r.repository_id = repository_blobs.repository_id
         AND r.kind = 'blob' AND r.target_digest = @digest)
       RETURNING (SELECT name FROM repositories WHERE id = repository_blobs.repository_id) AS name`,
    ),
    sweeping: db.prepare('SELECT 1 FROM gc_sweeps WHERE digest = ? AND until > ?').pluck(),
    known: db
      .prepare(
        `SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = @digest)
             OR EXISTS (SELECT 1 FROM manifests WHERE digest = @digest)`,
      )
      .pluck(),
    mark: db.prepare(
      `INSERT INTO gc_sweeps (digest, holder, until) VALUES (@digest, @holder, @until)
       ON CONFLICT (digest) DO UPDATE SET holder = excluded.holder, until = excluded.until`,
    ),
    deleteBlob: db.prepare('DELETE FROM blobs WHERE digest = ? RETURNING size').pluck(),
    dequeueBlob: db.prepare('DELETE FROM gc_blob_queue WHERE digest = ? AND id <= ?'),
    dequeueBlobAll: db.prepare('DELETE FROM gc_blob_queue WHERE digest = ?'),
    confirmSweep: db.prepare(
      `UPDATE gc_sweeps SET until = @until
       WHERE digest = @digest AND holder = @holder AND until > @now`,
    ),
    endSweep: db.prepare('DELETE FROM gc_sweeps WHERE digest = ? AND holder = ?'),

    uploadExists: db.prepare('SELECT 1 FROM uploads WHERE id = ?').pluck(),
    dequeueUpload: db.prepare('DELETE FROM gc_upload_queue WHERE id = ?'),

    manifest: db.prepare(
      `SELECT repository_id, subject_digest FROM manifests
       WHERE repository_id = (SELECT id FROM repositories WHERE name = @repository) AND digest = @digest`,
    ),
    tagged: db.prepare('SELECT 1 FROM tags WHERE repository_id = ? AND digest = ? LIMIT 1').pluck(),
    parents: db
      .prepare(
        `SELECT manifest_digest FROM manifest_references
         WHERE repository_id = ? AND kind = 'manifest' AND target_digest = ? ORDER BY manifest_digest`,
      )
      .pluck(),
    references: db.prepare(
      `SELECT kind, target_digest FROM manifest_references
       WHERE repository_id = ? AND manifest_digest = ? ORDER BY kind, target_digest`,
    ),
    referrers: db
      .prepare('SELECT digest FROM manifests WHERE repository_id = ? AND subject_digest = ? ORDER BY digest')
      .pluck(),
    links: db.prepare(
      `SELECT r.name, rb.repository_id FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
       WHERE rb.digest = ? ORDER BY r.name`,
    ),
    blobReferences: db.prepare(
      `SELECT repository_id, manifest_digest FROM manifest_references
       WHERE kind = 'blob' AND target_digest = ? ORDER BY manifest_digest`,
    ),
    manifestIn: db
      .prepare(
        `SELECT r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE m.digest = ? ORDER BY r.name`,
      )
      .pluck(),
    blobSize: db.prepare('SELECT size FROM blobs WHERE digest = ?').pluck(),

    unknownDigests: db
      .prepare(
        `SELECT value FROM json_each(?) WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE digest = value)
         AND NOT EXISTS (SELECT 1 FROM manifests WHERE digest = value)
         AND NOT EXISTS (SELECT 1 FROM gc_blob_queue WHERE digest = value)`,
      )
      .pluck(),
    unknownUploads: db
      .prepare('SELECT value FROM json_each(?) WHERE NOT EXISTS (SELECT 1 FROM uploads WHERE id = value)')
      .pluck(),
    noteOrphan: db.prepare(
      `INSERT INTO gc_orphans (key, first_seen, last_seen) VALUES (?, @now, @now)
       ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen`,
    ),
    orphansSeen: db.prepare(
      'SELECT key, first_seen FROM gc_orphans WHERE key IN (SELECT value FROM json_each(?))',
    ),
    forgetOrphans: db.prepare('DELETE FROM gc_orphans WHERE last_seen < ?'),
    forgetOrphan: db.prepare('DELETE FROM gc_orphans WHERE key = ?'),
    dropHolds: db.prepare('DELETE FROM gc_holds WHERE until <= ?'),
    dropSweeps: db.prepare('DELETE FROM gc_sweeps WHERE until <= ?'),

    closeUnfinishedRuns: db.prepare(
      "UPDATE gc_runs SET status = 'failed', error = ? WHERE status = 'running'",
    ),
    insertRun: db.prepare(
      `INSERT INTO gc_runs (trigger, dry_run, delay_ms, host, started_at, status)
       VALUES (@trigger, @dryRun, @delayMs, @host, @startedAt, 'running') RETURNING ${GC_RUN_COLUMNS}`,
    ),
    pruneRuns: db.prepare(
      'DELETE FROM gc_runs WHERE id <= (SELECT id FROM gc_runs ORDER BY id DESC LIMIT 1 OFFSET ?)',
    ),
    finishRun: db.prepare(
      `UPDATE gc_runs SET status = ?, finished_at = ?, error = ?,
       ${GC_RUN_COUNT_COLUMNS.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`,
    ),
    listRuns: db.prepare(`SELECT ${GC_RUN_COLUMNS} FROM gc_runs WHERE id < ? ORDER BY id DESC LIMIT ?`),
    getRun: db.prepare(`SELECT ${GC_RUN_COLUMNS} FROM gc_runs WHERE id = ?`),
  };

  /** The sweep decision once holds are known to be absent (inside a transaction). */
  function startSweep(digest: Digest, lease: Lease): SweepStart {
    if (s.sweeping.get(digest, lease.now)) return { sweeping: false, reason: 'sweeping' };
    if (s.known.get({ digest })) return { sweeping: false, reason: 'kept' };
    s.mark.run({ digest, holder: lease.holder, until: lease.until });
    const size = (s.deleteBlob.get(digest) as number | undefined) ?? null;
    s.dequeueBlobAll.run(digest);
    return { sweeping: true, size };
  }

  const reviewManifest = db.transaction((item: QueuedManifest, now: number): ManifestReview => {
    const key = { repositoryId: item.repositoryId, digest: item.digest };
    if (s.held.get(item.digest, now)) return 'held';
    if (s.deleteUnusedManifest.run(key).changes > 0) {
      s.dequeueManifestAll.run(key);
      return 'deleted';
    }
    s.dequeueManifest.run({ ...key, lastId: item.lastId });
    return s.manifestExists.get(key) ? 'kept' : 'gone';
  });

  const reviewBlob = db.transaction((item: QueuedBlob, lease: Lease): BlobReview => {
    if (s.held.get(item.digest, lease.now)) {
      return { unlinked: [], sweep: { sweeping: false, reason: 'held' } };
    }
    const unlinked = (s.unlinkUnreferenced.all({ digest: item.digest }) as Array<{ name: RepoName }>).map(
      (row) => row.name,
    );
    const sweep = startSweep(item.digest, lease);
    if (!sweep.sweeping && sweep.reason === 'kept') s.dequeueBlob.run(item.digest, item.lastId);
    return { unlinked, sweep };
  });

  const beginSweep = db.transaction((digest: Digest, lease: Lease): SweepStart => {
    if (s.held.get(digest, lease.now)) return { sweeping: false, reason: 'held' };
    return startSweep(digest, lease);
  });

  const noteOrphans = db.transaction((keys: readonly string[], now: number, record: boolean) => {
    if (record) for (const key of keys) s.noteOrphan.run(key, { now });
    const rows = s.orphansSeen.all(JSON.stringify(keys)) as Array<{ key: string; first_seen: number }>;
    return new Map(rows.map((row) => [row.key, row.first_seen]));
  });

  const dropExpired = db.transaction((now: number) => ({
    holds: s.dropHolds.run(now).changes,
    sweeps: s.dropSweeps.run(now).changes,
  }));

  const startRun = db.transaction((run: NewGcRun, keep: number): GcRun => {
    s.closeUnfinishedRuns.run(GC_RUN_UNFINISHED);
    const row = s.insertRun.get({ ...run, dryRun: run.dryRun ? 1 : 0 }) as Record<string, unknown>;
    s.pruneRuns.run(keep);
    return gcRunOfRow(row);
  });

  const store: Synchronous<GcStore> = {
    hold(holder, digests, { now, until }) {
      if (digests.length === 0) return true;
      return s.hold.run({ holder, digests: JSON.stringify(digests), now, until }).changes > 0;
    },
    renewHold: (holder, until) => void s.renewHold.run(until, holder),
    releaseHold: (holder) => void s.releaseHold.run(holder),

    dueManifests(before, limit, after) {
      const rows = s.dueManifests.all({
        before,
        limit,
        afterRepository: after?.repositoryId ?? -1,
        afterDigest: after?.digest ?? '',
      }) as DueManifestRow[];
      return rows.map((row) => ({
        repositoryId: row.repository_id,
        repository: (row.name ?? undefined) as RepoName | undefined,
        digest: row.digest as Digest,
        lastId: row.last_id,
        queuedAt: row.queued_at,
      }));
    },
    dueBlobs(before, limit, after) {
      const rows = s.dueBlobs.all({ before, limit, after: after ?? '' }) as Array<{
        digest: Digest;
        last_id: number;
        queued_at: number;
      }>;
      return rows.map((row) => ({ digest: row.digest, lastId: row.last_id, queuedAt: row.queued_at }));
    },
    dueUploads(before, limit, after): QueuedUpload[] {
      const rows = s.dueUploads.all({ before, limit, after: after ?? '' }) as Array<{
        id: string;
        queued_at: number;
      }>;
      return rows.map((row) => ({ id: row.id, queuedAt: row.queued_at }));
    },
    countDue: (before): DueCounts => ({
      manifests: s.countManifests.get(before) as number,
      blobs: s.countBlobs.get(before) as number,
      uploads: s.countUploads.get(before) as number,
    }),

    reviewManifest(item, now) {
      const outcome = reviewManifest.immediate(item, now);
      if (outcome === 'deleted') changed();
      return outcome;
    },
    dequeueManifest: (item) =>
      void s.dequeueManifest.run({
        repositoryId: item.repositoryId,
        digest: item.digest,
        lastId: item.lastId,
      }),
    reviewBlob(item, lease) {
      const review = reviewBlob.immediate(item, lease);
      if (review.unlinked.length > 0) changed();
      return review;
    },
    uploadExists: (id) => s.uploadExists.get(id) !== undefined,
    dequeueUpload: (id) => void s.dequeueUpload.run(id),

    beginSweep: (digest, lease) => beginSweep.immediate(digest, lease),
    confirmSweep: (digest, { holder, now, until }) =>
      s.confirmSweep.run({ digest, holder, now, until }).changes === 1,
    endSweep: (digest, holder) => void s.endSweep.run(digest, holder),

    manifestFacts(repository, digest): ManifestFacts | undefined {
      const row = s.manifest.get({ repository, digest }) as
        { repository_id: number; subject_digest: Digest | null } | undefined;
      if (!row) return undefined;
      const id = row.repository_id;
      const references = s.references.all(id, digest) as Array<{ kind: string; target_digest: Digest }>;
      const subject = row.subject_digest;
      return {
        tagged: s.tagged.get(id, digest) !== undefined,
        parents: s.parents.all(id, digest) as Digest[],
        subject,
        subjectPresent:
          subject !== null && s.manifestExists.get({ repositoryId: id, digest: subject }) !== undefined,
        blobs: references.filter((r) => r.kind === 'blob').map((r) => r.target_digest),
        children: references.filter((r) => r.kind === 'manifest').map((r) => r.target_digest),
        referrers: s.referrers.all(id, digest) as Digest[],
      };
    },
    blobFacts(digest): BlobFacts {
      const references = s.blobReferences.all(digest) as Array<{
        repository_id: number;
        manifest_digest: Digest;
      }>;
      const links = (s.links.all(digest) as Array<{ name: RepoName; repository_id: number }>).map((link) => ({
        repository: link.name,
        referencedBy: references
          .filter((r) => r.repository_id === link.repository_id)
          .map((r) => r.manifest_digest),
      }));
      return {
        links,
        manifestIn: s.manifestIn.all(digest) as RepoName[],
        size: (s.blobSize.get(digest) as number | undefined) ?? null,
      };
    },

    unknownDigests: (digests) =>
      digests.length === 0 ? [] : (s.unknownDigests.all(JSON.stringify(digests)) as Digest[]),
    unknownUploads: (ids) =>
      ids.length === 0 ? [] : (s.unknownUploads.all(JSON.stringify(ids)) as string[]),
    noteOrphans: (keys, now, record) =>
      keys.length === 0 ? new Map<string, number>() : noteOrphans.immediate(keys, now, record),
    forgetOrphans: (seenBefore) => void s.forgetOrphans.run(seenBefore),
    forgetOrphan: (key) => void s.forgetOrphan.run(key),
    dropExpired: (now) => dropExpired.immediate(now),

    startGcRun: (run, keep) => startRun.immediate(run, keep),
    finishGcRun(id, outcome) {
      const error = outcome.status === 'failed' ? outcome.error : null;
      s.finishRun.run(outcome.status, outcome.finishedAt, error, ...gcRunCountValues(outcome), id);
    },
    listGcRuns: (limit, before) =>
      (s.listRuns.all(before ?? Number.MAX_SAFE_INTEGER, limit) as Array<Record<string, unknown>>).map(
        gcRunOfRow,
      ),
    getGcRun(id) {
      const row = s.getRun.get(id) as Record<string, unknown> | undefined;
      return row && gcRunOfRow(row);
    },
  };
  return asAsync<GcStore>(store, connectionLock(db).run);
}
