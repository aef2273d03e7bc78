// GcStore on PostgreSQL, for replicas sharing one database (tables, triggers and gc_hold() of
// migrations/008-gc.ts; run history of 010-gc-runs.ts). A writer's hold is one statement (gc_hold:
// shared advisory locks on its digests, then the check for sweep markers and the insert); its release
// one DELETE. A review or a sweep is one transaction at READ COMMITTED that first takes the digest's
// advisory lock exclusively in a statement of its own, then re-checks holds and rules with statements
// that therefore see every hold committed before (see the migration's header). BIGINT columns arrive
// as strings.
import {
  GC_RUN_UNFINISHED,
  type BlobFacts,
  type BlobReview,
  type DueCounts,
  type GcStore,
  type ManifestFacts,
  type ManifestReview,
  type QueuedManifest,
  type SweepStart,
} from '../../gc/gc-store.js';
import type { Lease } from '../../registry/metadata-store.js';
import type { Digest, RepoName } from '../../registry/references.js';
import {
  inTransaction,
  statement,
  toNumber,
  type BigintColumn,
  type PostgresClient,
  type PostgresPool,
} from './db.js';
import { GC_RUN_COLUMNS, GC_RUN_COUNT_COLUMNS, gcRunCountValues, gcRunOfRow } from '../gc-run-rows.js';
import { GC_LOCK_CLASS } from './migrations/008-gc.js';

/** Records a run, closing those left running (one statement: the update does not see the insert). */
const START_RUN = `
  WITH closed AS (UPDATE gc_runs SET status = 'failed', error = $6 WHERE status = 'running')
  INSERT INTO gc_runs (trigger, dry_run, delay_ms, host, started_at, status)
  VALUES ($1, $2, $3, $4, $5, 'running') RETURNING ${GC_RUN_COLUMNS}`;
const FINISH_RUN = `
  UPDATE gc_runs SET status = $2, finished_at = $3, error = $4,
  ${GC_RUN_COUNT_COLUMNS.map((column, i) => `${column} = $${i + 5}`).join(', ')} WHERE id = $1`;

/** The rules under which a manifest may go, for a statement that names the manifest `m`. */
const MANIFEST_UNUSED = `
  NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
  AND NOT EXISTS (SELECT 1 FROM manifest_references r
                  WHERE r.repository_id = m.repository_id AND r.kind = 'manifest'
                  AND r.target_digest = m.digest)
  AND NOT (m.subject_digest IS NOT NULL AND EXISTS (
    SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))`;

async function lockDigest(client: PostgresClient, digest: Digest): Promise<void> {
  await client.query(statement('SELECT pg_advisory_xact_lock($1, hashtext($2))', [GC_LOCK_CLASS, digest]));
}

async function isHeld(client: PostgresClient, digest: Digest, now: number): Promise<boolean> {
  const { rowCount } = await client.query(
    statement('SELECT 1 FROM gc_holds WHERE digest = $1 AND until > $2 LIMIT 1', [digest, now]),
  );
  return (rowCount ?? 0) > 0;
}

/** The sweep decision once the digest is locked and holds are known to be absent. */
async function startSweep(client: PostgresClient, digest: Digest, lease: Lease): Promise<SweepStart> {
  const { rows } = await client.query<{ sweeping: boolean; known: boolean }>(
    statement(
      `SELECT EXISTS (SELECT 1 FROM gc_sweeps WHERE digest = $1 AND until > $2) AS sweeping,
              EXISTS (SELECT 1 FROM repository_blobs WHERE digest = $1)
              OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1) AS known`,
      [digest, lease.now],
    ),
  );
  if (rows[0]?.sweeping) return { sweeping: false, reason: 'sweeping' };
  if (rows[0]?.known) return { sweeping: false, reason: 'kept' };
  return markSwept(client, digest, lease);
}

