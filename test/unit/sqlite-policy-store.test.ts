// The SQLite policy store: the shared conformance suite, usage kept through repository deletes and
// counted for content stored before the migration, and the quota check reading indexes only.
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { MIGRATIONS } from '../../src/metadata/migrations/index.js';
import { describePolicyStoreConformance } from '../../src/metadata/policy-conformance.js';
import { createSqlitePolicyStore } from '../../src/metadata/sqlite-policy-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { ManifestRecord } from '../../src/registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import {
  itWorksOnMigratedSqlite,
  preparedStatementPlans,
  sqliteFile,
  sqliteStores,
} from '../support/store-databases.js';

/** The migration that made the policy tables and counted the content already stored. */
const POLICIES_VERSION = 10;
const SORT_KEY_COLUMNS = ['name_key', 'semver_key'];

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

describePolicyStoreConformance(
  'sqlite',
  sqliteStores((db) => ({ policies: createSqlitePolicyStore(db), metadata: createSqliteMetadataStore(db) })),
);

describe('sqlite policy store', () => {
  itWorksOnMigratedSqlite(async (db) => {
    const policies = createSqlitePolicyStore(db);
    await createSqliteMetadataStore(db).linkBlob(repo('team/a'), digest('1'), 10);
    await policies.setQuota('team', 100, 1);
    await policies.setImmutableRules('team', [{ tags: 'v*', repositories: null }]);
    expect(await policies.getUsage('team')).toEqual({ namespace: 'team', limitBytes: 100, usedBytes: 10 });
    expect(await policies.listImmutableRules('team')).toEqual([{ tags: 'v*', repositories: null }]);
  });

  it('counts the content stored before the migration', async () => {
    const { open, cleanup } = await sqliteFile();
    try {
      // The schema before the policies migration (010), with the tag sort key columns of a later one
      // (012) added for as long as today's store writes to it (it prepares its tag statements at once).
      const old = open(MIGRATIONS.filter((m) => m.version < POLICIES_VERSION));
      for (const column of SORT_KEY_COLUMNS)
        old.exec(`ALTER TABLE tags ADD COLUMN ${column} TEXT NOT NULL DEFAULT ''`);
      const before = createSqliteMetadataStore(old);
      await before.linkBlob(repo('team/a'), digest('1'), 1_000);
      await before.linkBlob(repo('team/b'), digest('1'), 1_000);
      await before.linkBlob(repo('team/b'), digest('2'), 50);
      await before.putManifest(repo('team/a'), manifest('m', 7), { blobs: [digest('1')], manifests: [] });
      await before.linkBlob(repo('other'), digest('2'), 50);
      for (const column of SORT_KEY_COLUMNS) old.exec(`ALTER TABLE tags DROP COLUMN ${column}`);
      old.close();

      const db = open();
      const policies = createSqlitePolicyStore(db);
      expect(await policies.listUsage()).toEqual([
        { namespace: 'other', limitBytes: null, usedBytes: 50 },
        { namespace: 'team', limitBytes: null, usedBytes: 1_057 },
      ]);
      // The counts go on from there.
      await createSqliteMetadataStore(db).unlinkBlob(repo('team/a'), digest('1'));
      expect((await policies.getUsage('team')).usedBytes).toBe(1_057);
      await createSqliteMetadataStore(db).unlinkBlob(repo('team/b'), digest('1'));
      expect((await policies.getUsage('team')).usedBytes).toBe(57);
    } finally {
      await cleanup();
    }
  });

  it('counts a namespace again when one of its repositories is deleted with its content', async () => {
    const db = openDatabase(':memory:');
    const metadata = createSqliteMetadataStore(db);
    const policies = createSqlitePolicyStore(db);
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

    db.prepare('DELETE FROM repositories WHERE name = ?').run('team/a');
    expect((await policies.getUsage('team')).usedBytes).toBe(1_000);
    expect((await policies.quotaStanding('team', digest('2'))).counted).toBe(false);
    db.prepare('DELETE FROM repositories WHERE name = ?').run('team/b');
    expect((await policies.getUsage('team')).usedBytes).toBe(0);
    await metadata.linkBlob(repo('team/c'), digest('1'), 1_000);
    expect((await policies.getUsage('team')).usedBytes).toBe(1_000);
    db.close();
  });

  it('answers the quota check and the namespace listing through indexes', () => {
    const db = openDatabase(':memory:');
    const plan = preparedStatementPlans(db, createSqlitePolicyStore, 'x');
    const standing = plan(/EXISTS \(SELECT 1 FROM namespace_digests/);
    expect(standing).not.toMatch(/SCAN (?!CONSTANT ROW)/);
    expect(standing).toMatch(/SEARCH namespace_digests USING PRIMARY KEY \(namespace=\? AND digest=\?\)/);
    const repositories = plan(/name >= @from/);
    expect(repositories).toMatch(/SEARCH r USING (COVERING )?INDEX .*\(name=\?\)/);
    expect(repositories).toMatch(/SEARCH r USING (COVERING )?INDEX .*\(name>\? AND name<\?\)/);
    db.close();
  });
});
