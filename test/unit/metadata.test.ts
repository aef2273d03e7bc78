import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from '../../src/metadata/db.js';
import { MIGRATIONS } from '../../src/metadata/migrations/index.js';
import { withReadCache } from '../../src/metadata/read-cache.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
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
          expect(store.listRepositories({})).toEqual(['team/app']);
          expect(store.resolveTag(repo('team/app'), 'v1' as Tag)?.digest).toBe(digest('1'));
          expect(store.leaseUpload('u', { holder: 'h', now: 3, until: 4 })).toMatchObject({ size: 5 });
        } finally {
          latest.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('migrates an empty database to the latest version, and re-opening is a no-op', () => {
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
        accounts.insertNamespace({ name: 'team', public: false, createdAt: 1 });
        expect(accounts.listNamespaces()).toEqual([{ name: 'team', public: false, createdAt: 1 }]);
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

describe('sqlite metadata store', () => {
  const open = () => createSqliteMetadataStore(openDatabase(':memory:'));

  it('links blobs per repository', () => {
    const store = open();
    store.linkBlob(repo('a'), digest('1'), 10);
    expect(store.findRepositoryBlob(repo('a'), digest('1'))).toEqual({ size: 10 });
    expect(store.findRepositoryBlob(repo('b'), digest('1'))).toBeUndefined();
    expect(store.findBlob(digest('1'))).toEqual({ size: 10 });
    expect(store.repositoryBlobSizes(repo('a'), [digest('1'), digest('2'), digest('2')])).toEqual(
      new Map([[digest('1'), 10]]),
    );
    expect(store.unlinkBlob(repo('a'), digest('1'))).toBe(true);
    expect(store.unlinkBlob(repo('a'), digest('1'))).toBe(false);
  });

  it('tags manifests, lists in lexical order with pagination, and deletes tags with their manifest', () => {
    const store = open();
    store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'b' as Tag);
    store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'a' as Tag);
    store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'c' as Tag);
    expect(store.listTags(repo('r'), {})).toEqual(['a', 'b', 'c']);
    expect(store.listTags(repo('r'), { last: 'a', limit: 1 })).toEqual(['b']);
    expect(store.resolveTag(repo('r'), 'b' as Tag)?.digest).toBe(digest('m'));
    expect(store.deleteManifest(repo('r'), digest('m'))).toBe(true);
    expect(store.listTags(repo('r'), {})).toEqual([]);
    expect(store.repositoryExists(repo('r'))).toBe(false);
    expect(store.listRepositories({})).toEqual([]);
  });

  it('moves a tag to a new manifest', () => {
    const store = open();
    store.putManifest(repo('r'), manifest('1'), { blobs: [], manifests: [] }, 'latest' as Tag);
    store.putManifest(repo('r'), manifest('2'), { blobs: [], manifests: [] }, 'latest' as Tag);
    expect(store.resolveTag(repo('r'), 'latest' as Tag)?.digest).toBe(digest('2'));
    expect(store.findManifest(repo('r'), digest('1'))).toBeDefined();
  });

  it('lists repositories holding manifests, after `last`', () => {
    const store = open();
    for (const name of ['c/x', 'a', 'b/y'])
      store.putManifest(repo(name), manifest('1'), { blobs: [], manifests: [] });
    store.linkBlob(repo('blob-only'), digest('9'), 1);
    expect(store.listRepositories({})).toEqual(['a', 'b/y', 'c/x']);
    expect(store.listRepositories({ last: 'a', limit: 1 })).toEqual(['b/y']);
  });

  it('finds referrers by subject and artifact type', () => {
    const store = open();
    const refs = { blobs: [], manifests: [] };
    store.putManifest(repo('r'), manifest('s'), refs);
    store.putManifest(repo('r'), manifest('1', { subject: digest('s'), artifactType: 'x/sbom' }), refs);
    store.putManifest(
      repo('r'),
      manifest('2', { subject: digest('s'), artifactType: 'x/sig', annotations: { k: 'v' } }),
      refs,
    );
    expect(store.listReferrers(repo('r'), digest('s')).map((m) => m.digest)).toEqual([
      digest('1'),
      digest('2'),
    ]);
    expect(store.listReferrers(repo('r'), digest('s'), 'x/sig')).toEqual([
      expect.objectContaining({ digest: digest('2'), annotations: { k: 'v' } }),
    ]);
    expect(store.listReferrers(repo('other'), digest('s'))).toEqual([]);
  });

  it('tracks upload sessions and finds stale ones', () => {
    const store = open();
    store.createUpload({ id: 'u1', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
    store.createUpload({ id: 'u2', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 50 });
    expect(store.updateUploadSize('u1', 'holder', 42, 10)).toBe(false); // no lease, no write
    expect(store.leaseUpload('u1', { holder: 'holder', now: 5, until: 100 })).toMatchObject({ id: 'u1' });
    expect(store.updateUploadSize('u1', 'holder', 42, 10)).toBe(true);
    expect(store.findUpload('u1')).toMatchObject({ size: 42, updatedAt: 10 });
    expect(store.listUploadsUpdatedBefore(20).map((u) => u.id)).toEqual(['u1']);
    store.deleteUpload('u1');
    expect(store.findUpload('u1')).toBeUndefined();
  });
});

describe('upload leases', () => {
  const open = () => {
    const store = createSqliteMetadataStore(openDatabase(':memory:'));
    store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
    return store;
  };

  it('gives an upload one holder at a time until the lease ends or is released', () => {
    const store = open();
    expect(store.leaseUpload('u', { holder: 'a', now: 10, until: 40 })).toMatchObject({ id: 'u', size: 0 });
    expect(store.leaseUpload('u', { holder: 'b', now: 20, until: 50 })).toBe('busy');
    expect(store.updateUploadSize('u', 'b', 7, 20)).toBe(false);
    expect(store.leaseUpload('u', { holder: 'a', now: 30, until: 60 })).toMatchObject({ id: 'u' }); // renewal
    expect(store.leaseUpload('u', { holder: 'b', now: 50, until: 80 })).toBe('busy');
    expect(store.leaseUpload('u', { holder: 'b', now: 60, until: 90 })).toMatchObject({ id: 'u' }); // a's ended
    expect(store.updateUploadSize('u', 'a', 9, 61)).toBe(false);
    store.releaseUpload('u', 'a'); // no longer a's: nothing happens
    expect(store.leaseUpload('u', { holder: 'c', now: 61, until: 99 })).toBe('busy');
    store.releaseUpload('u', 'b');
    expect(store.leaseUpload('u', { holder: 'c', now: 62, until: 99 })).toMatchObject({ id: 'u' });
  });

  it('answers undefined for an upload that does not exist', () => {
    const store = open();
    expect(store.leaseUpload('nope', { holder: 'a', now: 1, until: 2 })).toBeUndefined();
    store.deleteUpload('u');
    expect(store.leaseUpload('u', { holder: 'a', now: 1, until: 2 })).toBeUndefined();
  });

  it('holds across two connections to one database file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-lease-'));
    try {
      const path = join(dir, 'berth.db');
      const first = createSqliteMetadataStore(openDatabase(path));
      const second = createSqliteMetadataStore(openDatabase(path));
      first.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
      expect(first.leaseUpload('u', { holder: 'a', now: 1, until: 100 })).toMatchObject({ id: 'u' });
      expect(second.leaseUpload('u', { holder: 'b', now: 2, until: 100 })).toBe('busy');
      first.releaseUpload('u', 'a');
      expect(second.leaseUpload('u', { holder: 'b', now: 3, until: 100 })).toMatchObject({ id: 'u' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('metadata read cache', () => {
  const open = () => withReadCache(createSqliteMetadataStore(openDatabase(':memory:')));
  const none = { blobs: [], manifests: [] };

  it('follows tag moves, untags and manifest deletes made through it', () => {
    const store = open();
    store.putManifest(repo('r'), manifest('1'), none, 'latest' as Tag);
    expect(store.resolveTag(repo('r'), 'latest' as Tag)?.digest).toBe(digest('1'));
    store.putManifest(repo('r'), manifest('2'), none, 'latest' as Tag);
    expect(store.resolveTag(repo('r'), 'latest' as Tag)?.digest).toBe(digest('2'));
    store.putManifest(repo('r'), manifest('2'), none, 'stable' as Tag);
    expect(store.resolveTag(repo('r'), 'stable' as Tag)?.digest).toBe(digest('2'));
    expect(store.findManifest(repo('r'), digest('2'))).toBeDefined();
    expect(store.deleteManifest(repo('r'), digest('2'))).toBe(true);
    expect(store.resolveTag(repo('r'), 'latest' as Tag)).toBeUndefined();
    expect(store.resolveTag(repo('r'), 'stable' as Tag)).toBeUndefined();
    expect(store.findManifest(repo('r'), digest('2'))).toBeUndefined();
    store.putManifest(repo('r'), manifest('1'), none, 'old' as Tag);
    expect(store.resolveTag(repo('r'), 'old' as Tag)?.digest).toBe(digest('1'));
    expect(store.deleteTag(repo('r'), 'old' as Tag)).toBe(true);
    expect(store.resolveTag(repo('r'), 'old' as Tag)).toBeUndefined();
  });

  it('forgets a blob link once it is removed', () => {
    const store = open();
    store.linkBlob(repo('r'), digest('b'), 5);
    expect(store.findRepositoryBlob(repo('r'), digest('b'))).toEqual({ size: 5 });
    store.unlinkBlob(repo('r'), digest('b'));
    expect(store.findRepositoryBlob(repo('r'), digest('b'))).toBeUndefined();
  });
});