/** Records the marker, deletes the blob record and settles the queue: the digest is being swept. */
async function markSwept(client: PostgresClient, digest: Digest, lease: Lease): Promise<SweepStart> {
  const deleted = await client.query<{ size: BigintColumn | null }>(
    statement(
      `WITH marked AS (
         INSERT INTO gc_sweeps (digest, holder, until) VALUES ($1, $2, $3)
         ON CONFLICT (digest) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until),
       dequeued AS (DELETE FROM gc_blob_queue WHERE digest = $1)
       DELETE FROM blobs WHERE digest = $1 RETURNING size`,
      [digest, lease.holder, lease.until],
    ),
  );
  const size = deleted.rows[0]?.size;
  return { sweeping: true, size: size === undefined || size === null ? null : toNumber(size) };
}

export function createPostgresGcStore(pool: PostgresPool): GcStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;

  return {
    async hold(holder, digests, { now, until }) {
      if (digests.length === 0) return true;
      const [row] = await rows<{ held: boolean }>('SELECT gc_hold($1::text[], $2, $3, $4) AS held', [
        digests,
        holder,
        now,
        until,
      ]);
      return row?.held === true;
    },
    async renewHold(holder, until) {
      await pool.query(statement('UPDATE gc_holds SET until = $2 WHERE holder = $1', [holder, until]));
    },
    async releaseHold(holder) {
      await pool.query(statement('DELETE FROM gc_holds WHERE holder = $1', [holder]));
    },

    async dueManifests(before, limit, after) {
      const found = await rows<{
        repository_id: BigintColumn;
        digest: Digest;
        last_id: BigintColumn;
        queued_at: BigintColumn;
        name: RepoName | null;
      }>(
        `SELECT g.repository_id, g.digest, g.last_id, g.queued_at, r.name FROM (
           SELECT repository_id, digest, max(id) AS last_id, max(queued_at) AS queued_at
           FROM gc_manifest_queue WHERE (repository_id, digest) > ($2, $3)
           GROUP BY repository_id, digest HAVING max(queued_at) <= $1
           ORDER BY repository_id, digest LIMIT $4
         ) g LEFT JOIN repositories r ON r.id = g.repository_id
         ORDER BY g.repository_id, g.digest`,
        [before, after?.repositoryId ?? -1, after?.digest ?? '', limit],
      );
      return found.map((row) => ({
        repositoryId: toNumber(row.repository_id),
        repository: row.name ?? undefined,
        digest: row.digest,
        lastId: toNumber(row.last_id),
        queuedAt: toNumber(row.queued_at),
      }));
    },
    async dueBlobs(before, limit, after) {
      const found = await rows<{ digest: Digest; last_id: BigintColumn; queued_at: BigintColumn }>(
        `SELECT digest, max(id) AS last_id, max(queued_at) AS queued_at FROM gc_blob_queue
         WHERE digest > $2 GROUP BY digest HAVING max(queued_at) <= $1 ORDER BY digest LIMIT $3`,
        [before, after ?? '', limit],
      );
      return found.map((row) => ({
        digest: row.digest,
        lastId: toNumber(row.last_id),
        queuedAt: toNumber(row.queued_at),
      }));
    },
    async dueUploads(before, limit, after) {
      const found = await rows<{ id: string; queued_at: BigintColumn }>(
        `SELECT id, queued_at FROM gc_upload_queue WHERE queued_at <= $1 AND id > $2 ORDER BY id LIMIT $3`,
        [before, after ?? '', limit],
      );
      return found.map((row) => ({ id: row.id, queuedAt: toNumber(row.queued_at) }));
    },
    async countDue(before): Promise<DueCounts> {
      const [row] = await rows<{ manifests: string; blobs: string; uploads: string }>(
        `SELECT (SELECT count(*) FROM (SELECT 1 FROM gc_manifest_queue GROUP BY repository_id, digest
                                       HAVING max(queued_at) <= $1) m) AS manifests,
                (SELECT count(*) FROM (SELECT 1 FROM gc_blob_queue GROUP BY digest
                                       HAVING max(queued_at) <= $1) b) AS blobs,
                (SELECT count(*) FROM gc_upload_queue WHERE queued_at <= $1) AS uploads`,
        [before],
      );
      return {
        manifests: Number(row?.manifests ?? 0),
        blobs: Number(row?.blobs ?? 0),
        uploads: Number(row?.uploads ?? 0),
      };
    },

    reviewManifest: (item: QueuedManifest, now: number) =>
      inTransaction(pool, async (client): Promise<ManifestReview> => {
        await lockDigest(client, item.digest);
        if (await isHeld(client, item.digest, now)) return 'held';
        const deleted = await client.query(
          statement(
            `DELETE FROM manifests m WHERE m.repository_id = $1 AND m.digest = $2 AND ${MANIFEST_UNUSED}`,
            [item.repositoryId, item.digest],
          ),
        );
        if ((deleted.rowCount ?? 0) > 0) {
          await client.query(
            statement('DELETE FROM gc_manifest_queue WHERE repository_id = $1 AND digest = $2', [
              item.repositoryId,
              item.digest,
            ]),
          );
          return 'deleted';
        }
        const { rows: remaining } = await client.query<{ present: boolean }>(
          statement(
            `WITH dequeued AS (
               DELETE FROM gc_manifest_queue WHERE repository_id = $1 AND digest = $2 AND id <= $3)
             SELECT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2) AS present`,
            [item.repositoryId, item.digest, item.lastId],
          ),
        );
        return remaining[0]?.present ? 'kept' : 'gone';
      }),
    async dequeueManifest(item) {
      await pool.query(
        statement('DELETE FROM gc_manifest_queue WHERE repository_id = $1 AND digest = $2 AND id <= $3', [
          item.repositoryId,
          item.digest,
          item.lastId,
        ]),
      );
    },
    reviewBlob: (item, lease) =>
      inTransaction(pool, async (client): Promise<BlobReview> => {
        await lockDigest(client, item.digest);
        // One statement (one snapshot, taken after the lock): the hold check, the unused links'
        // removal, whether anything still knows the digest once they are gone, and, when something
        // does, the queue entries settled. Its sweep, if any, is the next statement.
        const { rows: review } = await client.query<{
          held: boolean;
          sweeping: boolean;
          known: boolean;
          unlinked: RepoName[];
        }>(
          statement(
            `WITH held AS (
               SELECT EXISTS (SELECT 1 FROM gc_holds WHERE digest = $1 AND until > $2) AS yes),
             gone AS (
               DELETE FROM repository_blobs rb WHERE rb.digest = $1 AND NOT (SELECT yes FROM held)
               AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository_id = rb.repository_id
                               AND r.kind = 'blob' AND r.target_digest = $1)
               RETURNING rb.repository_id),
             state AS (
               SELECT (SELECT yes FROM held) AS held,
                 EXISTS (SELECT 1 FROM gc_sweeps WHERE digest = $1 AND until > $2) AS sweeping,
                 EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = $1
                         AND rb.repository_id NOT IN (SELECT repository_id FROM gone))
                 OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1) AS known),
             settled AS (
               DELETE FROM gc_blob_queue WHERE digest = $1 AND id <= $3
               AND (SELECT NOT held AND NOT sweeping AND known FROM state))
             SELECT held, sweeping, known,
               ARRAY(SELECT r.name FROM gone JOIN repositories r ON r.id = gone.repository_id ORDER BY r.name)
                 AS unlinked
             FROM state`,
            [item.digest, lease.now, item.lastId],
          ),
        );
        const state = review[0] as { held: boolean; sweeping: boolean; known: boolean; unlinked: RepoName[] };
        if (state.held) return { unlinked: [], sweep: { sweeping: false, reason: 'held' } };
        if (state.sweeping)
          return { unlinked: state.unlinked, sweep: { sweeping: false, reason: 'sweeping' } };
        if (state.known) return { unlinked: state.unlinked, sweep: { sweeping: false, reason: 'kept' } };
        return { unlinked: state.unlinked, sweep: await markSwept(client, item.digest, lease) };
      }),
    async uploadExists(id) {
      return (await rows('SELECT 1 FROM uploads WHERE id = $1', [id])).length > 0;
    },
    async dequeueUpload(id) {
      await pool.query(statement('DELETE FROM gc_upload_queue WHERE id = $1', [id]));
    },

    beginSweep: (digest, lease) =>
      inTransaction(pool, async (client): Promise<SweepStart> => {
        await lockDigest(client, digest);
        if (await isHeld(client, digest, lease.now)) return { sweeping: false, reason: 'held' };
        return startSweep(client, digest, lease);
      }),
    async confirmSweep(digest, { holder, now, until }) {
      const { rowCount } = await pool.query(
        statement('UPDATE gc_sweeps SET until = $4 WHERE digest = $1 AND holder = $2 AND until > $3', [
          digest,
          holder,
          now,
          until,
        ]),
      );
      return rowCount === 1;
    },
    async endSweep(digest, holder) {
      await pool.query(
        statement('DELETE FROM gc_sweeps WHERE digest = $1 AND holder = $2', [digest, holder]),
      );
    },

    async manifestFacts(repository, digest): Promise<ManifestFacts | undefined> {
      const [row] = await rows<{
        repository_id: string;
        subject_digest: Digest | null;
        tagged: boolean;
        subject_present: boolean;
        parents: Digest[];
        blobs: Digest[];
        children: Digest[];
        referrers: Digest[];
      }>(
        `SELECT m.repository_id, m.subject_digest,
           EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest) AS tagged,
           EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id
                   AND s.digest = m.subject_digest) AS subject_present,
           ARRAY(SELECT manifest_digest FROM manifest_references r WHERE r.repository_id = m.repository_id
                 AND r.kind = 'manifest' AND r.target_digest = m.digest ORDER BY 1) AS parents,
           ARRAY(SELECT target_digest FROM manifest_references r WHERE r.repository_id = m.repository_id
                 AND r.manifest_digest = m.digest AND r.kind = 'blob' ORDER BY 1) AS blobs,
           ARRAY(SELECT target_digest FROM manifest_references r WHERE r.repository_id = m.repository_id
                 AND r.manifest_digest = m.digest AND r.kind = 'manifest' ORDER BY 1) AS children,
           ARRAY(SELECT digest FROM manifests f WHERE f.repository_id = m.repository_id
                 AND f.subject_digest = m.digest ORDER BY 1) AS referrers
         FROM manifests m
         WHERE m.repository_id = (SELECT id FROM repositories WHERE name = $1) AND m.digest = $2`,
        [repository, digest],
      );
      if (!row) return undefined;
      return {
        tagged: row.tagged,
        parents: row.parents,
        subject: row.subject_digest,
        subjectPresent: row.subject_present,
        blobs: row.blobs,
        children: row.children,
        referrers: row.referrers,
      };
    },
    async blobFacts(digest): Promise<BlobFacts> {
      const links = await rows<{ name: RepoName; referenced_by: Digest[] }>(
        `SELECT r.name, ARRAY(SELECT manifest_digest FROM manifest_references x
                              WHERE x.repository_id = rb.repository_id AND x.kind = 'blob'
                              AND x.target_digest = rb.digest ORDER BY 1) AS referenced_by
         FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
         WHERE rb.digest = $1 ORDER BY r.name`,
        [digest],
      );
      const manifestIn = await rows<{ name: RepoName }>(
        `SELECT r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE m.digest = $1 ORDER BY r.name`,
        [digest],
      );
      const [blob] = await rows<{ size: BigintColumn }>('SELECT size FROM blobs WHERE digest = $1', [digest]);
      return {
        links: links.map((link) => ({ repository: link.name, referencedBy: link.referenced_by })),
        manifestIn: manifestIn.map((row) => row.name),
        size: blob ? toNumber(blob.size) : null,
      };
    },

    async unknownDigests(digests) {
      if (digests.length === 0) return [];
      const found = await rows<{ digest: Digest }>(
        `SELECT d AS digest FROM unnest($1::text[]) AS d
         WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE digest = d)
         AND NOT EXISTS (SELECT 1 FROM manifests WHERE digest = d)
         AND NOT EXISTS (SELECT 1 FROM gc_blob_queue WHERE digest = d)`,
        [digests],
      );
      return found.map((row) => row.digest);
    },
    async unknownUploads(ids) {
      if (ids.length === 0) return [];
      const found = await rows<{ id: string }>(
        'SELECT u AS id FROM unnest($1::text[]) AS u WHERE NOT EXISTS (SELECT 1 FROM uploads WHERE id = u)',
        [ids],
      );
      return found.map((row) => row.id);
    },
    async noteOrphans(keys, now, record) {
      if (keys.length === 0) return new Map<string, number>();
      if (record) {
        await pool.query(
          statement(
            `INSERT INTO gc_orphans (key, first_seen, last_seen)
             SELECT k, $2, $2 FROM unnest($1::text[]) AS k
             ON CONFLICT (key) DO UPDATE SET last_seen = EXCLUDED.last_seen`,
            [[...new Set(keys)], now],
          ),
        );
      }
      const found = await rows<{ key: string; first_seen: BigintColumn }>(
        'SELECT key, first_seen FROM gc_orphans WHERE key = ANY($1::text[])',
        [keys],
      );
      return new Map(found.map((row) => [row.key, toNumber(row.first_seen)]));
    },
    async forgetOrphans(seenBefore) {
      await pool.query(statement('DELETE FROM gc_orphans WHERE last_seen < $1', [seenBefore]));
    },
    async forgetOrphan(key) {
      await pool.query(statement('DELETE FROM gc_orphans WHERE key = $1', [key]));
    },
    async dropExpired(now) {
      const [row] = await rows<{ holds: string; sweeps: string }>(
        `WITH holds AS (DELETE FROM gc_holds WHERE until <= $1 RETURNING 1),
              sweeps AS (DELETE FROM gc_sweeps WHERE until <= $1 RETURNING 1)
         SELECT (SELECT count(*) FROM holds) AS holds, (SELECT count(*) FROM sweeps) AS sweeps`,
        [now],
      );
      return { holds: Number(row?.holds ?? 0), sweeps: Number(row?.sweeps ?? 0) };
    },

    startGcRun: (run, keep) =>
      inTransaction(pool, async (client) => {
        const { rows: started } = await client.query<Record<string, unknown>>(
          statement(START_RUN, [
            run.trigger,
            run.dryRun,
            run.delayMs,
            run.host,
            run.startedAt,
            GC_RUN_UNFINISHED,
          ]),
        );
        await client.query(
          statement(
            'DELETE FROM gc_runs WHERE id <= (SELECT id FROM gc_runs ORDER BY id DESC OFFSET $1 LIMIT 1)',
            [keep],
          ),
        );
        return gcRunOfRow(started[0] as Record<string, unknown>);
      }),
    async finishGcRun(id, outcome) {
      const error = outcome.status === 'failed' ? outcome.error : null;
      await pool.query(
        statement(FINISH_RUN, [id, outcome.status, outcome.finishedAt, error, ...gcRunCountValues(outcome)]),
      );
    },
    async listGcRuns(limit, before) {
      const found = await rows<Record<string, unknown>>(
        `SELECT ${GC_RUN_COLUMNS} FROM gc_runs WHERE id < $1 ORDER BY id DESC LIMIT $2`,
        [before ?? Number.MAX_SAFE_INTEGER, limit],
      );
      return found.map(gcRunOfRow);
    },
    async getGcRun(id) {
      const [row] = await rows<Record<string, unknown>>(
        `SELECT ${GC_RUN_COLUMNS} FROM gc_runs WHERE id = $1`,
        [id],
      );
      return row && gcRunOfRow(row);
    },
  };
}
