// The PostgreSQL mirror store against a real server (test/support/postgres.ts: a private cluster of
// scripts/pg-test-server.sh, or PG_TEST_URL), each test on a fresh database. Without the PostgreSQL
// binaries these tests are skipped with a warning, except in CI (CI=true), where that is a failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMirrorStoreConformance } from '../../src/metadata/mirror-conformance.js';
import { createPostgresPool } from '../../src/metadata/postgres/db.js';
import { createPostgresMirrorStore } from '../../src/metadata/postgres/postgres-mirror-store.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { freePort } from '../support/processes.js';
import { itWorksOnMigratedPostgres, postgresStores } from '../support/store-databases.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;

describe.skipIf(!requirePostgres('the PostgreSQL mirror store tests'))('postgres mirror store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeMirrorStoreConformance(
    'postgres',
    postgresStores(
      () => server,
      (metadata) => metadata.mirror,
    ),
  );

  itWorksOnMigratedPostgres(
    () => server,
    async (metadata) => {
      await metadata.mirror.recordCached({
        upstream: 'hub',
        repository: repo('library/alpine'),
        digest: digest('1'),
        kind: 'manifest',
        size: 10,
        at: 5,
      });
      await metadata.mirror.markTagChecked(repo('library/alpine'), 'latest' as Tag, digest('1'), 5);
      await metadata.mirror.addCounters('hub', {
        hits: 1,
        misses: 2,
        staleHits: 0,
        bytesFromCache: 3,
        bytesFromUpstream: 4,
      });
      expect(await metadata.mirror.isCachedRepository(repo('library/alpine'))).toBe(true);
      expect(await metadata.mirror.listStatus()).toEqual([
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
    },
  );
});

describe('postgres mirror store without a server', () => {
  it('answers StoreUnavailableError (503 UNAVAILABLE) when the server cannot be reached', async () => {
    const pool = createPostgresPool({
      url: `postgres://berth@127.0.0.1:${await freePort()}/none`,
      connectTimeoutMs: 2000,
    });
    try {
      const store = createPostgresMirrorStore(pool);
      await expect(store.isCachedRepository(repo('r'))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.listStatus()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await pool.end();
    }
  });
});
