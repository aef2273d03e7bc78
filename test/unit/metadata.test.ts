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

describe('metadata database', () => {
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
      createSqliteMetadataStore(v1).putManifest(repo('team/app'), manifest('1'), {
        blobs: [],
        manifests: [],
      });
      v1.close();

      const v2 = openDatabase(path, MIGRATIONS.slice(0, 2));
      try {
        expect(schemaVersion(v2)).toBe(2);
        expect(createSqliteMetadataStore(v2).listRepositories({})).toEqual(['team/app']);
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
    store.updateUploadSize('u1', 42, 10);
    expect(store.findUpload('u1')).toMatchObject({ size: 42, updatedAt: 10 });
    expect(store.listUploadsUpdatedBefore(20).map((u) => u.id)).toEqual(['u1']);
    store.deleteUpload('u1');
    expect(store.findUpload('u1')).toBeUndefined();
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
