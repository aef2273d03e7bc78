// The SQLite GcStore: the shared conformance suite (each pair of stores on a connection of its own, as
// two processes on one host would have), its query plans, and the read cache it keeps informed.
import { describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { describeGcStoreConformance } from '../../src/metadata/gc-conformance.js';
import { createIndexChangeFlag } from '../../src/metadata/index-changes.js';
import { withReadCache } from '../../src/metadata/read-cache.js';
import { createSqliteGcStore } from '../../src/metadata/sqlite-gc-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { itWorksOnMigratedSqlite, preparedStatementPlans, sqliteStores } from '../support/store-databases.js';

const pair = (db: SqliteDatabase) => ({
  gc: createSqliteGcStore(db),
  metadata: createSqliteMetadataStore(db),
});
const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = 'team/app' as RepoName;
const NONE = { blobs: [], manifests: [] };
const lease = () => ({ holder: 'sweeper', now: Date.now(), until: Date.now() + 60_000 });
const record = (c: string) => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 10,
  artifactType: null,
  subject: null,
  annotations: null,
});

describeGcStoreConformance('sqlite', async () => {
  const { store, sibling, cleanup } = await sqliteStores(pair)();
  return { ...store, sibling, cleanup };
});

describe('sqlite gc store', () => {
  itWorksOnMigratedSqlite(async (db) => {
    const { gc, metadata } = pair(db);
    await metadata.putManifest(repo, record('1'), NONE, 'v' as Tag);
    await metadata.putManifest(repo, record('2'), NONE, 'v' as Tag);
    const [queued] = await gc.dueManifests(Date.now() + 1000, 10);
    expect(queued).toMatchObject({ repository: repo, digest: digest('1') });
    expect(await gc.reviewManifest(queued!, Date.now())).toBe('deleted');
  });

  it("forgets a deleted repository's manifest reviews and queues its blobs", async () => {
    const db = openDatabase(':memory:');
    try {
      const { gc, metadata } = pair(db);
      await metadata.linkBlob(repo, digest('b'), 5);
      await metadata.putManifest(repo, record('1'), { blobs: [digest('b')], manifests: [] }, 'v' as Tag);
      await metadata.putManifest(repo, record('2'), NONE, 'v' as Tag);
      for (const item of await gc.dueBlobs(Date.now() + 1000, 10)) await gc.reviewBlob(item, lease());
      expect(await gc.dueManifests(Date.now() + 1000, 10)).toHaveLength(1);
      db.prepare('DELETE FROM repositories WHERE name = ?').run(repo);
      expect(await gc.dueManifests(Date.now() + 1000, 10)).toEqual([]);
      const due = (await gc.dueBlobs(Date.now() + 1000, 10)).map((item) => item.digest).sort();
      expect(due).toEqual([digest('1'), digest('2'), digest('b')].sort());
    } finally {
      db.close();
    }
  });

  it('finds candidates, holds and references through indexes', () => {
    const db = openDatabase(':memory:');
    try {
      const plan = preparedStatementPlans(db, (d) => createSqliteGcStore(d), 'x');
      expect(plan(/FROM gc_blob_queue\s+WHERE digest > @after/)).toMatch(
        /USING COVERING INDEX gc_blob_queue_candidate/,
      );
      expect(plan(/FROM gc_manifest_queue WHERE \(repository_id, digest\)/)).toMatch(
        /USING COVERING INDEX gc_manifest_queue_candidate/,
      );
      expect(plan(/DELETE FROM gc_holds WHERE holder = \?/)).toMatch(/USING INDEX gc_holds_holder/);
      const unlink = plan(/DELETE FROM repository_blobs WHERE digest = @digest/);
      expect(unlink).toMatch(/USING (COVERING )?INDEX repository_blobs_digest/);
      expect(unlink).not.toMatch(/SCAN manifest_references/);
      expect(plan(/DELETE FROM manifests WHERE repository_id = @repositoryId/)).not.toMatch(
        /SCAN (tags|manifests|manifest_references)\b/,
      );
    } finally {
      db.close();
    }
  });

  it('tells the read cache on its connection when it deletes manifests and links', async () => {
    const db = openDatabase(':memory:');
    try {
      const flag = createIndexChangeFlag();
      const metadata = withReadCache(createSqliteMetadataStore(db), { changedElsewhere: () => flag.take() });
      const gc = createSqliteGcStore(db, { onIndexChange: () => flag.mark() });
      await metadata.putManifest(repo, record('1'), NONE, 'v' as Tag);
      await metadata.linkBlob(repo, digest('b'), 5);
      expect(await metadata.findManifest(repo, digest('1'))).toBeDefined(); // cached
      expect(await metadata.findRepositoryBlob(repo, digest('b'))).toEqual({ size: 5 }); // cached
      await metadata.deleteTag(repo, 'v' as Tag);
      const [manifest] = await gc.dueManifests(Date.now() + 1000, 10);
      expect(await gc.reviewManifest(manifest!, Date.now())).toBe('deleted');
      expect(await metadata.findManifest(repo, digest('1'))).toBeUndefined();
      const [blob] = (await gc.dueBlobs(Date.now() + 1000, 10)).filter((item) => item.digest === digest('b'));
      const now = Date.now();
      expect((await gc.reviewBlob(blob!, { holder: 's', now, until: now + 1000 })).unlinked).toEqual([repo]);
      expect(await metadata.findRepositoryBlob(repo, digest('b'))).toBeUndefined();
    } finally {
      db.close();
    }
  });
});
