// MetadataStore on PostgreSQL, for replicas sharing one database. Every method is one parameterized
// statement, or one transaction on one pooled connection (inTransaction), at READ COMMITTED.
// Names sort by bytes (the schema declares COLLATE "C"), as on SQLite. BIGINT columns arrive as
// strings and are converted to numbers: sizes and ms timestamps stay below 2^53.
import type { LoginThrottleStore } from '../../auth/login-throttle-store.js';
import type { AccountStore } from '../../auth/model.js';
import type { GcStore } from '../../gc/gc-store.js';
import type { CatalogStore } from '../../registry/catalog-store.js';
import type { MirrorStore } from '../../mirror/mirror-store.js';
import type { OutboxStore } from '../../notifications/outbox-store.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import type {
  ManifestRecord,
  ManifestReferences,
  MetadataStore,
  Page,
  UploadRecord,
} from '../../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../registry/references.js';
import { naturalKey, semverKey } from '../../registry/tag-sort-keys.js';
import {
  inTransaction,
  openPostgresDatabase,
  statement,
  toNumber,
  type BigintColumn,
  type PostgresClient,
  type PostgresOptions,
  type PostgresPool,
} from './db.js';
import { createPostgresAccountStore } from './postgres-account-store.js';
import { createPostgresCatalogStore } from './postgres-catalog-store.js';
import { createPostgresGcStore } from './postgres-gc-store.js';
import { createPostgresLoginThrottleStore } from './postgres-login-throttle-store.js';
import { createPostgresMirrorStore } from './postgres-mirror-store.js';
import { createPostgresOutboxStore } from './postgres-outbox-store.js';
import { createPostgresPolicyStore } from './postgres-policy-store.js';
import { reportingUnavailable } from './unavailable.js';

interface ManifestRow {
  digest: string;
  media_type: string;
  size: BigintColumn;
  artifact_type: string | null;
  subject_digest: string | null;
  annotations: Record<string, string> | null;
}

interface UploadRow {
  id: string;
  repository: string;
  size: BigintColumn;
  started_at: BigintColumn;
  updated_at: BigintColumn;
}

function toManifest(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: toNumber(row.size),
    artifactType: row.artifact_type,
    subject: row.subject_digest as Digest | null,
    annotations: row.annotations,
  };
}

function toUpload(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    repository: row.repository as RepoName,
    size: toNumber(row.size),
    startedAt: toNumber(row.started_at),
    updatedAt: toNumber(row.updated_at),
  };
}

const repoId = (param: string) => `(SELECT id FROM repositories WHERE name = ${param})`;
const MANIFEST_COLUMNS = 'digest, media_type, size, artifact_type, subject_digest, annotations';
const UPLOAD_COLUMNS = 'id, repository, size, started_at, updated_at';
/** Attempts at recording a manifest while concurrent deletes of the same manifest keep winning. */
const PUT_MANIFEST_ATTEMPTS = 5;

/** As SQLite's LIMIT: no limit when absent or negative. */
const pageParams = (page: Page) => [
  page.last ?? '',
  page.limit === undefined || page.limit < 0 ? null : page.limit,
];

/** The repository's id, creating it on demand. Repositories are never deleted. */
async function ensureRepository(client: PostgresClient, repository: RepoName, at: number): Promise<string> {
  // Most writes go to a repository that exists: look first, insert only when it does not.
  const existing = await client.query<{ id: string }>(
    statement('SELECT id FROM repositories WHERE name = $1', [repository]),
  );
  if (existing.rows[0]) return existing.rows[0].id;
  const inserted = await client.query<{ id: string }>(
    statement(
      'INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id',
      [repository, at],
    ),
  );
  if (inserted.rows[0]) return inserted.rows[0].id;
  // A new statement sees the row that a concurrent transaction committed while our INSERT waited.
  const found = await client.query<{ id: string }>(
    statement('SELECT id FROM repositories WHERE name = $1', [repository]),
  );
  if (!found.rows[0]) throw new Error(`repository ${repository} vanished while being recorded`);
  return found.rows[0].id;
}

