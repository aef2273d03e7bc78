// The PostgreSQL account store and login throttle store against a real server
// (test/support/postgres.ts: a private cluster of scripts/pg-test-server.sh, or PG_TEST_URL), each
// test on a fresh database. Without the PostgreSQL binaries these tests are skipped with a warning,
// except in CI (CI=true), where that is a failure.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLoginThrottle } from '../../src/auth/login-throttle.js';
import type { AccountStore, StoredAccount } from '../../src/auth/model.js';
import { describeAccountStoreConformance } from '../../src/metadata/account-conformance.js';
import { createPostgresPool } from '../../src/metadata/postgres/db.js';
import { createPostgresAccountStore } from '../../src/metadata/postgres/postgres-account-store.js';
import { openPostgresMetadata, type PostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { freePort } from '../support/processes.js';

const admin = (name: string): StoredAccount => ({
  name,
  kind: 'user',
  admin: true,
  credentialVersion: 1,
  description: null,
  createdAt: 1_700_000_000_000,
  secretHash: '$sha256$x',
});

const pause = (ms = 10) => new Promise((done) => setTimeout(done, ms));

describe.skipIf(!requirePostgres('the PostgreSQL account store tests'))('postgres account store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Stores on one fresh database, each opened as another replica would (its own pool). */
  async function replicas() {
    const database = await server.createDatabase();
    const opened: PostgresMetadata[] = [];
    const open = async () => {
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 4 });
      opened.push(metadata);
      return metadata;
    };
    return {
      open,
      async cleanup() {
        await Promise.all(opened.map((metadata) => metadata.close()));
        await database.drop();
      },
    };
  }

  describeAccountStoreConformance('postgres', async () => {
    const { open, cleanup } = await replicas();
    const replica = await open();
    return {
      store: replica.accounts,
      sibling: async () => (await open()).accounts,
      loginThrottle: replica.loginThrottle,
      siblingLoginThrottle: async () => (await open()).loginThrottle,
      cleanup,
    };
  });

  describe('units of work across replicas', () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });
    const twoReplicas = async () => {
      const { open, cleanup } = await replicas();
      cleanups.push(cleanup);
      return [await open(), await open()] as const;
    };

    it('run one at a time, so a check made inside one still holds at its commit', async () => {
      const [a, b] = await twoReplicas();
      await a.accounts.insertAccount(admin('amy'));
      await a.accounts.insertAccount(admin('bob'));
      // Each replica demotes a different admin unless it is the last one (src/auth/accounts.ts).
      const demote = (store: AccountStore, name: string) =>
        store.transaction(async (tx) => {
          const admins = (await tx.listAccounts()).filter((account) => account.admin).length;
          await pause(50);
          if (admins <= 1) return false;
          return tx.setAdmin(name, false);
        });
      const outcomes = await Promise.all([demote(a.accounts, 'amy'), demote(b.accounts, 'bob')]);
      expect(outcomes.sort()).toEqual([false, true]);
      expect((await a.accounts.listAccounts()).filter((account) => account.admin)).toHaveLength(1);
    });

    it('give their connection back to the pool once, whether they commit, throw or fail', async () => {
      const [replica] = await twoReplicas();
      const { accounts, pool } = replica;
      await accounts.transaction(async (tx) => tx.insertAccount(admin('amy')));
      await expect(
        accounts.transaction(async () => {
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await expect(
        accounts.transaction((tx) => tx.setMember({ namespace: 'nope', account: 'amy', role: 'read' })),
      ).rejects.toMatchObject({ code: '23503' });
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          accounts.transaction((tx) => tx.insertAccount(admin(`user-${i}`))),
        ),
      );
      expect(pool.totalCount).toBeLessThanOrEqual(4);
      expect(pool.idleCount).toBe(pool.totalCount);
      expect(pool.waitingCount).toBe(0);
      expect(await accounts.countAccounts()).toBe(9);
    });

    it('map a lost connection to StoreUnavailableError inside the unit of work, and the store recovers', async () => {
      const [replica, other] = await twoReplicas();
      const { accounts } = replica;
      await accounts.insertAccount(admin('amy'));
      const seen: unknown[] = [];
      const work = accounts.transaction(async (tx) => {
        await tx.setAdmin('amy', false);
        // The unit of work's connection dies (a server restart, a network cut) while it is open.
        await other.pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND state = 'idle in transaction'`,
        );
        try {
          await tx.getAccount('amy');
        } catch (err) {
          seen.push(err);
          throw err;
        }
      });
      await expect(work).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeInstanceOf(StoreUnavailableError);
      expect((await accounts.getAccount('amy'))?.admin).toBe(true);
    });
  });

  describe('login throttle across replicas', () => {
    it('counts failures made through two replicas at once as one replica would', async () => {
      const { open, cleanup } = await replicas();
      try {
        const now = 1_700_000_000_000;
        const throttleOn = async () =>
          createLoginThrottle({
            store: (await open()).loginThrottle,
            perAccount: 10,
            perAddress: 100,
            windowMs: 60_000,
            clock: () => now,
          });
        const [a, b] = [await throttleOn(), await throttleOn()];
        const guess = (n: number) => ({ account: 'alice', source: `evil-${n}` });
        // Nine guesses at once, spread over both replicas: all counted, one short of the limit.
        await Promise.all(Array.from({ length: 9 }, (_, n) => (n % 2 === 0 ? a : b).recordFailure(guess(n))));
        expect([await a.retryAfterSeconds(guess(9)), await b.retryAfterSeconds(guess(9))]).toEqual([0, 0]);
        await b.recordFailure(guess(9));
        expect([await a.retryAfterSeconds(guess(10)), await b.retryAfterSeconds(guess(10))]).toEqual([
          60, 60,
        ]);
        // The owner's address, learned through one replica, is known to the other.
        await a.recordSuccess({ account: 'alice', source: 'home' });
        expect(await b.retryAfterSeconds({ account: 'alice', source: 'home' })).toBe(0);
      } finally {
        await cleanup();
      }
    });
  });
});

describe('postgres account store without a server', () => {
  it('answers StoreUnavailableError (503 UNAVAILABLE), in and out of units of work', async () => {
    const pool = createPostgresPool({
      url: `postgres://berth@127.0.0.1:${await freePort()}/none`,
      connectTimeoutMs: 2000,
    });
    try {
      const store = createPostgresAccountStore(pool);
      await expect(store.getAccount('alice')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.listNamespaces()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(store.transaction((tx) => tx.countAccounts())).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    } finally {
      await pool.end();
    }
  });
});
