// The behaviour every AccountStore must show, whatever database is under it, units of work included
// (the contract in src/auth/model.ts). A store's test file calls
// `describeAccountStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccountStore, StoredAccount } from '../auth/model.js';

export interface AccountStoreUnderTest {
  /** A store on an empty (migrated) database. */
  store: AccountStore;
  /** A second store on the same database, as another process or replica would open it. */
  sibling(): Promise<AccountStore>;
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
  });
}
