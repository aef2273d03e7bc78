// The PostgreSQL metadata store against a real server (test/support/postgres.ts: a private cluster of
// scripts/pg-test-server.sh, or PG_TEST_URL), each test on a fresh database. Without the PostgreSQL
// binaries these tests are skipped with a warning, except in CI (CI=true), where that is a failure.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeMetadataStoreConformance } from '../../src/metadata/conformance.js';
import { POSTGRES_MIGRATIONS } from '../../src/metadata/postgres/migrations/index.js';
import {
  createPostgresPool,
  openPostgresDatabase,
  postgresSchemaVersion,
  type PostgresPool,
} from '../../src/metadata/postgres/db.js';
import {
  createPostgresMetadataStore,
  openPostgresMetadata,
  type PostgresMetadata,
} from '../../src/metadata/postgres/postgres-store.js';
import { reportingUnavailable } from '../../src/metadata/postgres/unavailable.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import { freePort } from '../support/processes.js';
import type { Digest, RepoName } from '../../src/registry/references.js';
import {
  requirePostgres,
  startPostgres,
  type PostgresServer,
  type TestDatabase,
} from '../support/postgres.js';

const LATEST = POSTGRES_MIGRATIONS.at(-1)!.version;
const blob = `sha256:${'1'.repeat(64)}` as Digest;

describe.skipIf(!requirePostgres('the PostgreSQL metadata store tests'))('postgres metadata store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeMetadataStoreConformance('postgres', async () => {
    const database = await server.createDatabase();
    const opened: PostgresMetadata[] = [];
    const open = async () => {
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 4 });
      opened.push(metadata);
      return metadata.store;
    };
    return {
      store: await open(),
      sibling: open,
      async cleanup() {
        await Promise.all(opened.map((metadata) => metadata.close()));
        await database.drop();
      },
    };
  });

  describe('schema and connections', () => {
    let database: TestDatabase;
    /** Run after each test, in order: pools and stores opened by the test, then databases it made. */
    const cleanups: Array<() => Promise<void>> = [];
    const versions = async (pool: PostgresPool) =>
      (
        await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
      ).rows.map((row) => row.version);
    const openPool = async (url: string) => {
      const pool = await openPostgresDatabase({ url });
      cleanups.push(() => pool.end());
      return pool;
    };
    const openStore = async (options: Parameters<typeof openPostgresMetadata>[0]) => {
      const metadata = await openPostgresMetadata(options);
      cleanups.push(() => metadata.close());
      return metadata;
    };
    beforeAll(async () => {
      database = await server.createDatabase();
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });
    afterAll(async () => {
      await database?.drop();
    });

    it('migrates once when several replicas open a fresh database at the same time', async () => {
      const fresh = await server.createDatabase();
      const opened = await Promise.all(
        Array.from({ length: 4 }, () => openStore({ url: fresh.url, poolSize: 2 })),
      );
      cleanups.push(() => fresh.drop());
      expect(await postgresSchemaVersion(opened[0]!.pool)).toBe(LATEST);
      expect(await versions(opened[1]!.pool)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
      await opened[2]!.store.linkBlob('r' as RepoName, blob, 1);
      expect(await opened[3]!.store.findBlob(blob)).toEqual({ size: 1 });
    });

    it('rolls back a failing migration, keeps the version and releases the lock', async () => {
      const failing = [
        ...POSTGRES_MIGRATIONS,
        { version: LATEST + 1, up: 'CREATE TABLE half_done (a INT); SELECT 1/0' },
      ];
      await expect(openPostgresDatabase({ url: database.url }, failing)).rejects.toThrow(/division by zero/);
      const pool = await openPool(database.url);
      expect(await postgresSchemaVersion(pool)).toBe(LATEST);
      expect((await pool.query("SELECT to_regclass('half_done') AS t")).rows[0]).toEqual({ t: null });
    });

    it('refuses a database whose schema is newer than this Berth', async () => {
      const pool = await openPool(database.url);
      await pool.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [LATEST + 1]);
      try {
        await expect(openPostgresMetadata({ url: database.url })).rejects.toThrow(
          `metadata database schema v${LATEST + 1} is newer than this Berth (v${LATEST})`,
        );
      } finally {
        await pool.query('DELETE FROM schema_migrations WHERE version = $1', [LATEST + 1]);
      }
    });

    it('applies the pool size and statement timeout it is given', async () => {
      const metadata = await openStore({ url: database.url, poolSize: 3, statementTimeoutMs: 100 });
      expect(metadata.pool.options.max).toBe(3);
      await expect(metadata.pool.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
      expect((await metadata.pool.query('SHOW statement_timeout')).rows[0]).toEqual({
        statement_timeout: '100ms',
      });
    });

    it('rejects with the connection error when the server cannot be reached', async () => {
      const unreachable = new URL(database.url);
      unreachable.port = '1';
      await expect(
        openPostgresMetadata({ url: unreachable.toString(), connectTimeoutMs: 2_000 }),
      ).rejects.toThrow(/ECONNREFUSED/);
    });
  });
});

describe('postgres metadata store without a server', () => {
  it('answers StoreUnavailableError (503 UNAVAILABLE) when the server cannot be reached', async () => {
    const pool = createPostgresPool({
      url: `postgres://berth@127.0.0.1:${await freePort()}/none`,
      connectTimeoutMs: 2000,
    });
    try {
      const store = reportingUnavailable(createPostgresMetadataStore(pool));
      await expect(store.findBlob(blob)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.listRepositories({})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await pool.end();
    }
  });
});
