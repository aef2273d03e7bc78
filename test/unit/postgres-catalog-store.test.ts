// The PostgreSQL catalog store against a real server (test/support/postgres.ts), each test on a fresh
// database: the shared conformance suite, the counters and tag sort keys of a database migrated with
// content in it, and pushes of one tag from many connections at once (no deadlock between pushes and
// the counters).
// Without the PostgreSQL binaries these tests are skipped with a warning, except in CI (CI=true).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCatalogStoreConformance } from '../../src/metadata/catalog-conformance.js';
import { copySqliteToPostgres } from '../../src/metadata/copy.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteCatalogStore } from '../../src/metadata/sqlite-catalog-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { openPostgresDatabase } from '../../src/metadata/postgres/db.js';
import { POSTGRES_MIGRATIONS } from '../../src/metadata/postgres/migrations/index.js';
import { openPostgresMetadata, type PostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { tagOrder } from '../../src/registry/tag-order.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { sortKeyTagNames } from '../support/store-databases.js';

const digest = (c: string) => `sha256:${c.padStart(64, '0')}` as Digest;
const repo = (name: string) => name as RepoName;

describe.skipIf(!requirePostgres('the PostgreSQL catalog store tests'))('postgres catalog store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeCatalogStoreConformance('postgres', async (clock) => {
    const database = await server.createDatabase();
    const opened: PostgresMetadata[] = [];
    const open = async () => {
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 4, now: clock });
      opened.push(metadata);
      return { metadata: metadata.store, catalog: metadata.catalog };
    };
    return {
      ...(await open()),
      sibling: open,
      async cleanup() {
        await Promise.all(opened.map((metadata) => metadata.close()));
        await database.drop();
      },
    };
  });

  it('counts what a database held before the catalog migration', async () => {
    const database = await server.createDatabase();
    try {
      const old = await openPostgresDatabase({ url: database.url }, POSTGRES_MIGRATIONS.slice(0, 6));
      await old.query(`
        INSERT INTO repositories (id, name, created_at) VALUES (1, 'team/app', 100), (2, 'empty', 100);
        INSERT INTO blobs (digest, size, created_at) VALUES ('${digest('b1')}', 10, 100), ('${digest('b2')}', 20, 100);
        INSERT INTO repository_blobs (repository_id, digest, created_at)
          VALUES (1, '${digest('b1')}', 100), (1, '${digest('b2')}', 100), (2, '${digest('b1')}', 100);
        INSERT INTO manifests (repository_id, digest, media_type, size, created_at)
          VALUES (1, '${digest('m1')}', 'application/vnd.oci.image.manifest.v1+json', 5, 200),
                 (1, '${digest('ix')}', 'application/vnd.oci.image.index.v1+json', 7, 300);
        INSERT INTO manifest_references (repository_id, manifest_digest, kind, target_digest)
          VALUES (1, '${digest('m1')}', 'blob', '${digest('b1')}'), (1, '${digest('m1')}', 'blob', '${digest('b2')}'),
                 (1, '${digest('ix')}', 'manifest', '${digest('m1')}');
        INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (1, 'v1', '${digest('ix')}', 400);
        SELECT setval(pg_get_serial_sequence('repositories', 'id'), 2);
      `);
      await old.end();
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 2 });
      try {
        expect(await metadata.catalog.findRepository(repo('team/app'))).toEqual({
          name: 'team/app',
          size: 42,
          tagCount: 1,
          manifestCount: 2,
          createdAt: 100,
          lastPushAt: 400,
          lastPullAt: 0,
          pullCount: 0,
          description: null,
        });
        expect(await metadata.catalog.findRepository(repo('empty'))).toBeUndefined();
        const [v1] = await metadata.catalog.findTags(repo('team/app'), ['v1' as Tag]);
        expect(v1).toMatchObject({ digest: digest('ix'), size: 7 + 5, platforms: null, created: null });
        await metadata.store.linkBlob(repo('team/app'), digest('b3'), 1000);
        expect(await metadata.catalog.findRepository(repo('team/app'))).toMatchObject({ size: 1042 });
      } finally {
        await metadata.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('sorts by name and semver the tags a database held before the sort keys migration', async () => {
    const database = await server.createDatabase();
    try {
      const old = await openPostgresDatabase({ url: database.url }, POSTGRES_MIGRATIONS.slice(0, 10));
      const names = sortKeyTagNames();
      await old.query(`
        INSERT INTO repositories (id, name, created_at) VALUES (1, 'r', 1), (2, 's', 1);
        INSERT INTO manifests (repository_id, digest, media_type, size, created_at)
          VALUES (1, '${digest('m')}', 'application/vnd.oci.image.manifest.v1+json', 5, 1),
                 (2, '${digest('m')}', 'application/vnd.oci.image.manifest.v1+json', 5, 1);
        SELECT setval(pg_get_serial_sequence('repositories', 'id'), 2);
      `);
      await old.query(
        `INSERT INTO tags (repository_id, name, digest, updated_at)
         SELECT 1, name, $2, 1 FROM unnest($1::text[]) AS name UNION ALL SELECT 2, 'v1', $2, 1`,
        [names, digest('m')],
      );
      await old.end();
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 2 });
      try {
        for (const sort of ['name', 'semver'] as const) {
          const listed = await metadata.catalog.listTags(repo('r'), { sort, order: 'asc', limit: 10_000 });
          expect(listed.map((t) => t.name)).toEqual([...names].sort(tagOrder(sort, 'asc')));
        }
      } finally {
        await metadata.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('answers as the SQLite catalog did after `berth db copy`', async () => {
    const sqlite = openDatabase(':memory:');
    let time = 1_000;
    const metadata = createSqliteMetadataStore(sqlite, () => time);
    const sqliteCatalog = createSqliteCatalogStore(sqlite);
    const record = (c: string, size: number) => ({
      digest: digest(c),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size,
      artifactType: null,
      subject: null,
      annotations: null,
      details: { totalSize: size + 10, platforms: ['linux/amd64'], imageCreated: '2024-01-01T00:00:00Z' },
    });
    for (const [i, name] of ['a', 'b/c', 'd'].entries()) {
      time = 1_000 + i;
      await metadata.linkBlob(repo(name), digest('b1'), 10);
      await metadata.putManifest(
        repo(name),
        record(`m${i}`, 5 + i),
        { blobs: [digest('b1')], manifests: [] },
        'v1' as Tag,
      );
    }
    for (const name of ['v10', 'v2', 'V3', '1.0.0-rc.1', 'a_b', 'a-b']) {
      await metadata.putManifest(
        repo('a'),
        record('m0', 5),
        { blobs: [digest('b1')], manifests: [] },
        name as Tag,
      );
    }
    await metadata.deleteManifest(repo('d'), digest('m2'));
    time = 5_000;
    await metadata.putManifest(repo('d'), record('m9', 9), { blobs: [], manifests: [] });
    await sqliteCatalog.setDescription(repo('b/c'), 'described');
    await sqliteCatalog.recordPulls([
      { repository: repo('a'), digest: digest('m0'), tag: 'v1' as Tag, count: 4, at: 3_000 },
    ]);

    const database = await server.createDatabase();
    const target = await openPostgresMetadata({ url: database.url, poolSize: 2 });
    try {
      await copySqliteToPostgres(sqlite, target.pool);
      for (const sort of ['name', 'size', 'pushed', 'pulled'] as const) {
        const query = { sort, order: 'desc' as const, limit: 10 };
        expect(await target.catalog.listRepositories(query)).toEqual(
          await sqliteCatalog.listRepositories(query),
        );
      }
      for (const sort of ['name', 'semver'] as const) {
        const query = { sort, order: 'asc' as const, limit: 10 };
        expect(await target.catalog.listTags(repo('a'), query)).toEqual(
          await sqliteCatalog.listTags(repo('a'), query),
        );
      }
      const tags = ['v1' as Tag];
      expect(await target.catalog.findTags(repo('a'), tags)).toEqual(
        await sqliteCatalog.findTags(repo('a'), tags),
      );
      // Counting goes on from the copied counters.
      await target.store.linkBlob(repo('a'), digest('b2'), 100);
      expect(await target.catalog.findRepository(repo('a'))).toMatchObject({ size: 10 + 5 + 100 });
    } finally {
      await target.close();
      await database.drop();
      sqlite.close();
    }
  });

  it('takes pushes of one tag, deletes and listings from many connections at once without a deadlock', async () => {
    const database = await server.createDatabase();
    const opened = await Promise.all(
      [0, 1, 2].map(() => openPostgresMetadata({ url: database.url, poolSize: 8 })),
    );
    try {
      const manifest = (i: number) => ({
        digest: digest(`m${i}`),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 10,
        artifactType: null,
        subject: null,
        annotations: null,
      });
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 60; i++) {
        const { store, catalog } = opened[i % 3] as PostgresMetadata;
        work.push(
          (async () => {
            await store.linkBlob(repo('ci/app'), digest(`b${i % 5}`), 100);
            await store.putManifest(
              repo('ci/app'),
              manifest(i),
              { blobs: [digest(`b${i % 5}`)], manifests: [] },
              'latest' as Tag,
            );
            await store.putManifest(
              repo('ci/app'),
              manifest(i),
              { blobs: [], manifests: [] },
              `build-${i}` as Tag,
            );
            if (i % 4 === 0) await store.deleteTag(repo('ci/app'), `build-${i}` as Tag);
            if (i % 10 === 9) await store.deleteManifest(repo('ci/app'), digest(`m${i}`));
            await catalog.recordPulls([
              { repository: repo('ci/app'), digest: digest(`m${i}`), tag: 'latest' as Tag, count: 1, at: i },
            ]);
            await catalog.listRepositories({ sort: 'size', order: 'desc', limit: 10 });
          })(),
        );
      }
      await Promise.all(work);
      const { catalog, store } = opened[0] as PostgresMetadata;
      const tags = await store.listTags(repo('ci/app'), {});
      expect(await catalog.findRepository(repo('ci/app'))).toMatchObject({
        manifestCount: 54,
        tagCount: tags.length,
        size: 5 * 100 + 54 * 10,
        pullCount: 60,
      });
    } finally {
      await Promise.all(opened.map((metadata) => metadata.close()));
      await database.drop();
    }
  });
});
