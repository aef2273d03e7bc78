// `berth db copy`: a SQLite metadata database copied into an empty PostgreSQL one answers every
// question the same way, the accounts' and the mirror's as the metadata's, and the copy refuses a
// database that already holds data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountStore, StoredAccount } from '../../src/auth/model.js';
import { copySqliteToPostgres } from '../../src/metadata/copy.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { openPostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteMirrorStore } from '../../src/metadata/sqlite-mirror-store.js';
import { createSqliteOutboxStore } from '../../src/metadata/sqlite-outbox-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { MirrorStore } from '../../src/mirror/mirror-store.js';
import type { OutboxStore } from '../../src/notifications/outbox-store.js';
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

const ALICE: StoredAccount = {
  name: 'alice',
  kind: 'user',
  admin: true,
  credentialVersion: 1,
  description: 'Alice',
  createdAt: 1_700_000_000_123,
  secretHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA',
};

/** Users (an admin among them, one whose secret changed), a robot, namespaces and their members. */
async function populateAccounts(store: AccountStore): Promise<void> {
  await store.insertAccount(ALICE);
  await store.updateSecret('alice', '$scrypt$ln=15,r=8,p=1$c2FsdA$bmV3');
  await store.insertAccount({
    ...ALICE,
    name: 'bob',
    admin: false,
    description: null,
    createdAt: 1_700_000_000_456,
    secretHash: '$2y$10$abcdefghijklmnopqrstuuVWXYZ0123456789abcdefghijklmnopq',
  });
  await store.insertAccount({ ...ALICE, name: 'Zed', admin: false, createdAt: 1 });
  await store.insertAccount({
    ...ALICE,
    name: 'robot+ci',
    kind: 'robot',
    admin: false,
    description: 'CI pushes',
    secretHash: '$sha256$3q2+7w',
  });
  await store.insertNamespace({ name: 'team-a', public: false, createdAt: 1_700_000_000_789 });
  await store.insertNamespace({ name: 'Pub', public: true, createdAt: 2 });
  await store.setMember({ namespace: 'team-a', account: 'bob', role: 'write' });
  await store.setMember({ namespace: 'team-a', account: 'robot+ci', role: 'read' });
  await store.setMember({ namespace: 'Pub', account: 'alice', role: 'admin' });
  await store.setMember({ namespace: 'Pub', account: 'robot+ci', role: 'write' });
}

/** Every account (secret hash included), namespace and membership, as the account store answers. */
async function accountSnapshot(store: AccountStore) {
  const accounts = await store.listAccounts();
  const namespaces = await store.listNamespaces();
  return {
    accounts,
    stored: await Promise.all(accounts.map((account) => store.getAccount(account.name))),
    robots: await store.listAccounts('robot'),
    count: await store.countAccounts(),
    namespaces,
    members: await Promise.all(namespaces.map((namespace) => store.listMembers(namespace.name))),
    memberships: await Promise.all(accounts.map((account) => store.membershipsOf(account.name))),
    roles: await Promise.all(
      namespaces.flatMap((namespace) =>
        accounts.map((account) => store.getRole(namespace.name, account.name)),
      ),
    ),
  };
}

const MIRRORED = ['library/alpine', 'library/Nginx', 'ghcr/org/tool'];

/** A mirror's state: content from two upstreams, checked tags, counters (one upstream has only those). */
async function populateMirror(store: MirrorStore): Promise<void> {
  const at = 1_700_000_000_000;
  for (const [i, name] of MIRRORED.entries()) {
    const upstream = name.startsWith('ghcr/') ? 'ghcr' : 'hub';
    await store.recordCached({
      upstream,
      repository: repo(name),
      digest: digest('a'),
      kind: 'manifest',
      size: 1234,
      at: at + i,
    });
    await store.recordCached({
      upstream,
      repository: repo(name),
      digest: digest('1'),
      kind: 'blob',
      size: 5_000_000_000,
      at: at + i,
    });
    await store.markTagChecked(repo(name), 'latest' as Tag, digest('a'), at + 10 + i);
  }
  await store.touchCached([{ repository: repo('library/alpine'), digest: digest('1'), at: at + 99 }]);
  await store.addCounters('hub', {
    hits: 10,
    misses: 3,
    staleHits: 1,
    bytesFromCache: 2 ** 40,
    bytesFromUpstream: 15_000_000_000,
  });
  await store.addCounters('quay', {
    hits: 0,
    misses: 2,
    staleHits: 0,
    bytesFromCache: 0,
    bytesFromUpstream: 9,
  });
}

