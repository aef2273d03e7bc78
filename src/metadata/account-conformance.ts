// The behaviour every AccountStore must show, whatever database is under it, units of work included
// (the contract in src/auth/model.ts), and the LoginThrottleStore on the same database beside it
// (src/auth/login-throttle-store.ts). A store's test file calls
// `describeAccountStoreConformance('name', async () => ({ store, sibling, loginThrottle,
// siblingLoginThrottle, cleanup }))`.
// Exported (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoginThrottleStore } from '../auth/login-throttle-store.js';
import type { AccountStore, StoredAccount } from '../auth/model.js';

export interface AccountStoreUnderTest {
  /** A store on an empty (migrated) database. */
  store: AccountStore;
  /** A second store on the same database, as another process or replica would open it. */
  sibling(): Promise<AccountStore>;
  /** The login throttle's store on the same database as `store`. */
  loginThrottle: LoginThrottleStore;
  /** A second one on the same database, as another process or replica would open it. */
  siblingLoginThrottle(): Promise<LoginThrottleStore>;
  cleanup?: () => Promise<void>;
}

const T0 = 1_700_000_000_000;

const user = (name: string, extra: Partial<StoredAccount> = {}): StoredAccount => ({
  name,
  kind: 'user',
  admin: false,
  credentialVersion: 1,
  description: null,
  createdAt: T0,
  secretHash: '$sha256$x',
  ...extra,
});

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Lets timers and I/O run, as a unit of work that awaits a real database or a password hash does. */
const pause = () => new Promise((done) => setTimeout(done, 10));

class RollBack extends Error {}

