// The SQLite catalog store: the shared conformance suite, the query plans of its listings, the
// counters and tag sort keys of a database migrated with content in it, the read cache after a repository delete, and
// listing latency at 20,000 repositories.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { describeCatalogStoreConformance } from '../../src/metadata/catalog-conformance.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createIndexChangeFlag } from '../../src/metadata/index-changes.js';
import { MIGRATIONS } from '../../src/metadata/migrations/index.js';
import { withReadCache } from '../../src/metadata/read-cache.js';
import { createSqliteCatalogStore } from '../../src/metadata/sqlite-catalog-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { RepositorySort, SortOrder, TagSort } from '../../src/registry/catalog-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { tagOrder } from '../../src/registry/tag-order.js';
import { preparedStatementPlans, sortKeyTagNames, sqliteFile } from '../support/store-databases.js';

const digest = (c: string) => `sha256:${c.padStart(64, '0')}` as Digest;
const repo = (name: string) => name as RepoName;

describeCatalogStoreConformance('sqlite', async (clock) => {
  const { open, cleanup } = await sqliteFile();
  const stores = () => {
    const db = open();
    return { metadata: createSqliteMetadataStore(db, clock), catalog: createSqliteCatalogStore(db) };
  };
  return { ...stores(), sibling: async () => stores(), cleanup };
});

