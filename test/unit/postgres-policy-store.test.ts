// The PostgreSQL policy store against a real server (test/support/postgres.ts: a private cluster of
// scripts/pg-test-server.sh, or PG_TEST_URL), each test on a fresh database: the shared conformance
// suite, usage counted for content stored before the migration, kept through repository deletes and
// under concurrent writers on several pools. Without the PostgreSQL binaries these tests are skipped
// with a warning, except in CI (CI=true), where that is a failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySqliteToPostgres } from '../../src/metadata/copy.js';
import { openDatabase } from '../../src/metadata/db.js';
import { describePolicyStoreConformance } from '../../src/metadata/policy-conformance.js';
import { createPostgresPool, openPostgresDatabase } from '../../src/metadata/postgres/db.js';
import { POSTGRES_MIGRATIONS } from '../../src/metadata/postgres/migrations/index.js';
import { createPostgresPolicyStore } from '../../src/metadata/postgres/postgres-policy-store.js';
import {
  createPostgresMetadataStore,
  openPostgresMetadata,
} from '../../src/metadata/postgres/postgres-store.js';
import { createSqlitePolicyStore } from '../../src/metadata/sqlite-policy-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import type { ManifestRecord } from '../../src/registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { freePort } from '../support/processes.js';
import { itWorksOnMigratedPostgres, postgresStores } from '../support/store-databases.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const manifest = (c: string, size: number): ManifestRecord => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size,
  artifactType: null,
  subject: null,
  annotations: null,
});