/**
 * Makes the manifest exist until the transaction ends: inserts it, or takes a key-share lock on the
 * row already there so that a concurrent deleteManifest waits for this transaction (and then removes
 * the tag and references it adds too) instead of leaving them pointing at nothing.
 */
async function holdManifest(
  client: PostgresClient,
  id: string,
  manifest: ManifestRecord,
  at: number,
): Promise<void> {
  for (let attempt = 0; attempt < PUT_MANIFEST_ATTEMPTS; attempt++) {
    const inserted = await client.query(
      statement(
        `INSERT INTO manifests (repository_id, ${MANIFEST_COLUMNS}, created_at, total_size, platforms, image_created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
        [
          id,
          manifest.digest,
          manifest.mediaType,
          manifest.size,
          manifest.artifactType,
          manifest.subject,
          manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          at,
          manifest.details?.totalSize ?? manifest.size,
          manifest.details?.platforms ? JSON.stringify(manifest.details.platforms) : null,
          manifest.details?.imageCreated ?? null,
        ],
      ),
    );
    if (inserted.rowCount === 1) return;
    const held = await client.query(
      statement('SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR KEY SHARE', [
        id,
        manifest.digest,
      ]),
    );
    if (held.rowCount === 1) return;
  }
  throw new Error(`manifest ${manifest.digest} kept being deleted while it was recorded`);
}

export function createPostgresMetadataStore(pool: PostgresPool, now: () => number = Date.now): MetadataStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;
  const changed = async (text: string, values: unknown[]): Promise<number> =>
    (await pool.query(statement(text, values))).rowCount ?? 0;

  const sizes = async (query: string, repository: RepoName, digests: readonly Digest[]) => {
    if (digests.length === 0) return new Map<Digest, number>();
    const found = await rows<{ digest: Digest; size: BigintColumn }>(query, [
      repository,
      [...new Set(digests)],
    ]);
    return new Map(found.map((row) => [row.digest, toNumber(row.size)]));
  };

  /** A repository's first blob: the repository, the blob and the link in one transaction. */
  const createRepositoryAndLink = (repository: RepoName, digest: Digest, size: number) =>
    inTransaction(pool, async (client) => {
      const at = now();
      const id = await ensureRepository(client, repository, at);
      await client.query(
        'INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [digest, size, at],
      );
      await client.query(
        `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [id, digest, at],
      );
    });

  return {
    async findRepositoryBlob(repository, digest) {
      const [row] = await rows<{ size: BigintColumn }>(
        `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
         WHERE rb.repository_id = ${repoId('$1')} AND rb.digest = $2`,
        [repository, digest],
      );
      return row && { size: toNumber(row.size) };
    },
    async findBlob(digest) {
      const [row] = await rows<{ size: BigintColumn }>('SELECT size FROM blobs WHERE digest = $1', [digest]);
      return row && { size: toNumber(row.size) };
    },
    async linkBlob(repository, digest, size) {
      // One round trip when the repository exists (every push but a repository's first): the blob
      // row and the link in one statement. The foreign key sees the blob inserted beside it, since
      // constraints are checked at the end of the statement.
      const at = now();
      const [linked] = await rows<{ found: string }>(
        `WITH repo AS (SELECT id FROM repositories WHERE name = $1),
              blob AS (INSERT INTO blobs (digest, size, created_at) VALUES ($2, $3, $4) ON CONFLICT DO NOTHING),
              link AS (INSERT INTO repository_blobs (repository_id, digest, created_at)
                       SELECT id, $2, $4 FROM repo ON CONFLICT DO NOTHING)
         SELECT count(*) AS found FROM repo`,
        [repository, digest, size, at],
      );
      if (Number(linked?.found) > 0) return;
      await createRepositoryAndLink(repository, digest, size);
    },
    async unlinkBlob(repository, digest) {
      const count = await changed(
        `DELETE FROM repository_blobs WHERE repository_id = ${repoId('$1')} AND digest = $2`,
        [repository, digest],
      );
      return count > 0;
    },
    async listRepositoriesWithBlob(digest, page) {
      const found = await rows<{ name: RepoName }>(
        `SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
         WHERE rb.digest = $1 AND r.name > $2 ORDER BY r.name LIMIT $3`,
        [digest, ...pageParams(page)],
      );
      return found.map((row) => row.name);
    },
    repositoryBlobSizes: (repository, digests) =>
      sizes(
        `SELECT rb.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
         WHERE rb.repository_id = ${repoId('$1')} AND rb.digest = ANY($2::text[])`,
        repository,
        digests,
      ),

    async findManifest(repository, digest) {
      const [row] = await rows<ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE repository_id = ${repoId('$1')} AND digest = $2`,
        [repository, digest],
      );
      return row && toManifest(row);
    },
    async resolveTag(repository, tag) {
      const [row] = await rows<ManifestRow>(
        `SELECT m.digest, m.media_type, m.size, m.artifact_type, m.subject_digest, m.annotations
         FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
         WHERE t.repository_id = ${repoId('$1')} AND t.name = $2`,
        [repository, tag],
      );
      return row && toManifest(row);
    },
    repositoryManifestSizes: (repository, digests) =>
      sizes(
        `SELECT digest, size FROM manifests
         WHERE repository_id = ${repoId('$1')} AND digest = ANY($2::text[])`,
        repository,
        digests,
      ),
    putManifest: (
      repository: RepoName,
      manifest: ManifestRecord,
      references: ManifestReferences,
      tag?: Tag,
    ) =>
      inTransaction(pool, async (client) => {
        const at = now();
        const id = await ensureRepository(client, repository, at);
        await holdManifest(client, id, manifest, at);
        const kinds = [...references.blobs.map(() => 'blob'), ...references.manifests.map(() => 'manifest')];
        if (kinds.length > 0) {
          await client.query(
            statement(
              `INSERT INTO manifest_references (repository_id, manifest_digest, kind, target_digest)
               SELECT $1, $2, kind, target FROM unnest($3::text[], $4::text[]) AS r(kind, target)
               ON CONFLICT DO NOTHING`,
              [id, manifest.digest, kinds, [...references.blobs, ...references.manifests]],
            ),
          );
        }
        if (tag) {
          await client.query(
            statement(
              `INSERT INTO tags (repository_id, name, digest, updated_at, name_key, semver_key)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
              [id, tag, manifest.digest, at, naturalKey(tag), semverKey(tag)],
            ),
          );
        }
      }),
    async deleteManifest(repository, digest) {
      const count = await changed(
        `DELETE FROM manifests WHERE repository_id = ${repoId('$1')} AND digest = $2`,
        [repository, digest],
      );
      return count > 0;
    },
    async deleteTag(repository, tag) {
      const count = await changed(`DELETE FROM tags WHERE repository_id = ${repoId('$1')} AND name = $2`, [
        repository,
        tag,
      ]);
      return count > 0;
    },

    async repositoryExists(repository) {
      const found = await rows(`SELECT 1 FROM manifests WHERE repository_id = ${repoId('$1')} LIMIT 1`, [
        repository,
      ]);
      return found.length > 0;
    },
    async listTags(repository, page) {
      const found = await rows<{ name: Tag }>(
        `SELECT name FROM tags WHERE repository_id = ${repoId('$1')} AND name > $2
         ORDER BY name LIMIT $3`,
        [repository, ...pageParams(page)],
      );
      return found.map((row) => row.name);
    },
    async listRepositories(page) {
      const found = await rows<{ name: RepoName }>(
        `SELECT name FROM repositories r WHERE name > $1
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         ORDER BY name LIMIT $2`,
        pageParams(page),
      );
      return found.map((row) => row.name);
    },
    async listReferrers(repository, subject, artifactType) {
      const found = await rows<ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifests
         WHERE repository_id = ${repoId('$1')} AND subject_digest = $2
         AND ($3::text IS NULL OR artifact_type = $3) ORDER BY digest`,
        [repository, subject, artifactType ?? null],
      );
      return found.map(toManifest);
    },

    async createUpload(upload) {
      await pool.query(
        `INSERT INTO uploads (id, repository, size, started_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
        [upload.id, upload.repository, upload.size, upload.startedAt, upload.updatedAt],
      );
    },
    async findUpload(id) {
      const [row] = await rows<UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = $1`, [id]);
      return row && toUpload(row);
    },
    async leaseUpload(id, { holder, now: at, until }) {
      // One UPDATE takes the lease or leaves it: concurrent callers queue on the row lock, and each
      // re-checks the condition against the row as the one before it left it.
      const [row] = await rows<UploadRow>(
        `UPDATE uploads SET lease_holder = $2, lease_until = $4
         WHERE id = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until <= $3)
         RETURNING ${UPLOAD_COLUMNS}`,
        [id, holder, at, until],
      );
      if (row) return toUpload(row);
      const exists = await rows('SELECT 1 FROM uploads WHERE id = $1', [id]);
      return exists.length > 0 ? 'busy' : undefined;
    },
    async releaseUpload(id, holder) {
      await pool.query(
        'UPDATE uploads SET lease_holder = NULL, lease_until = 0 WHERE id = $1 AND lease_holder = $2',
        [id, holder],
      );
    },
    async updateUploadSize(id, holder, size, updatedAt) {
      const count = await changed(
        'UPDATE uploads SET size = $3, updated_at = $4 WHERE id = $1 AND lease_holder = $2',
        [id, holder, size, updatedAt],
      );
      return count === 1;
    },
    async deleteUpload(id) {
      await pool.query('DELETE FROM uploads WHERE id = $1', [id]);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async leaseJob(name, { holder, now: at, until }) {
      const count = await changed(
        `INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
         WHERE job_leases.holder = excluded.holder OR job_leases.until <= $3`,
        [name, holder, at, until],
      );
      return count === 1;
    },
    async listUploadsUpdatedBefore(time) {
      const found = await rows<UploadRow>(
        `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < $1 ORDER BY updated_at, id`,
        [time],
      );
      return found.map(toUpload);
    },
  };
}

export interface PostgresMetadata {
  store: MetadataStore;
  /** The accounts, on the same pool (postgres-account-store.ts). */
  accounts: AccountStore;
  /** The login throttle's state, on the same pool (postgres-login-throttle-store.ts). */
  loginThrottle: LoginThrottleStore;
  /** The pull-through mirror's state, on the same pool (postgres-mirror-store.ts). */
  mirror: MirrorStore;
  /** The webhook outbox, on the same pool (postgres-outbox-store.ts). */
  outbox: OutboxStore;
  /** Repositories and tags as the management API lists them, on the same pool (postgres-catalog-store.ts). */
  catalog: CatalogStore;
  /** Namespace rules and usage, on the same pool (postgres-policy-store.ts). */
  policies: PolicyStore;
  /** Garbage collection's queues, content holds and sweep markers, on the same pool (postgres-gc-store.ts). */
  gc: GcStore;
  pool: PostgresPool;
  /** Waits for queries in flight, then closes every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to `options.url`, migrates the schema (advisory-locked) and returns the stores on it: one
 * pool per process, shared by the metadata, the accounts, the login throttle, the mirror and the
 * webhook outbox.
 */
export async function openPostgresMetadata(
  options: PostgresOptions & { now?: () => number },
): Promise<PostgresMetadata> {
  const pool = await openPostgresDatabase(options);
  let closing: Promise<void> | undefined;
  return {
    store: reportingUnavailable(createPostgresMetadataStore(pool, options.now)),
    accounts: createPostgresAccountStore(pool),
    loginThrottle: createPostgresLoginThrottleStore(pool),
    mirror: createPostgresMirrorStore(pool),
    outbox: createPostgresOutboxStore(pool),
    catalog: reportingUnavailable(createPostgresCatalogStore(pool)),
    policies: createPostgresPolicyStore(pool),
    gc: reportingUnavailable(createPostgresGcStore(pool)),
    pool,
    close: () => (closing ??= pool.end()),
  };
}