/** Everything the mirror asks its store, in one comparable value. */
async function mirrorSnapshot(store: MirrorStore) {
  const status = await store.listStatus();
  return {
    status,
    content: await Promise.all(status.map((s) => store.listLeastRecentlyPulled(s.upstream, 100))),
    tags: await Promise.all(MIRRORED.map((name) => store.findCachedTag(repo(name), 'latest' as Tag))),
    cached: await Promise.all(
      [...MIRRORED, 'team-a/app'].map((name) => store.isCachedRepository(repo(name))),
    ),
  };
}

/**
 * A webhook outbox with history: deliveries made, one failed and waiting for its retry, one dropped,
 * and pending ones queued behind each other in one repository, for two endpoints.
 */
async function populateOutbox(store: OutboxStore): Promise<void> {
  const at = 1_700_000_000_000;
  const event = (id: string, repository: string, endpoints = ['ci']) => ({
    eventId: id,
    repository,
    payload: JSON.stringify({ id, repository, note: 'ünï' }),
    endpoints,
  });
  await store.enqueue([event('old', 'team-a/app')], at - 10);
  await store.dropExpired(at - 5, 10);
  await store.enqueue(
    [event('e1', 'team-a/app', ['ci', 'audit']), event('e2', 'team-a/app'), event('e3', 'x/y/z')],
    at,
  );
  const [e1, e3] = await store.claim('ci', { holder: 'w', now: at, until: at + 10, limit: 10 });
  await store.markDelivered(e1!.seq, at + 1);
  await store.markFailed(e3!.seq, 'w', { at: at + 2, nextAttemptAt: at + 2_000, error: 'HTTP 502' });
  await store.enqueue([event('e4', 'team-a/app')], at + 3);
}

