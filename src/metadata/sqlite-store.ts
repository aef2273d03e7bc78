// MetadataStore on SQLite. Every method is one statement or one transaction, run synchronously by
// better-sqlite3 (an embedded database answers in microseconds: no thread hop is worth it), and
// answered as a settled promise to fit the asynchronous interface. Calls wait while a unit of work of
// another store on the same connection is open (connection-lock.ts).
import type {
  ManifestRecord,
  ManifestReferences,
  MetadataStore,
  Page,
  UploadRecord,
} from '../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';
import { naturalKey, semverKey } from '../registry/tag-sort-keys.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject_digest: string | null;
  annotations: string | null;
}

interface UploadRow {
  id: string;
  repository: string;
  size: number;
  started_at: number;
  updated_at: number;
}

const NO_LIMIT = -1;

function toManifest(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: row.size,
    artifactType: row.artifact_type,
    subject: row.subject_digest as Digest | null,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
  };
}

function toUpload(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    repository: row.repository as RepoName,
    size: row.size,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
  };
}

export function createSqliteMetadataStore(db: SqliteDatabase, now: () => number = Date.now): MetadataStore {
  const repoId = '(SELECT id FROM repositories WHERE name = @repository)';
  const manifestColumns = 'digest, media_type, size, artifact_type, subject_digest, annotations';
  const statements = {
    ensureRepository: db.prepare(
      'INSERT INTO repositories (name, created_at) VALUES (@repository, @now) ON CONFLICT (name) DO NOTHING',
    ),
    repositoryExists: db.prepare(`SELECT 1 FROM manifests WHERE repository_id = ${repoId} LIMIT 1`).pluck(),
    findRepositoryBlob: db.prepare(
      `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
       WHERE rb.repository_id = ${repoId} AND rb.digest = @digest`,
    ),
    findBlob: db.prepare('SELECT size FROM blobs WHERE digest = ?'),
    listRepositoriesWithBlob: db.prepare(
      `SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
       WHERE rb.digest = @digest AND r.name > @last ORDER BY r.name LIMIT @limit`,
    ),
    ping: db.prepare('SELECT 1'),
    insertBlob: db.prepare(
      'INSERT INTO blobs (digest, size, created_at) VALUES (@digest, @size, @now) ON CONFLICT DO NOTHING',
    ),
    linkBlob: db.prepare(
      `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (${repoId}, @digest, @now)
       ON CONFLICT DO NOTHING`,
    ),
    unlinkBlob: db.prepare(
      `DELETE FROM repository_blobs WHERE repository_id = ${repoId} AND digest = @digest`,
    ),
    findManifest: db.prepare(
      `SELECT ${manifestColumns} FROM manifests WHERE repository_id = ${repoId} AND digest = @digest`,
    ),
    resolveTag: db.prepare(
      `SELECT m.digest, m.media_type, m.size, m.artifact_type, m.subject_digest, m.annotations
       FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE t.repository_id = ${repoId} AND t.name = @tag`,
    ),
    insertManifest: db.prepare(
      `INSERT INTO manifests (repository_id, ${manifestColumns}, created_at, total_size, platforms, image_created)
       VALUES (${repoId}, @digest, @mediaType, @size, @artifactType, @subject, @annotations, @now,
         @totalSize, @platforms, @imageCreated)
       ON CONFLICT DO NOTHING`,
    ),
    insertReference: db.prepare(
      `INSERT INTO manifest_references (repository_id, manifest_digest, kind, target_digest)
       VALUES (${repoId}, @digest, @kind, @target) ON CONFLICT DO NOTHING`,
    ),
    upsertTag: db.prepare(
      `INSERT INTO tags (repository_id, name, digest, updated_at, name_key, semver_key)
       VALUES (${repoId}, @tag, @digest, @now, @nameKey, @semverKey)
       ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
    ),
    deleteManifest: db.prepare(`DELETE FROM manifests WHERE repository_id = ${repoId} AND digest = @digest`),
    deleteTag: db.prepare(`DELETE FROM tags WHERE repository_id = ${repoId} AND name = @tag`),
    listTags: db.prepare(
      `SELECT name FROM tags WHERE repository_id = ${repoId} AND name > @last ORDER BY name LIMIT @limit`,
    ),
    listRepositories: db.prepare(
      `SELECT name FROM repositories r WHERE name > @last
       AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
       ORDER BY name LIMIT @limit`,
    ),
    listReferrers: db.prepare(
      `SELECT ${manifestColumns} FROM manifests
       WHERE repository_id = ${repoId} AND subject_digest = @subject ORDER BY digest`,
    ),
    insertUpload: db.prepare(
      `INSERT INTO uploads (id, repository, size, started_at, updated_at)
       VALUES (@id, @repository, @size, @startedAt, @updatedAt)`,
    ),
    findUpload: db.prepare('SELECT * FROM uploads WHERE id = ?'),
    leaseUpload: db.prepare(
      `UPDATE uploads SET lease_holder = @holder, lease_until = @until
       WHERE id = @id AND (lease_holder IS NULL OR lease_holder = @holder OR lease_until <= @now)
       RETURNING *`,
    ),
    uploadExists: db.prepare('SELECT 1 FROM uploads WHERE id = ?').pluck(),
    releaseUpload: db.prepare(
      'UPDATE uploads SET lease_holder = NULL, lease_until = 0 WHERE id = ? AND lease_holder = ?',
    ),
    updateUploadSize: db.prepare(
      'UPDATE uploads SET size = @size, updated_at = @updatedAt WHERE id = @id AND lease_holder = @holder',
    ),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE id = ?'),
    listUploadsUpdatedBefore: db.prepare('SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at'),
    leaseJob: db.prepare(
      `INSERT INTO job_leases (name, holder, until) VALUES (@name, @holder, @until)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
       WHERE job_leases.holder = excluded.holder OR job_leases.until <= @now`,
    ),
  };

  // Lookups of many digests in one query rather than one per digest.
  const sizesIn = (from: string) =>
    db.prepare(
      `SELECT digest, size FROM ${from} WHERE repository_id = ${repoId}
       AND digest IN (SELECT value FROM json_each(@digests))`,
    );
  const sizeLookups = {
    blobs: sizesIn('repository_blobs JOIN blobs USING (digest)'),
    manifests: sizesIn('manifests'),
  };
  const sizes = (kind: keyof typeof sizeLookups, repository: RepoName, digests: readonly Digest[]) => {
    if (digests.length === 0) return new Map<Digest, number>();
    const rows = sizeLookups[kind].all({
      repository,
      digests: JSON.stringify([...new Set(digests)]),
    }) as Array<{
      digest: Digest;
      size: number;
    }>;
    return new Map(rows.map((row) => [row.digest, row.size]));
  };

  const linkBlob = db.transaction((repository: RepoName, digest: Digest, size: number) => {
    const at = now();
    statements.ensureRepository.run({ repository, now: at });
    statements.insertBlob.run({ digest, size, now: at });
    statements.linkBlob.run({ repository, digest, now: at });
  });

  const putManifest = db.transaction(
    (repository: RepoName, manifest: ManifestRecord, references: ManifestReferences, tag?: Tag) => {
      const at = now();
      statements.ensureRepository.run({ repository, now: at });
      statements.insertManifest.run({
        repository,
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        size: manifest.size,
        artifactType: manifest.artifactType,
        subject: manifest.subject,
        annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        now: at,
        totalSize: manifest.details?.totalSize ?? manifest.size,
        platforms: manifest.details?.platforms ? JSON.stringify(manifest.details.platforms) : null,
        imageCreated: manifest.details?.imageCreated ?? null,
      });
      for (const [kind, targets] of [
        ['blob', references.blobs],
        ['manifest', references.manifests],
      ] as const) {
        for (const target of targets) {
          statements.insertReference.run({ repository, digest: manifest.digest, kind, target });
        }
      }
      if (tag) {
        const keys = { nameKey: naturalKey(tag), semverKey: semverKey(tag) };
        statements.upsertTag.run({ repository, tag, digest: manifest.digest, now: at, ...keys });
      }
    },
  );

  const pageParams = (page: Page) => ({ last: page.last ?? '', limit: page.limit ?? NO_LIMIT });

  const store: Synchronous<MetadataStore> = {
    ping: () => void statements.ping.get(),
    findRepositoryBlob: (repository, digest) =>
      statements.findRepositoryBlob.get({ repository, digest }) as { size: number } | undefined,
    findBlob: (digest) => statements.findBlob.get(digest) as { size: number } | undefined,
    linkBlob: (repository, digest, size) => linkBlob(repository, digest, size),
    unlinkBlob: (repository, digest) => statements.unlinkBlob.run({ repository, digest }).changes > 0,
    repositoryBlobSizes: (repository, digests) => sizes('blobs', repository, digests),
    listRepositoriesWithBlob: (digest, page) =>
      statements.listRepositoriesWithBlob.pluck().all({ digest, ...pageParams(page) }) as RepoName[],

    findManifest(repository, digest) {
      const row = statements.findManifest.get({ repository, digest }) as ManifestRow | undefined;
      return row && toManifest(row);
    },
    resolveTag(repository, tag) {
      const row = statements.resolveTag.get({ repository, tag }) as ManifestRow | undefined;
      return row && toManifest(row);
    },
    repositoryManifestSizes: (repository, digests) => sizes('manifests', repository, digests),
    putManifest: (repository, manifest, references, tag) =>
      putManifest(repository, manifest, references, tag),
    deleteManifest: (repository, digest) => statements.deleteManifest.run({ repository, digest }).changes > 0,
    deleteTag: (repository, tag) => statements.deleteTag.run({ repository, tag }).changes > 0,

    repositoryExists: (repository) => statements.repositoryExists.get({ repository }) !== undefined,
    listTags: (repository, page) =>
      statements.listTags.pluck().all({ repository, ...pageParams(page) }) as Tag[],
    listRepositories: (page) => statements.listRepositories.pluck().all(pageParams(page)) as RepoName[],
    listReferrers(repository, subject, artifactType) {
      const rows = (statements.listReferrers.all({ repository, subject }) as ManifestRow[]).map(toManifest);
      return artifactType === undefined ? rows : rows.filter((row) => row.artifactType === artifactType);
    },

    createUpload: (upload) => void statements.insertUpload.run(upload),
    findUpload(id) {
      const row = statements.findUpload.get(id) as UploadRow | undefined;
      return row && toUpload(row);
    },
    leaseUpload(id, { holder, now, until }) {
      const row = statements.leaseUpload.get({ id, holder, now, until }) as UploadRow | undefined;
      if (row) return toUpload(row);
      return statements.uploadExists.get(id) ? 'busy' : undefined;
    },
    releaseUpload: (id, holder) => void statements.releaseUpload.run(id, holder),
    updateUploadSize: (id, holder, size, updatedAt) =>
      statements.updateUploadSize.run({ id, holder, size, updatedAt }).changes === 1,
    deleteUpload: (id) => void statements.deleteUpload.run(id),
    listUploadsUpdatedBefore: (time) =>
      (statements.listUploadsUpdatedBefore.all(time) as UploadRow[]).map(toUpload),
    leaseJob: (name, { holder, now, until }) =>
      statements.leaseJob.run({ name, holder, now, until }).changes === 1,
  };
  return asAsync<MetadataStore>(store, connectionLock(db).run);
}
