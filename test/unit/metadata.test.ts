import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase, otherConnectionsCommitted, schemaVersion } from '../../src/metadata/db.js';
import { MIGRATIONS } from '../../src/metadata/migrations/index.js';
import { withReadCache } from '../../src/metadata/read-cache.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const manifest = (c: string, extra: object = {}) => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100,
  artifactType: null,
  subject: null,
  annotations: null,
  ...extra,
});

/** Rows as schema v1 stores them (written with SQL, since the store speaks the latest schema). */
function insertV1Data(db: ReturnType<typeof openDatabase>): void {
  db.exec(`
    INSERT INTO repositories (id, name, created_at) VALUES (1, 'team/app', 1);
    INSERT INTO manifests (repository_id, digest, media_type, size, created_at)
      VALUES (1, '${digest('1')}', 'application/vnd.oci.image.manifest.v1+json', 100, 1);
    INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (1, 'v1', '${digest('1')}', 1);
    INSERT INTO uploads (id, repository, size, started_at, updated_at) VALUES ('u', 'team/app', 5, 1, 2);
  `);
}

describe('metadata database', () => {
  it.each(MIGRATIONS.slice(0, -1).map((m) => m.version))(
    'migrates a v%i database to the latest version, keeping manifests, tags and uploads',
    async (version) => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-db-'));
      const path = join(dir, 'berth.db');
      try {
        const old = openDatabase(path, MIGRATIONS.slice(0, 1));
        insertV1Data(old);
        old.close();
        openDatabase(path, MIGRATIONS.slice(0, version)).close();
        const latest = openDatabase(path);
        try {
          expect(schemaVersion(latest)).toBe(MIGRATIONS.at(-1)?.version);
          const store = createSqliteMetadataStore(latest);
          expect(await store.listRepositories({})).toEqual(['team/app']);
          expect((await store.resolveTag(repo('team/app'), 'v1' as Tag))?.digest).toBe(digest('1'));
          expect(await store.leaseUpload('u', { holder: 'h', now: 3, until: 4 })).toMatchObject({ size: 5 });
        } finally {
          latest.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('migrates an empty database to the latest version, and re-opening is a no-op', async () => {
    const db = openDatabase(':memory:');
    expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
    db.close();
  });

  it('migrates a v1 database to v2, keeping its data and adding the account tables', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-db-'));
    const path = join(dir, 'berth.db');
    try {
      const v1 = openDatabase(path, MIGRATIONS.slice(0, 1));
      expect(schemaVersion(v1)).toBe(1);
      insertV1Data(v1);
      v1.close();

      const v2 = openDatabase(path, MIGRATIONS.slice(0, 2));
      try {
        expect(schemaVersion(v2)).toBe(2);
        expect(v2.prepare('SELECT name FROM repositories').pluck().all()).toEqual(['team/app']);
        const tables = v2
          .prepare(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'",
          )
          .pluck()
          .all();
        expect(tables).toEqual(
          expect.arrayContaining([
            'accounts',
            'namespaces',
            'namespace_members',
            'namespace_members_account',
          ]),
        );
        const accounts = createSqliteAccountStore(v2);
        await accounts.insertNamespace({ name: 'team', public: false, createdAt: 1 });
        expect(await accounts.listNamespaces()).toEqual([{ name: 'team', public: false, createdAt: 1 }]);
        expect(() =>
          v2
            .prepare("INSERT INTO accounts (name, kind, secret_hash, created_at) VALUES ('x', 'bot', 'h', 1)")
            .run(),
        ).toThrow(/CHECK constraint/);
      } finally {
        v2.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database written by a newer Berth', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-db-'));
    const path = join(dir, 'berth.db');
    try {
      openDatabase(path, [...MIGRATIONS, { version: 99, up: 'CREATE TABLE later (x);' }]).close();
      expect(() => openDatabase(path)).toThrow(/newer than this Berth/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('metadata read cache', () => {
  const open = () => withReadCache(createSqliteMetadataStore(openDatabase(':memory:')));
  const none = { blobs: [], manifests: [] };

  it('does not cache an answer read while a write through it was under way', async () => {
    const inner = createSqliteMetadataStore(openDatabase(':memory:'));
    let release = () => {};
    const slow: MetadataStore = {
      ...inner,
      // Reads now, answers later: a read that a concurrent write overtakes.
      async resolveTag(repository, tag) {
        const answer = await inner.resolveTag(repository, tag);
        await new Promise<void>((resolve) => (release = resolve));
        return answer;
      },
    };
    const store = withReadCache(slow);
    await store.putManifest(repo('r'), manifest('1'), none, 'latest' as Tag);
    const stale = store.resolveTag(repo('r'), 'latest' as Tag);
    await new Promise((resolve) => setImmediate(resolve));
    await store.putManifest(repo('r'), manifest('2'), none, 'latest' as Tag);
    release();
    expect((await stale)?.digest).toBe(digest('1'));
    const fresh = store.resolveTag(repo('r'), 'latest' as Tag);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect((await fresh)?.digest).toBe(digest('2'));
  });

  it('drops its answers when another connection to the database commits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cache-'));
    const path = join(dir, 'berth.db');
    const mine = openDatabase(path);
    const theirs = openDatabase(path);
    try {
      const store = withReadCache(createSqliteMetadataStore(mine), {
        changedElsewhere: otherConnectionsCommitted(mine),
      });
      const replica = createSqliteMetadataStore(theirs);
      await store.putManifest(repo('r'), manifest('1'), none, 'latest' as Tag);
      expect((await store.resolveTag(repo('r'), 'latest' as Tag))?.digest).toBe(digest('1'));
      await replica.putManifest(repo('r'), manifest('2'), none, 'latest' as Tag);
      expect((await store.resolveTag(repo('r'), 'latest' as Tag))?.digest).toBe(digest('2'));
      await replica.deleteManifest(repo('r'), digest('2'));
      expect(await store.resolveTag(repo('r'), 'latest' as Tag)).toBeUndefined();
      expect(await store.findManifest(repo('r'), digest('2'))).toBeUndefined();
    } finally {
      mine.close();
      theirs.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('follows tag moves, untags and manifest deletes made through it', async () => {
    const store = open();
    await store.putManifest(repo('r'), manifest('1'), none, 'latest' as Tag);
    expect((await store.resolveTag(repo('r'), 'latest' as Tag))?.digest).toBe(digest('1'));
    await store.putManifest(repo('r'), manifest('2'), none, 'latest' as Tag);
    expect((await store.resolveTag(repo('r'), 'latest' as Tag))?.digest).toBe(digest('2'));
    await store.putManifest(repo('r'), manifest('2'), none, 'stable' as Tag);
    expect((await store.resolveTag(repo('r'), 'stable' as Tag))?.digest).toBe(digest('2'));
    expect(await store.findManifest(repo('r'), digest('2'))).toBeDefined();
    expect(await store.deleteManifest(repo('r'), digest('2'))).toBe(true);
    expect(await store.resolveTag(repo('r'), 'latest' as Tag)).toBeUndefined();
    expect(await store.resolveTag(repo('r'), 'stable' as Tag)).toBeUndefined();
    expect(await store.findManifest(repo('r'), digest('2'))).toBeUndefined();
    await store.putManifest(repo('r'), manifest('1'), none, 'old' as Tag);
    expect((await store.resolveTag(repo('r'), 'old' as Tag))?.digest).toBe(digest('1'));
    expect(await store.deleteTag(repo('r'), 'old' as Tag)).toBe(true);
    expect(await store.resolveTag(repo('r'), 'old' as Tag)).toBeUndefined();
  });

  it('forgets a blob link once it is removed', async () => {
    const store = open();
    await store.linkBlob(repo('r'), digest('b'), 5);
    expect(await store.findRepositoryBlob(repo('r'), digest('b'))).toEqual({ size: 5 });
    await store.unlinkBlob(repo('r'), digest('b'));
    expect(await store.findRepositoryBlob(repo('r'), digest('b'))).toBeUndefined();
  });
});