export function describeAccountStoreConformance(
  name: string,
  create: () => Promise<AccountStoreUnderTest>,
): void {
  describe(`account store conformance: ${name}`, () => {
    let subject: AccountStoreUnderTest;
    let store: AccountStore;
    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    it('bumps the credential version with each new secret', async () => {
      const alice = user('alice');
      expect(await store.insertAccount(alice)).toBe(true);
      expect(await store.insertAccount(alice)).toBe(false);
      expect(await store.updateSecret('alice', '$sha256$y')).toBe(true);
      expect(await store.getAccount('alice')).toEqual({
        ...alice,
        credentialVersion: 2,
        secretHash: '$sha256$y',
      });
      expect(await store.updateSecret('nobody', '$sha256$y')).toBe(false);
      expect(await store.countAccounts()).toBe(1);
    });

    it('lists accounts by name, optionally of one kind, without their secrets', async () => {
      await store.insertAccount(user('zed'));
      await store.insertAccount(user('robot+ci', { kind: 'robot' }));
      await store.insertAccount(user('amy', { admin: true, description: 'Amy' }));
      expect((await store.listAccounts()).map((a) => a.name)).toEqual(['amy', 'robot+ci', 'zed']);
      expect((await store.listAccounts('robot')).map((a) => a.name)).toEqual(['robot+ci']);
      const [amy] = await store.listAccounts('user');
      expect(amy).toEqual({
        name: 'amy',
        kind: 'user',
        admin: true,
        credentialVersion: 1,
        description: 'Amy',
        createdAt: T0,
      });
      expect(await store.setAdmin('zed', true)).toBe(true);
      expect(await store.setAdmin('nobody', true)).toBe(false);
      expect((await store.getAccount('zed'))?.admin).toBe(true);
    });

    it('keeps namespaces and refuses a second one of the same name', async () => {
      expect(await store.insertNamespace({ name: 'team', public: false, createdAt: T0 })).toBe(true);
      expect(await store.insertNamespace({ name: 'team', public: true, createdAt: T0 + 1 })).toBe(false);
      expect(await store.insertNamespace({ name: 'pub', public: true, createdAt: T0 })).toBe(true);
      expect(await store.setNamespacePublic('team', true)).toBe(true);
      expect(await store.setNamespacePublic('nope', true)).toBe(false);
      expect(await store.listNamespaces()).toEqual([
        { name: 'pub', public: true, createdAt: T0 },
        { name: 'team', public: true, createdAt: T0 },
      ]);
      expect(await store.deleteNamespace('pub')).toBe(true);
      expect(await store.deleteNamespace('pub')).toBe(false);
      expect(await store.getNamespace('pub')).toBeUndefined();
    });

    it('refuses a membership of a missing account or namespace, and drops memberships with either', async () => {
      await store.insertAccount(user('bob'));
      await store.insertNamespace({ name: 'team', public: false, createdAt: T0 });
      await store.insertNamespace({ name: 'other', public: true, createdAt: T0 });
      await expect(store.setMember({ namespace: 'nope', account: 'bob', role: 'read' })).rejects.toThrow();
      await expect(store.setMember({ namespace: 'team', account: 'nobody', role: 'read' })).rejects.toThrow();
      await store.setMember({ namespace: 'team', account: 'bob', role: 'read' });
      await store.setMember({ namespace: 'team', account: 'bob', role: 'write' });
      await store.setMember({ namespace: 'other', account: 'bob', role: 'admin' });
      expect(await store.getRole('team', 'bob')).toBe('write');
      expect(await store.membershipsOf('bob')).toEqual([
        { namespace: 'other', account: 'bob', role: 'admin' },
        { namespace: 'team', account: 'bob', role: 'write' },
      ]);
      expect(await store.deleteNamespace('team')).toBe(true);
      expect(await store.membershipsOf('bob')).toEqual([
        { namespace: 'other', account: 'bob', role: 'admin' },
      ]);
      expect(await store.deleteAccount('bob')).toBe(true);
      expect(await store.listMembers('other')).toEqual([]);
      expect(await store.deleteAccount('bob')).toBe(false);
      expect(await store.removeMember('other', 'bob')).toBe(false);
    });

    it('sees the writes of another connection at once, whatever it remembers', async () => {
      const other = await subject.sibling();
      expect(await store.getAccount('alice')).toBeUndefined();
      await other.insertAccount(user('alice'));
      expect((await store.getAccount('alice'))?.credentialVersion).toBe(1);
      await other.updateSecret('alice', '$sha256$y');
      expect((await store.getAccount('alice'))?.credentialVersion).toBe(2);
      await store.setAdmin('alice', true);
      expect((await other.getAccount('alice'))?.admin).toBe(true);
      expect((await store.getAccount('alice'))?.admin).toBe(true);
      await other.deleteAccount('alice');
      expect(await store.getAccount('alice')).toBeUndefined();
    });

    describe('units of work', () => {
      it('commit every write of a body that awaits', async () => {
        const result = await store.transaction(async (tx) => {
          await tx.insertAccount(user('alice'));
          await pause();
          await tx.insertNamespace({ name: 'team', public: false, createdAt: T0 });
          await tx.setMember({ namespace: 'team', account: 'alice', role: 'write' });
          return tx.getRole('team', 'alice');
        });
        expect(result).toBe('write');
        expect(await store.getRole('team', 'alice')).toBe('write');
        expect(await (await subject.sibling()).getRole('team', 'alice')).toBe('write');
      });

      it('roll back every write when the body throws after an await, forgetting what they read', async () => {
        await store.insertAccount(user('alice'));
        expect((await store.getAccount('alice'))?.credentialVersion).toBe(1);
        const work = store.transaction(async (tx) => {
          await tx.updateSecret('alice', '$sha256$new');
          await tx.insertAccount(user('bob'));
          await tx.insertNamespace({ name: 'team', public: false, createdAt: T0 });
          // Read inside, as a cache would remember them.
          expect((await tx.getAccount('alice'))?.credentialVersion).toBe(2);
          expect(await tx.getAccount('bob')).toBeDefined();
          await pause();
          throw new RollBack('changed my mind');
        });
        await expect(work).rejects.toBeInstanceOf(RollBack);
        expect(await store.getAccount('alice')).toEqual(user('alice'));
        expect(await store.getAccount('bob')).toBeUndefined();
        expect(await store.getNamespace('team')).toBeUndefined();
        expect(await store.countAccounts()).toBe(1);
      });

      it('roll back when a statement fails, and pass its error on', async () => {
        await store.insertNamespace({ name: 'team', public: false, createdAt: T0 });
        const work = store.transaction(async (tx) => {
          await tx.insertAccount(user('alice'));
          await tx.setMember({ namespace: 'team', account: 'nobody', role: 'read' });
        });
        await expect(work).rejects.toThrow();
        expect(await store.getAccount('alice')).toBeUndefined();
      });

      it('run a nested transaction of the given store within the same unit of work', async () => {
        const work = store.transaction(async (tx) => {
          const inner = await tx.transaction(async (nested) => {
            await nested.insertAccount(user('alice'));
            return 'inner done';
          });
          expect(inner).toBe('inner done');
          expect(await tx.getAccount('alice')).toBeDefined();
          throw new RollBack();
        });
        await expect(work).rejects.toBeInstanceOf(RollBack);
        expect(await store.getAccount('alice')).toBeUndefined();
      });

      it('never show their uncommitted writes to calls made outside them', async () => {
        const other = await subject.sibling();
        const opened = deferred();
        const work = store.transaction(async (tx) => {
          await tx.insertAccount(user('alice'));
          await tx.insertNamespace({ name: 'team', public: false, createdAt: T0 });
          opened.resolve();
          await pause();
          await pause();
          throw new RollBack();
        });
        await opened.promise;
        const outside = Promise.all([
          store.getAccount('alice'),
          store.listNamespaces(),
          store.countAccounts(),
          other.getAccount('alice'),
        ]);
        await expect(work).rejects.toBeInstanceOf(RollBack);
        expect(await outside).toEqual([undefined, [], 0, undefined]);
      });

      it('run one after another or side by side, and each commits', async () => {
        const add = (name: string) =>
          store.transaction(async (tx) => {
            const before = await tx.countAccounts();
            await pause();
            await tx.insertAccount(user(name));
            return before;
          });
        const counts = await Promise.all([add('a'), add('b'), add('c')]);
        expect(counts.every((n) => n >= 0 && n <= 2)).toBe(true);
        expect((await store.listAccounts()).map((a) => a.name)).toEqual(['a', 'b', 'c']);
      });

      it('give a store that refuses calls once the unit of work has ended', async () => {
        let leaked: AccountStore | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked?.getAccount('alice')).rejects.toThrow();
        await expect(leaked?.insertAccount(user('alice'))).rejects.toThrow();
        expect(await store.getAccount('alice')).toBeUndefined();
      });
    });

    describe('login throttle store', () => {
      let logins: LoginThrottleStore;
      beforeEach(() => {
        logins = subject.loginThrottle;
      });
      const alice = 'account:alice';
      const keep = (n: number, ...keys: string[]) => keys.map((key) => ({ key, keep: n }));

      it('answers the newest failures of a key later than a time, newest first, each key apart', async () => {
        await logins.addFailure(keep(5, alice, 'source:a'), 'a', T0);
        await logins.addFailure(keep(5, alice, 'source:b'), 'b', T0 + 10);
        await logins.addFailure(keep(5, 'source:a'), 'a', T0 + 20);
        await logins.addFailure(keep(5, 'source:a'), 'a', T0 + 20);
        expect(await logins.recentFailures(alice, T0 - 1, 5)).toEqual([T0 + 10, T0]);
        expect(await logins.recentFailures(alice, T0, 5)).toEqual([T0 + 10]);
        expect(await logins.recentFailures('source:a', 0, 5)).toEqual([T0 + 20, T0 + 20, T0]);
        expect(await logins.recentFailures('source:a', 0, 2)).toEqual([T0 + 20, T0 + 20]);
        expect(await logins.recentFailures('source:b', 0, 5)).toEqual([T0 + 10]);
        expect(await logins.recentFailures('account:bob', 0, 5)).toEqual([]);
      });

      it('keeps the newest failures of each key only, always the one being recorded', async () => {
        for (const at of [T0, T0 + 1, T0 + 2]) await logins.addFailure(keep(2, alice), 'a', at);
        await logins.addFailure(keep(5, 'source:a'), 'a', T0);
        expect(await logins.recentFailures(alice, 0, 10)).toEqual([T0 + 2, T0 + 1]);
        // A replica whose clock lags: its failure is kept, with the newest other one.
        await logins.addFailure(keep(2, alice), 'a', T0 - 100);
        expect(await logins.recentFailures(alice, 0, 10)).toEqual([T0 + 2, T0 - 100]);
        expect(await logins.recentFailures('source:a', 0, 10)).toEqual([T0]);
      });

      it("forgets a key's failures from one source only", async () => {
        await logins.addFailure(keep(5, alice, 'source:a'), 'a', T0);
        await logins.addFailure(keep(5, alice), 'b', T0 + 1);
        await logins.addFailure(keep(5, alice), 'a', T0 + 2);
        await logins.forgetFailures(alice, 'a');
        expect(await logins.recentFailures(alice, 0, 5)).toEqual([T0 + 1]);
        expect(await logins.recentFailures('source:a', 0, 5)).toEqual([T0]);
        await logins.forgetFailures('account:nobody', 'a');
      });

      it('knows an address after its last success, keeping the most recently used of each account', async () => {
        await logins.rememberAddress('alice', 'home', T0, 2);
        expect(await logins.isKnownAddress('alice', 'home', T0 - 1)).toBe(true);
        expect(await logins.isKnownAddress('alice', 'home', T0)).toBe(false);
        expect(await logins.isKnownAddress('bob', 'home', 0)).toBe(false);
        expect(await logins.isKnownAddress('alice', 'office', 0)).toBe(false);
        await logins.rememberAddress('alice', 'home', T0 - 50, 2); // an earlier time never wins
        expect(await logins.isKnownAddress('alice', 'home', T0 - 1)).toBe(true);
        await logins.rememberAddress('alice', 'home', T0 + 5, 2);
        expect(await logins.isKnownAddress('alice', 'home', T0 + 4)).toBe(true);
        await logins.rememberAddress('alice', 'office', T0 + 6, 2);
        await logins.rememberAddress('alice', 'ci', T0 + 7, 2); // two per account: home goes
        await logins.rememberAddress('bob', 'home', T0, 2);
        const known = async (account: string, address: string) => logins.isKnownAddress(account, address, 0);
        expect([
          await known('alice', 'home'),
          await known('alice', 'office'),
          await known('alice', 'ci'),
        ]).toEqual([false, true, true]);
        // The address just used stays, whatever the times of the others.
        await logins.rememberAddress('alice', 'home', T0, 2);
        expect([
          await known('alice', 'home'),
          await known('alice', 'office'),
          await known('alice', 'ci'),
        ]).toEqual([true, false, true]);
        expect(await known('bob', 'home')).toBe(true);
      });

      it('prunes old failures and addresses, and caps the failures kept, the earliest recorded first', async () => {
        for (const [i, at] of [T0, T0 + 1, T0 + 2, T0 + 3].entries()) {
          await logins.addFailure(keep(5, `source:${i}`), `${i}`, at);
        }
        await logins.rememberAddress('alice', 'old', T0 - 10, 10);
        await logins.rememberAddress('alice', 'new', T0 + 10, 10);
        await logins.prune({ failuresUpTo: T0, addressesUpTo: T0, maxFailures: 10 });
        const kept = async () => {
          const found: string[] = [];
          for (const i of [0, 1, 2, 3, 4]) {
            if ((await logins.recentFailures(`source:${i}`, 0, 5)).length > 0) found.push(`${i}`);
          }
          return found;
        };
        expect(await kept()).toEqual(['1', '2', '3']);
        expect(await logins.isKnownAddress('alice', 'old', 0)).toBe(false);
        expect(await logins.isKnownAddress('alice', 'new', 0)).toBe(true);
        await logins.prune({ failuresUpTo: 0, addressesUpTo: 0, maxFailures: 2 });
        expect(await kept()).toEqual(['2', '3']);
        // Recorded last though the earliest in time: the cap keeps it, the oldest recorded goes.
        await logins.addFailure(keep(5, 'source:4'), '4', T0 - 1000);
        await logins.prune({ failuresUpTo: 0, addressesUpTo: 0, maxFailures: 2 });
        expect(await kept()).toEqual(['3', '4']);
        await logins.prune({ failuresUpTo: T0 + 10, addressesUpTo: T0 + 10, maxFailures: 2 });
        expect(await kept()).toEqual([]);
        expect(await logins.isKnownAddress('alice', 'new', 0)).toBe(false);
      });

      it("shares failures, forgiveness and known addresses with another connection's store", async () => {
        const other = await subject.siblingLoginThrottle();
        await logins.addFailure(keep(5, alice, 'source:a'), 'a', T0);
        await other.addFailure(keep(5, alice, 'source:b'), 'b', T0 + 1);
        expect(await logins.recentFailures(alice, 0, 5)).toEqual([T0 + 1, T0]);
        expect(await other.recentFailures(alice, 0, 5)).toEqual([T0 + 1, T0]);
        await other.forgetFailures(alice, 'a');
        expect(await logins.recentFailures(alice, 0, 5)).toEqual([T0 + 1]);
        await logins.rememberAddress('alice', 'home', T0, 10);
        expect(await other.isKnownAddress('alice', 'home', 0)).toBe(true);
        await other.prune({ failuresUpTo: T0 + 1, addressesUpTo: T0, maxFailures: 100 });
        expect(await logins.recentFailures(alice, 0, 5)).toEqual([]);
        expect(await logins.recentFailures('source:a', 0, 5)).toEqual([]);
        expect(await logins.isKnownAddress('alice', 'home', 0)).toBe(false);
      });

      it('never runs inside an account unit of work, so its rollback keeps what the throttle wrote', async () => {
        const opened = deferred();
        const work = store.transaction(async (tx) => {
          await tx.insertAccount(user('alice'));
          opened.resolve();
          await pause();
          throw new RollBack();
        });
        await opened.promise;
        const written = Promise.all([
          logins.addFailure(keep(5, alice), 'a', T0),
          logins.rememberAddress('alice', 'home', T0, 10),
        ]);
        await expect(work).rejects.toBeInstanceOf(RollBack);
        await written;
        expect(await store.getAccount('alice')).toBeUndefined();
        expect(await logins.recentFailures(alice, 0, 5)).toEqual([T0]);
        expect(await logins.isKnownAddress('alice', 'home', 0)).toBe(true);
      });
    });
  });
}
