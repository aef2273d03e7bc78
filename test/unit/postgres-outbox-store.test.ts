// The PostgreSQL outbox store against a real server (test/support/postgres.ts: a private cluster of
// scripts/pg-test-server.sh, or PG_TEST_URL), each test on a fresh database. Without the PostgreSQL
// binaries these tests are skipped with a warning, except in CI (CI=true), where that is a failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOutboxStoreConformance } from '../../src/metadata/outbox-conformance.js';
import { createPostgresPool } from '../../src/metadata/postgres/db.js';
import { createPostgresOutboxStore } from '../../src/metadata/postgres/postgres-outbox-store.js';
import { openPostgresMetadata, type PostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { freePort } from '../support/processes.js';
import { itWorksOnMigratedPostgres, postgresStores } from '../support/store-databases.js';

describe.skipIf(!requirePostgres('the PostgreSQL outbox store tests'))('postgres outbox store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeOutboxStoreConformance(
    'postgres',
    postgresStores(
      () => server,
      (metadata) => metadata.outbox,
    ),
  );

  itWorksOnMigratedPostgres(
    () => server,
    async (metadata) => {
      const { outbox } = metadata;
      await outbox.enqueue([{ eventId: 'e1', repository: 'r', payload: '{}', endpoints: ['ci'] }], 5);
      const [delivery] = await outbox.claim('ci', { holder: 'w', now: 5, until: 10, limit: 1 });
      expect(await outbox.markDelivered(delivery!.seq, 6)).toBe(true);
      expect((await outbox.listStatus())[0]).toMatchObject({ endpoint: 'ci', delivered: 1, pending: 0 });
    },
  );

  it('never claims one delivery twice when many claims race on one pool and another', async () => {
    const database = await server.createDatabase();
    const a = await openPostgresMetadata({ url: database.url, poolSize: 8 });
    const b = await openPostgresMetadata({ url: database.url, poolSize: 8 });
    try {
      const entries = Array.from({ length: 200 }, (_, i) => ({
        eventId: `e${i}`,
        repository: `r${i % 40}`,
        payload: '{}',
        endpoints: ['ci'],
      }));
      await a.outbox.enqueue(entries, 1);
      const claimed: string[] = [];
      const claimer = async (metadata: PostgresMetadata, holder: string) => {
        for (let idle = 0; idle < 20;) {
          const got = await metadata.outbox.claim('ci', { holder, now: 1, until: 1_000, limit: 5 });
          if (got.length === 0) {
            idle++;
            continue;
          }
          idle = 0;
          for (const delivery of got) {
            claimed.push(delivery.eventId);
            await metadata.outbox.markDelivered(delivery.seq, 2);
          }
        }
      };
      await Promise.all([
        ...Array.from({ length: 4 }, (_, i) => claimer(a, `a${i}`)),
        ...Array.from({ length: 4 }, (_, i) => claimer(b, `b${i}`)),
      ]);
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed).size).toBe(200);
      for (let r = 0; r < 40; r++) {
        const order = claimed.filter((id) => Number(id.slice(1)) % 40 === r).map((id) => Number(id.slice(1)));
        expect(order).toEqual([...order].sort((x, y) => x - y));
      }
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});

describe('postgres outbox store without a server', () => {
  it('answers StoreUnavailableError (503 UNAVAILABLE) when the server cannot be reached', async () => {
    const pool = createPostgresPool({
      url: `postgres://berth@127.0.0.1:${await freePort()}/none`,
      connectTimeoutMs: 2000,
    });
    try {
      const store = createPostgresOutboxStore(pool);
      await expect(store.listStatus()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(
        store.enqueue([{ eventId: 'e', repository: 'r', payload: '{}', endpoints: ['ci'] }], 1),
      ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await pool.end();
    }
  });
});