/** What the outbox answers: its status, and every delivery in the order it would go out. */
async function outboxSnapshot(store: OutboxStore) {
  const status = await store.listStatus();
  const now = 1_700_000_100_000;
  const sent: unknown[] = [];
  for (const endpoint of ['ci', 'audit']) {
    for (;;) {
      const claimed = await store.claim(endpoint, { holder: 'snap', now, until: now + 1, limit: 100 });
      if (claimed.length === 0) break;
      for (const delivery of claimed) {
        sent.push({ ...delivery, seq: undefined });
        await store.markDelivered(delivery.seq, now);
      }
    }
  }
  return { status, sent };
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
    await populateAccounts(createSqliteAccountStore(sqlite));
    await populateMirror(createSqliteMirrorStore(sqlite));
    await populateOutbox(createSqliteOutboxStore(sqlite));
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
      expect(report.rows).toMatchObject({
        repositories: 4,
        tags: 12,
        manifests: 8,
        uploads: 1,
        accounts: 4,
        namespaces: 2,
        namespace_members: 4,
        mirror_tags: 3,
        mirror_content: 6,
        mirror_counters: 2,
        outbox: 4,
        outbox_endpoints: 1,
      });
      expect(await snapshot(target.store)).toEqual(await snapshot(createSqliteMetadataStore(sqlite)));
      const copied = await accountSnapshot(target.accounts);
      expect(copied).toEqual(await accountSnapshot(createSqliteAccountStore(sqlite)));
      // The values themselves came across, not merely the same answers from both sides.
      expect(await target.accounts.getAccount('alice')).toEqual({
        ...ALICE,
        credentialVersion: 2,
        secretHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$bmV3',
      });
      expect(copied.accounts.map((account) => account.name)).toEqual(['Zed', 'alice', 'bob', 'robot+ci']);
      expect(copied.namespaces).toEqual([
        { name: 'Pub', public: true, createdAt: 2 },
        { name: 'team-a', public: false, createdAt: 1_700_000_000_789 },
      ]);
      expect(copied.memberships.flat()).toHaveLength(4);
      const mirrored = await mirrorSnapshot(target.mirror);
      expect(mirrored).toEqual(await mirrorSnapshot(createSqliteMirrorStore(sqlite)));
      expect(mirrored.status).toEqual([
        {
          upstream: 'ghcr',
          hits: 0,
          misses: 0,
          staleHits: 0,
          bytesFromCache: 0,
          bytesFromUpstream: 0,
          cachedBytes: 5_000_001_234,
          cachedItems: 2,
        },
        {
          upstream: 'hub',
          hits: 10,
          misses: 3,
          staleHits: 1,
          bytesFromCache: 2 ** 40,
          bytesFromUpstream: 15_000_000_000,
          cachedBytes: 10_000_002_468,
          cachedItems: 4,
        },
        {
          upstream: 'quay',
          hits: 0,
          misses: 2,
          staleHits: 0,
          bytesFromCache: 0,
          bytesFromUpstream: 9,
          cachedBytes: 0,
          cachedItems: 0,
        },
      ]);
      expect(mirrored.content[1]?.at(-1)).toEqual({
        upstream: 'hub',
        repository: 'library/alpine',
        digest: digest('1'),
        kind: 'blob',
        size: 5_000_000_000,
        cachedAt: 1_700_000_000_000,
        lastPulledAt: 1_700_000_000_099,
      });
      expect(mirrored.cached).toEqual([true, true, true, false]);
      // The copied counters go on counting.
      await target.mirror.addCounters('hub', {
        hits: 1,
        misses: 0,
        staleHits: 0,
        bytesFromCache: 0,
        bytesFromUpstream: 0,
      });
      expect((await target.mirror.listStatus())[1]?.hits).toBe(11);
      // New repositories get fresh ids after the copied ones.
      await target.store.putManifest(
        repo('after/copy'),
        manifest('c'),
        { blobs: [], manifests: [] },
        'v1' as Tag,
      );
      expect((await target.store.resolveTag(repo('after/copy'), 'v1' as Tag))?.digest).toBe(digest('c'));
      expect(await target.store.listRepositories({})).toContain('after/copy');
      // The outbox: the same status, and the same deliveries in the same order (the copy delivers them
      // in both databases here, which is why it comes last); new events are numbered after the copied.
      const before = await target.outbox.listStatus();
      expect(before).toEqual([
        {
          endpoint: 'audit',
          pending: 1,
          retrying: 0,
          oldestPendingAt: 1_700_000_000_000,
          delivered: 0,
          dropped: 0,
          lastSuccessAt: null,
          lastFailureAt: null,
          lastError: null,
        },
        {
          endpoint: 'ci',
          pending: 3,
          retrying: 1,
          oldestPendingAt: 1_700_000_000_000,
          delivered: 1,
          dropped: 1,
          lastSuccessAt: 1_700_000_000_001,
          lastFailureAt: 1_700_000_000_002,
          lastError: 'HTTP 502',
        },
      ]);
      const copiedOutbox = await outboxSnapshot(target.outbox);
      expect(copiedOutbox).toEqual(await outboxSnapshot(createSqliteOutboxStore(sqlite)));
      expect(copiedOutbox.sent.map((d) => (d as { eventId: string }).eventId)).toEqual([
        'e2',
        'e3',
        'e4',
        'e1',
      ]);
      await target.outbox.enqueue(
        [{ eventId: 'after', repository: 'team-a/app', payload: '{}', endpoints: ['ci'] }],
        1_700_000_200_000,
      );
      const [after] = await target.outbox.claim('ci', {
        holder: 'w',
        now: 1_700_000_200_000,
        until: 1_700_000_200_001,
        limit: 1,
      });
      expect(after?.eventId).toBe('after');
      expect(after?.seq).toBeGreaterThan(4);
    } finally {
      await target.close();
      await database.drop();
    }
  });

  it('refuses a database that already holds an account, and leaves it as it was', async () => {
    const database = await server.createDatabase();
    const target = await openPostgresMetadata({ url: database.url });
    try {
      await target.accounts.insertAccount({ ...ALICE, name: 'admin' });
      await expect(copySqliteToPostgres(sqlite, target.pool)).rejects.toThrow(
        'the PostgreSQL database already has accounts: copy into an empty one',
      );
      expect((await target.accounts.listAccounts()).map((account) => account.name)).toEqual(['admin']);
      expect(await target.store.findBlob(digest('1'))).toBeUndefined();
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
