// `berth db copy`: a SQLite metadata database copied into an empty PostgreSQL one answers every
// question the same way, and the copy refuses a database that already holds data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySqliteToPostgres } from '../../src/metadata/copy.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { openPostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { ManifestRecord, MetadataStore } from '../../src/registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const manifest = (c: string, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100 + c.charCodeAt(0),
  artifactType: null,
  subject: null,
  annotations: null,
  ...extra,
});

/** A small registry's worth of metadata: repositories, blobs, manifests, tags, referrers, uploads. */
async function populate(store: MetadataStore): Promise<void> {
  for (const name of ['team-a/app', 'team-a/db', 'Solo', 'x/y/z']) {
    await store.linkBlob(repo(name), digest('1'), 3_000_000_000);
    await store.linkBlob(repo(name), digest('2'), 20);
    await store.putManifest(
      repo(name),
      manifest('a'),
      { blobs: [digest('1'), digest('2')], manifests: [] },
      'v1' as Tag,
    );
    await store.putManifest(
      repo(name),
      manifest('b', {
        subject: digest('a'),
        artifactType: 'application/x-sig',
        annotations: { z: '1', a: 'ünï' },
      }),
      { blobs: [digest('2')], manifests: [] },
      'sha256-aaaa.sig' as Tag,
    );
    await store.putManifest(repo(name), manifest('a'), { blobs: [], manifests: [] }, 'latest' as Tag);
  }
  await store.createUpload({
    id: 'u-1',
    repository: repo('team-a/app'),
    size: 42,
    startedAt: 1,
    updatedAt: 2,
  });
}

/** Everything a registry asks the store, in one comparable value. */
async function snapshot(store: MetadataStore) {
  const repositories = await store.listRepositories({});
  const perRepository = [];
  for (const name of repositories) {
    const tags = await store.listTags(name, {});
    perRepository.push({
      name,
      tags,
      resolved: await Promise.all(tags.map((tag) => store.resolveTag(name, tag))),
      referrers: await store.listReferrers(name, digest('a')),
      blobs: [...(await store.repositoryBlobSizes(name, [digest('1'), digest('2'), digest('3')]))],
    });
  }
  return { repositories, perRepository, upload: await store.findUpload('u-1') };
}

describe.skipIf(!requirePostgres('berth db copy tests'))('copying SQLite metadata into PostgreSQL', () => {
  let server: PostgresServer;
  let sqlite: SqliteDatabase;
  beforeAll(async () => {
    server = await startPostgres();
    sqlite = openDatabase(':memory:');
    await populate(createSqliteMetadataStore(sqlite));
  });
  afterAll(async () => {
    sqlite?.close();
    await server?.stop();
  });

  it('copies every table, and PostgreSQL then answers as SQLite did', async () => {
    const database = await server.createDatabase();
    const target = await openPostgresMetadata({ url: database.url });
    try {
      const report = await copySqliteToPostgres(sqlite, target.pool);
      expect(report.rows).toMatchObject({ repositories: 4, tags: 12, manifests: 8, uploads: 1 });
      expect(await snapshot(target.store)).toEqual(await snapshot(createSqliteMetadataStore(sqlite)));
      // New repositories get fresh ids after the copied ones.
      await target.store.putManifest(
        repo('after/copy'),
        manifest('c'),
        { blobs: [], manifests: [] },
        'v1' as Tag,
      );
      expect((await target.store.resolveTag(repo('after/copy'), 'v1' as Tag))?.digest).toBe(digest('c'));
      expect(await target.store.listRepositories({})).toContain('after/copy');
    } finally {
      await target.close();
      await database.drop();
    }
  });

  it('refuses a database that already holds data, and leaves it as it was', async () => {
    const database = await server.createDatabase();
    const target = await openPostgresMetadata({ url: database.url });
    try {
      await target.store.linkBlob(repo('already/here'), digest('9'), 1);
      await expect(copySqliteToPostgres(sqlite, target.pool)).rejects.toThrow(/copy into an empty one/);
      expect(await target.store.findRepositoryBlob(repo('already/here'), digest('9'))).toEqual({ size: 1 });
      expect(await target.store.findBlob(digest('1'))).toBeUndefined();
    } finally {
      await target.close();
      await database.drop();
    }
  });
});
