import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { describeMirrorStoreConformance } from '../../src/metadata/mirror-conformance.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteMirrorStore } from '../../src/metadata/sqlite-mirror-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { itWorksOnMigratedSqlite, preparedStatementPlans, sqliteStores } from '../support/store-databases.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;

describeMirrorStoreConformance('sqlite', sqliteStores(createSqliteMirrorStore));

describe('sqlite mirror store', () => {
  itWorksOnMigratedSqlite(async (db) => {
    const mirror = createSqliteMirrorStore(db);
    await mirror.recordCached({
      upstream: 'hub',
      repository: repo('library/alpine'),
      digest: digest('1'),
      kind: 'manifest',
      size: 10,
      at: 5,
    });
    await mirror.markTagChecked(repo('library/alpine'), 'latest' as Tag, digest('1'), 5);
    await mirror.addCounters('hub', {
      hits: 1,
      misses: 2,
      staleHits: 0,
      bytesFromCache: 3,
      bytesFromUpstream: 4,
    });
    expect(await mirror.isCachedRepository(repo('library/alpine'))).toBe(true);
    expect(await mirror.listStatus()).toEqual([
      {
        upstream: 'hub',
        hits: 1,
        misses: 2,
        staleHits: 0,
        bytesFromCache: 3,
        bytesFromUpstream: 4,
        cachedBytes: 10,
        cachedItems: 1,
      },
    ]);
  });

  it('finds eviction candidates, a repository and the tags to forget through indexes, without sorting', () => {
    const db = openDatabase(':memory:');
    try {
      // The store's own statements, as it prepares them.
      const plan = preparedStatementPlans(db, createSqliteMirrorStore, 'x');
      const eviction = plan(/ORDER BY last_pulled_at/);
      expect(eviction).toMatch(
        /USING (COVERING )?INDEX mirror_content_pulled \(upstream=\? AND last_pulled_at<\?\)/,
      );
      expect(eviction).not.toMatch(/TEMP B-TREE/);
      expect(plan(/SELECT 1 FROM mirror_content/)).toMatch(/USING PRIMARY KEY \(repository=\?\)/);
      const forget = plan(/DELETE FROM mirror_tags/);
      expect(forget).toMatch(/USING COVERING INDEX mirror_tags_digest \(repository=\? AND digest=\?\)/);
      expect(forget).toMatch(/USING PRIMARY KEY \(repository=\? AND tag=\?\)/);
      expect(forget).not.toMatch(/SCAN/);
    } finally {
      db.close();
    }
  });

  it('waits for a unit of work open on the same connection instead of landing inside it', async () => {
    const db = openDatabase(':memory:');
    try {
      const accounts = createSqliteAccountStore(db);
      const mirror = createSqliteMirrorStore(db);
      let opened = () => {};
      const open = new Promise<void>((done) => (opened = done));
      const work = accounts.transaction(async () => {
        opened();
        await new Promise((done) => setTimeout(done, 10));
        throw new Error('roll back');
      });
      await open;
      const counted = mirror.addCounters('hub', {
        hits: 1,
        misses: 0,
        staleHits: 0,
        bytesFromCache: 0,
        bytesFromUpstream: 0,
      });
      await expect(work).rejects.toThrow('roll back');
      await counted;
      // Added after the rollback, not inside the transaction it undid.
      expect((await mirror.listStatus())[0]?.hits).toBe(1);
    } finally {
      db.close();
    }
  });
});
