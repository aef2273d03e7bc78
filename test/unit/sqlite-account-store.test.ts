import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StoredAccount } from '../../src/auth/model.js';
import { describeAccountStoreConformance } from '../../src/metadata/account-conformance.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteLoginThrottleStore } from '../../src/metadata/sqlite-login-throttle-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { Digest, RepoName } from '../../src/registry/references.js';

async function onDisk() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-account-store-'));
  const path = join(dir, 'berth.db');
  const databases: SqliteDatabase[] = [];
  const open = () => {
    const db = openDatabase(path);
    databases.push(db);
    return db;
  };
  return {
    open,
    async cleanup() {
      for (const db of databases) db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeAccountStoreConformance('sqlite', async () => {
  const { open, cleanup } = await onDisk();
  const db = open();
  return {
    store: createSqliteAccountStore(db),
    sibling: async () => createSqliteAccountStore(open()),
    loginThrottle: createSqliteLoginThrottleStore(db),
    siblingLoginThrottle: async () => createSqliteLoginThrottleStore(open()),
    cleanup,
  };
});

const alice: StoredAccount = {
  name: 'alice',
  kind: 'user',
  admin: false,
  credentialVersion: 1,
  description: null,
  createdAt: 1_700_000_000_000,
  secretHash: '$sha256$x',
};

const pause = (ms = 10) => new Promise((done) => setTimeout(done, ms));

describe('sqlite account store units of work', () => {
  it('make every other call on the connection wait until they end, accounts and metadata alike', async () => {
    const db = openDatabase(':memory:');
    const accounts = createSqliteAccountStore(db);
    const metadata = createSqliteMetadataStore(db);
    const events: string[] = [];
    let opened = () => {};
    const open = new Promise<void>((done) => (opened = done));
    const work = accounts.transaction(async (tx) => {
      await tx.insertAccount(alice);
      opened();
      await pause();
      events.push('unit of work: rolling back');
      throw new Error('roll back');
    });
    await open;
    const outside = [
      accounts.getAccount('alice').then((account) => events.push(`account read: ${account?.name}`)),
      metadata
        .linkBlob('r' as RepoName, `sha256:${'1'.repeat(64)}` as Digest, 10)
        .then(() => events.push('blob linked')),
      accounts.countAccounts().then((n) => events.push(`accounts counted: ${n}`)),
    ];
    await expect(work).rejects.toThrow('roll back');
    await Promise.all(outside);
    expect(events).toEqual([
      'unit of work: rolling back',
      'account read: undefined',
      'blob linked',
      'accounts counted: 0',
    ]);
    // The metadata write ran after the rollback, not inside the transaction it undid.
    expect(await metadata.findBlob(`sha256:${'1'.repeat(64)}` as Digest)).toEqual({ size: 10 });
    db.close();
  });

  it('run queued units of work one at a time, in the order they were asked for', async () => {
    const db = openDatabase(':memory:');
    const accounts = createSqliteAccountStore(db);
    const events: string[] = [];
    const unit = (name: string) =>
      accounts.transaction(async (tx) => {
        events.push(`${name} begins`);
        await pause(5);
        await tx.insertAccount({ ...alice, name });
        events.push(`${name} ends`);
      });
    await Promise.all([unit('a'), unit('b'), unit('c')]);
    expect(events).toEqual(['a begins', 'a ends', 'b begins', 'b ends', 'c begins', 'c ends']);
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  it('drop the account cache on a rollback, even of an account cached before', async () => {
    const db = openDatabase(':memory:');
    const accounts = createSqliteAccountStore(db);
    await accounts.insertAccount(alice);
    expect((await accounts.getAccount('alice'))?.admin).toBe(false); // cached
    await expect(
      accounts.transaction(async (tx) => {
        await tx.setAdmin('alice', true);
        expect((await tx.getAccount('alice'))?.admin).toBe(true); // cached inside
        await pause();
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await accounts.getAccount('alice')).toEqual(alice);
    db.close();
  });

  it('answer at once, without waiting for a turn, while no unit of work is open', async () => {
    const db = openDatabase(':memory:');
    const accounts = createSqliteAccountStore(db);
    void accounts.insertAccount(alice); // runs before the call returns
    expect(db.prepare('SELECT name FROM accounts').pluck().all()).toEqual(['alice']);
    db.close();
  });
});