describe.skipIf(!requirePostgres('the PostgreSQL policy store tests'))('postgres policy store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describePolicyStoreConformance(
    'postgres',
    postgresStores(
      () => server,
      (opened) => ({ policies: opened.policies, metadata: opened.store }),
    ),
  );

  itWorksOnMigratedPostgres(
    () => server,
    async (opened) => {
      await opened.store.linkBlob(repo('team/a'), digest('1'), 10);
      await opened.policies.setQuota('team', 100, 1);
      await opened.policies.setImmutableRules('team', [{ tags: 'v*', repositories: null }]);
      expect(await opened.policies.getUsage('team')).toEqual({
        namespace: 'team',
        limitBytes: 100,
        usedBytes: 10,
      });
    },
  );

  it('counts the content stored before the migration', async () => {
    const database = await server.createDatabase();
    try {
      // The schema before the policies migration (009), which counts the content already stored.
      const old = await openPostgresDatabase(
        { url: database.url },
        POSTGRES_MIGRATIONS.filter((m) => m.version < 9),
      );
      const before = createPostgresMetadataStore(old);
      await before.linkBlob(repo('team/a'), digest('1'), 1_000);
      await before.linkBlob(repo('team/b'), digest('1'), 1_000);
      await before.linkBlob(repo('team/b'), digest('2'), 50);
      await before.putManifest(repo('team/a'), manifest('m', 7), { blobs: [digest('1')], manifests: [] });
      await before.linkBlob(repo('other'), digest('2'), 50);
      await old.end();

      const opened = await openPostgresMetadata({ url: database.url, poolSize: 2 });
      try {
        expect(await opened.policies.listUsage()).toEqual([
          { namespace: 'other', limitBytes: null, usedBytes: 50 },
          { namespace: 'team', limitBytes: null, usedBytes: 1_057 },
        ]);
        await opened.store.unlinkBlob(repo('team/a'), digest('1'));
        await opened.store.unlinkBlob(repo('team/b'), digest('1'));
        expect((await opened.policies.getUsage('team')).usedBytes).toBe(57);
      } finally {
        await opened.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('counts a namespace again when one of its repositories is deleted with its content', async () => {
    const database = await server.createDatabase();
    const opened = await openPostgresMetadata({ url: database.url, poolSize: 2 });
    try {
      const { store: metadata, policies } = opened;
      await metadata.linkBlob(repo('team/a'), digest('1'), 1_000);
      await metadata.linkBlob(repo('team/b'), digest('1'), 1_000);
      await metadata.linkBlob(repo('team/a'), digest('2'), 200);
      await metadata.putManifest(
        repo('team/a'),
        manifest('m', 30),
        { blobs: [digest('1')], manifests: [] },
        'v1' as Tag,
      );
      expect((await policies.getUsage('team')).usedBytes).toBe(1_230);
      await opened.pool.query('DELETE FROM repositories WHERE name = $1', ['team/a']);
      expect((await policies.getUsage('team')).usedBytes).toBe(1_000);
      await opened.pool.query('DELETE FROM repositories WHERE name = $1', ['team/b']);
      expect((await policies.getUsage('team')).usedBytes).toBe(0);
    } finally {
      await opened.close();
      await database.drop();
    }
  });

  it('copies the rules of a SQLite database (`berth db copy`) and counts its usage again', async () => {
    const sqlite = openDatabase(':memory:');
    const sqliteMetadata = createSqliteMetadataStore(sqlite);
    const sqlitePolicies = createSqlitePolicyStore(sqlite);
    await sqliteMetadata.linkBlob(repo('team/a'), digest('1'), 1_000);
    await sqliteMetadata.linkBlob(repo('team/b'), digest('1'), 1_000);
    await sqliteMetadata.putManifest(
      repo('team/a'),
      manifest('m', 7),
      { blobs: [digest('1')], manifests: [] },
      'v1' as Tag,
    );
    await sqliteMetadata.linkBlob(repo('solo'), digest('2'), 5);
    await sqlitePolicies.setQuota('team', 5_000, 3);
    await sqlitePolicies.setImmutableRules('team', [
      { tags: 'v*', repositories: null },
      { tags: 'stable', repositories: 'team/a' },
    ]);
    const policy = {
      keepLatest: { count: 3, by: 'pulled' as const },
      keepPatterns: ['release-*'],
      untaggedAfter: '7d',
    };
    await sqlitePolicies.setRetentionPolicy({ kind: 'namespace', name: 'team' }, policy, 4);
    await sqlitePolicies.setRetentionPolicy(
      { kind: 'repository', name: repo('solo') },
      { ...policy, keepLatest: null },
      5,
    );

    const database = await server.createDatabase();
    const opened = await openPostgresMetadata({ url: database.url, poolSize: 2 });
    try {
      const report = await copySqliteToPostgres(sqlite, opened.pool);
      expect(report.rows).toMatchObject({
        immutable_tag_rules: 2,
        namespace_quotas: 1,
        retention_policies: 2,
      });
      const { policies } = opened;
      expect(await policies.listUsage()).toEqual(await sqlitePolicies.listUsage());
      expect(await policies.listUsage()).toEqual([
        { namespace: 'solo', limitBytes: null, usedBytes: 5 },
        { namespace: 'team', limitBytes: 5_000, usedBytes: 1_007 },
      ]);
      expect(await policies.listImmutableRules('team')).toEqual(
        await sqlitePolicies.listImmutableRules('team'),
      );
      expect(await policies.listRetentionPolicies()).toEqual(await sqlitePolicies.listRetentionPolicies());
      expect(await policies.quotaStanding('team', digest('m'))).toEqual({
        limitBytes: 5_000,
        usedBytes: 1_007,
        counted: true,
      });
    } finally {
      sqlite.close();
      await opened.close();
      await database.drop();
    }
  });

  it('counts each digest once while pushes and deletes race in one namespace on several pools', async () => {
    const database = await server.createDatabase();
    const replicas = await Promise.all(
      [0, 1, 2].map(() => openPostgresMetadata({ url: database.url, poolSize: 6 })),
    );
    try {
      const layers = ['1', '2', '3', '4'];
      const sizes: Record<string, number> = { '1': 1_000, '2': 2_000, '3': 3_000, '4': 4_000 };
      // 24 repositories, each linking every layer and storing one manifest shared by all, from 3 pools.
      await Promise.all(
        Array.from({ length: 24 }, async (_, i) => {
          const metadata = (replicas[i % 3] as (typeof replicas)[number]).store;
          const name = repo(`team/r${i}`);
          for (const c of i % 2 ? [...layers].reverse() : layers)
            await metadata.linkBlob(name, digest(c), sizes[c] as number);
          await metadata.putManifest(
            name,
            manifest('m', 500),
            { blobs: layers.map(digest), manifests: [] },
            'v1' as Tag,
          );
        }),
      );
      const policies = replicas[0]?.policies as (typeof replicas)[number]['policies'];
      expect((await policies.getUsage('team')).usedBytes).toBe(10_500);
      // Everything but repository 0 goes, concurrently.
      await Promise.all(
        Array.from({ length: 23 }, async (_, k) => {
          const i = k + 1;
          const metadata = (replicas[i % 3] as (typeof replicas)[number]).store;
          await metadata.deleteManifest(repo(`team/r${i}`), digest('m'));
          for (const c of layers) await metadata.unlinkBlob(repo(`team/r${i}`), digest(c));
        }),
      );
      expect((await policies.getUsage('team')).usedBytes).toBe(10_500);
      const { rows } = await replicas[0]!.pool.query<{ refs: string }>(
        'SELECT refs FROM namespace_digests WHERE namespace = $1 ORDER BY digest',
        ['team'],
      );
      expect(rows.map((r) => Number(r.refs))).toEqual([1, 1, 1, 1, 1]);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await database.drop();
    }
  });
});

describe('postgres policy store without a server', () => {
  it('answers StoreUnavailableError (503 UNAVAILABLE) when the server cannot be reached', async () => {
    const pool = createPostgresPool({
      url: `postgres://berth@127.0.0.1:${await freePort()}/none`,
      connectTimeoutMs: 2000,
    });
    try {
      const store = createPostgresPolicyStore(pool);
      await expect(store.quotaStanding('team', digest('1'))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.listImmutableRules('team')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await pool.end();
    }
  });
});