describe('sqlite catalog store', () => {
  it('walks one partial index per listing, from the key, without sorting', async () => {
    const db = openDatabase(':memory:');
    try {
      const explain = (sort: RepositorySort, order: SortOrder, after: boolean) =>
        preparedStatementPlans(db, (recording) => {
          // A listing's statement is prepared by its first use.
          void createSqliteCatalogStore(recording).listRepositories({
            sort,
            order,
            limit: 1,
            ...(after && { after: { value: 1, name: repo('a') } }),
          });
        })(/^SELECT name, size[\s\S]*ORDER BY/);
      const indexes: Record<RepositorySort, string> = {
        name: 'repositories_listed',
        pushed: 'repositories_by_push',
        pulled: 'repositories_by_pull',
        size: 'repositories_by_size',
        tags: 'repositories_by_tags',
      };
      for (const sort of Object.keys(indexes) as RepositorySort[]) {
        for (const order of ['asc', 'desc'] as const) {
          const first = explain(sort, order, false);
          expect(first).toContain(`INDEX ${indexes[sort]}`);
          expect(first).not.toMatch(/TEMP B-TREE/);
          const later = explain(sort, order, true);
          expect(later).toMatch(new RegExp(`INDEX ${indexes[sort]} \\(.*[<>]`));
          expect(later).not.toMatch(/TEMP B-TREE/);
        }
      }
      const tagIndexes: Record<TagSort, [string, string]> = {
        pushed: ['tags_by_push', 'updated_at'],
        name: ['tags_by_name_key', 'name_key'],
        semver: ['tags_by_semver_key', 'semver_key'],
      };
      for (const [sort, [index, column]] of Object.entries(tagIndexes) as Array<
        [TagSort, [string, string]]
      >) {
        for (const order of ['asc', 'desc'] as const) {
          for (const after of [false, true]) {
            const tagPlan = preparedStatementPlans(db, (recording) => {
              void createSqliteCatalogStore(recording).listTags(repo('r'), {
                sort,
                order,
                limit: 1,
                ...(after && { after: { pushedAt: 1, name: 'a' as Tag } }),
              });
            })(/ORDER BY t\.(updated_at|name_key|semver_key)/);
            const from = after ? ` AND \\(${column},name\\)[<>]\\(\\?,\\?\\)` : '';
            expect(tagPlan).toMatch(new RegExp(`INDEX ${index} \\(repository_id=\\?${from}\\)`));
            expect(tagPlan).not.toMatch(/TEMP B-TREE/);
          }
        }
      }
    } finally {
      db.close();
    }
  });

  it('counts what a database held before the catalog migration', async () => {
    const { open, cleanup } = await sqliteFile();
    try {
      const old = open(MIGRATIONS.slice(0, 7));
      old.exec(`
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
      `);
      old.close();
      const db = open();
      const catalog = createSqliteCatalogStore(db);
      expect(await catalog.findRepository(repo('team/app'))).toEqual({
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
      expect(await catalog.findRepository(repo('empty'))).toBeUndefined();
      const [v1] = await catalog.findTags(repo('team/app'), ['v1' as Tag]);
      expect(v1).toMatchObject({ digest: digest('ix'), size: 7 + 5, platforms: null, created: null });
      // The triggers keep counting from there.
      await createSqliteMetadataStore(db).linkBlob(repo('team/app'), digest('b3'), 1000);
      expect(await catalog.findRepository(repo('team/app'))).toMatchObject({ size: 1042 });
    } finally {
      await cleanup();
    }
  });

  it('sorts by name and semver the tags a database held before the sort keys migration', async () => {
    const { open, cleanup } = await sqliteFile();
    try {
      const old = open(MIGRATIONS.slice(0, 11));
      const names = sortKeyTagNames();
      old.transaction(() => {
        old.exec(`
          INSERT INTO repositories (id, name, created_at) VALUES (1, 'r', 1), (2, 's', 1);
          INSERT INTO manifests (repository_id, digest, media_type, size, created_at)
            VALUES (1, '${digest('m')}', 'application/vnd.oci.image.manifest.v1+json', 5, 1),
                   (2, '${digest('m')}', 'application/vnd.oci.image.manifest.v1+json', 5, 1);
        `);
        const insert = old.prepare(
          'INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, 1)',
        );
        for (const name of names) insert.run(1, name, digest('m'));
        insert.run(2, 'v1', digest('m'));
      })();
      old.close();
      const catalog = createSqliteCatalogStore(open());
      for (const sort of ['name', 'semver'] as const) {
        const listed = await catalog.listTags(repo('r'), { sort, order: 'asc', limit: 10_000 });
        expect(listed.map((t) => t.name)).toEqual([...names].sort(tagOrder(sort, 'asc')));
      }
    } finally {
      await cleanup();
    }
  });

  it('tells the read cache that a repository delete changed the index', async () => {
    const db = openDatabase(':memory:');
    try {
      const changes = createIndexChangeFlag();
      const metadata = withReadCache(createSqliteMetadataStore(db), {
        changedElsewhere: () => changes.take(),
      });
      const catalog = createSqliteCatalogStore(db, changes);
      const manifest = {
        digest: digest('m1'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 5,
        artifactType: null,
        subject: null,
        annotations: null,
      };
      await metadata.putManifest(repo('r'), manifest, { blobs: [], manifests: [] }, 'v1' as Tag);
      expect(await metadata.resolveTag(repo('r'), 'v1' as Tag)).toMatchObject({ digest: digest('m1') });
      expect(await metadata.findManifest(repo('r'), digest('m1'))).toBeDefined();
      await catalog.deleteRepository(repo('r'));
      expect(await metadata.resolveTag(repo('r'), 'v1' as Tag)).toBeUndefined();
      expect(await metadata.findManifest(repo('r'), digest('m1'))).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('answers a page of 20,000 repositories in well under 10 ms (p50), for every sort and a search', async () => {
    const db = openDatabase(':memory:');
    try {
      const catalog = createSqliteCatalogStore(db);
      db.transaction(() => {
        const repository = db.prepare('INSERT INTO repositories (id, name, created_at) VALUES (?, ?, 1)');
        const blob = db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, 1)');
        const link = db.prepare(
          'INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, 1)',
        );
        const manifest = db.prepare(
          `INSERT INTO manifests (repository_id, digest, media_type, size, created_at)
           VALUES (?, ?, 'application/vnd.oci.image.manifest.v1+json', 100, ?)`,
        );
        const tag = db.prepare(
          'INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)',
        );
        for (let i = 1; i <= 20_000; i++) {
          const name = `team-${i % 97}/app-${i}`;
          const d = digest(`m${i}`);
          repository.run(i, name);
          blob.run(digest(`b${i}`), (i * 7919) % 100_000);
          link.run(i, digest(`b${i}`));
          manifest.run(i, d, i);
          for (let t = 0; t < 5; t++) tag.run(i, `v${t}`, d, i * 10 + t);
        }
      })();
      expect(await catalog.countRepositories()).toBe(20_000);
      const p50 = async (run: () => Promise<unknown>) => {
        const times: number[] = [];
        for (let i = 0; i < 21; i++) {
          const start = performance.now();
          await run();
          times.push(performance.now() - start);
        }
        return times.sort((a, b) => a - b)[10] as number;
      };
      for (const sort of ['name', 'pushed', 'pulled', 'size', 'tags'] as const) {
        for (const order of ['asc', 'desc'] as const) {
          const deep = (await catalog.listRepositories({ sort, order, limit: 10_001 })).at(-1);
          const after = deep && {
            value: sort === 'size' ? deep.size : sort === 'tags' ? deep.tagCount : 0,
            name: deep.name,
          };
          const page = async () => {
            await catalog.listRepositories({ sort, order, limit: 100, after });
            await catalog.countRepositories();
          };
          expect(await p50(page)).toBeLessThan(10);
        }
      }
      const search = async () => {
        await catalog.listRepositories({ search: 'app-1999', sort: 'size', order: 'desc', limit: 100 });
        await catalog.countRepositories('app-1999');
      };
      expect(await p50(search)).toBeLessThan(20);
    } finally {
      db.close();
    }
  });
});
