// The PostgreSQL GcStore against a real server (test/support/postgres.ts), each test on a fresh
// database: the shared conformance suite (the sibling is another pool, as another replica), races of
// holds and sweeps over many connections, and a repository's queue entries going with it. Without
// the PostgreSQL binaries these tests are skipped with a warning, except in CI (CI=true).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySqliteToPostgres } from '../../src/metadata/copy.js';
import { openDatabase } from '../../src/metadata/db.js';
import { describeGcStoreConformance } from '../../src/metadata/gc-conformance.js';
import { openPostgresDatabase } from '../../src/metadata/postgres/db.js';
import { createPostgresGcStore } from '../../src/metadata/postgres/postgres-gc-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { openPostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { itWorksOnMigratedPostgres, postgresStores } from '../support/store-databases.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;
const record = (n: number) => ({
  digest: digest(n),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 10,
  artifactType: null,
  subject: null,
  annotations: null,
});
const NONE = { blobs: [], manifests: [] };

describe.skipIf(!requirePostgres('the PostgreSQL gc store tests'))('postgres gc store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeGcStoreConformance('postgres', async () => {
    const { store, sibling, cleanup } = await postgresStores(
      () => server,
      (metadata) => ({ gc: metadata.gc, metadata: metadata.store }),
    )();
    return { ...store, sibling, cleanup };
  });

  itWorksOnMigratedPostgres(
    () => server,
    async ({ gc, store }) => {
      const repo = 'team/app' as RepoName;
      await store.putManifest(repo, record(1), NONE, 'v' as Tag);
      await store.putManifest(repo, record(2), NONE, 'v' as Tag);
      const [queued] = await gc.dueManifests(Date.now() + 1000, 10);
      expect(queued).toMatchObject({ repository: repo, digest: digest(1) });
      expect(await gc.reviewManifest(queued!, Date.now())).toBe('deleted');
    },
  );

  it('keeps the reviews SQLite had pending when `berth db copy` moves the database', async () => {
    const sqlite = openDatabase(':memory:');
    const database = await server.createDatabase();
    const pool = await openPostgresDatabase({ url: database.url });
    try {
      const source = createSqliteMetadataStore(sqlite);
      const repo = 'team/app' as RepoName;
      await source.putManifest(repo, record(1), NONE, 'v' as Tag);
      await source.putManifest(repo, record(2), NONE, 'v' as Tag); // v moved: 1 pending review
      await source.createUpload({ id: 'u1', repository: repo, size: 0, startedAt: 1, updatedAt: 1 });
      await source.deleteUpload('u1');
      await copySqliteToPostgres(sqlite, pool);
      const gc = createPostgresGcStore(pool);
      const due = await gc.dueManifests(Date.now() + 1000, 10);
      expect(due.map((item) => [item.repository, item.digest])).toEqual([[repo, digest(1)]]);
      expect((await gc.dueUploads(Date.now() + 1000, 10)).map((item) => item.id)).toEqual(['u1']);
      expect(await gc.reviewManifest(due[0]!, Date.now())).toBe('deleted');
    } finally {
      sqlite.close();
      await pool.end();
      await database.drop();
    }
  });

  it("forgets a deleted repository's manifest reviews and queues its blobs", async () => {
    const database = await server.createDatabase();
    const opened = await openPostgresMetadata({ url: database.url, poolSize: 2 });
    try {
      const { gc, store } = opened;
      const repo = 'team/app' as RepoName;
      await store.linkBlob(repo, digest(9), 5);
      await store.putManifest(repo, record(1), { blobs: [digest(9)], manifests: [] }, 'v' as Tag);
      await store.putManifest(repo, record(2), NONE, 'v' as Tag);
      for (const item of await gc.dueBlobs(Date.now() + 1000, 10)) {
        await gc.reviewBlob(item, { holder: 's', now: Date.now(), until: Date.now() + 60_000 });
      }
      expect(await gc.dueManifests(Date.now() + 1000, 10)).toHaveLength(1);
      await opened.pool.query('DELETE FROM repositories WHERE name = $1', [repo]);
      expect(await gc.dueManifests(Date.now() + 1000, 10)).toEqual([]);
      const due = (await gc.dueBlobs(Date.now() + 1000, 10)).map((item) => item.digest).sort();
      expect(due).toEqual([digest(1), digest(2), digest(9)].sort());
    } finally {
      await opened.close();
      await database.drop();
    }
  });

  it('never lets a hold and a sweep of one digest both succeed across two pools under load', async () => {
    const database = await server.createDatabase();
    const a = await openPostgresMetadata({ url: database.url, poolSize: 8 });
    const b = await openPostgresMetadata({ url: database.url, poolSize: 8 });
    try {
      const violations: number[] = [];
      await Promise.all(
        Array.from({ length: 200 }, async (_, n) => {
          const d = digest(n % 20);
          const now = Date.now();
          const [held, sweep] = await Promise.all([
            a.gc.hold(`w${n}`, [d, digest(100 + n)], { now, until: now + 60_000 }),
            b.gc.beginSweep(d, { holder: `s${n}`, now, until: now + 60_000 }),
          ]);
          // A hold taken while this sweep's marker was live, or a sweep begun while the hold was live.
          if (held && sweep.sweeping) violations.push(n);
          await a.gc.releaseHold(`w${n}`);
          if (sweep.sweeping) await b.gc.endSweep(d, `s${n}`);
        }),
      );
      expect(violations).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});
