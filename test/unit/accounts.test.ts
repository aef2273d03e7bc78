import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { createAccountService } from '../../src/auth/accounts.js';
import { AccountError } from '../../src/auth/errors.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';

const T0 = 1_700_000_000_000;

function setup(options: { personalNamespaces?: boolean } = {}) {
  const db = openDatabase(':memory:');
  const store = createSqliteAccountStore(db);
  let now = T0;
  const accounts = createAccountService({
    store,
    clock: () => now++,
    personalNamespaces: options.personalNamespaces ?? true,
  });
  return { db, store, accounts };
}

/** Runs `work` and returns the AccountError it throws (failing when it throws nothing or another error). */
async function accountError(work: () => unknown): Promise<AccountError> {
  try {
    await work();
  } catch (err) {
    if (err instanceof AccountError) return err;
    throw err;
  }
  throw new Error('expected an AccountError');
}

describe('users', () => {
  it('adds a user whose password authenticates, without exposing the hash', async () => {
    const { accounts, store } = setup();
    const alice = await accounts.addUser('alice', 'wonderland', { description: 'Alice' });
    expect(alice).toEqual({
      name: 'alice',
      kind: 'user',
      admin: false,
      credentialVersion: 1,
      description: 'Alice',
      createdAt: T0,
    });
    expect(await accounts.getAccount('alice')).toEqual(alice);
    expect((await store.getAccount('alice'))?.secretHash).toMatch(/^\$scrypt\$/);
    expect(await accounts.authenticate('alice', 'wonderland')).toEqual(alice);
    expect(await accounts.authenticate('alice', 'Wonderland')).toBeUndefined();
    expect(await accounts.authenticate('nobody', 'wonderland')).toBeUndefined();
    expect(await accounts.getAccount('nobody')).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['Alice', 'use lowercase letters and digits, separated by single . _ or -'],
    ['a..b', 'use lowercase letters and digits, separated by single . _ or -'],
    ['-a', 'use lowercase letters and digits, separated by single . _ or -'],
    ['robot+ci', 'use lowercase letters and digits, separated by single . _ or -'],
    ['a'.repeat(65), 'longer than 64 characters'],
  ])('refuses the user name %j', async (name, reason) => {
    const { accounts } = setup();
    const err = await accountError(() => accounts.addUser(name, 'long enough'));
    expect(err.code).toBe('INVALID');
    expect(err.message).toBe(`invalid user name: ${reason}`);
  });

  it('accepts a 64-character name with separators', async () => {
    const { accounts } = setup();
    const name = `a.b_c-d${'x'.repeat(57)}`;
    expect((await accounts.addUser(name, 'long enough')).name).toBe(name);
  });

  it('refuses passwords shorter than 8 characters, naming no password', async () => {
    const { accounts } = setup();
    const err = await accountError(() => accounts.addUser('alice', 'seven77'));
    expect(err.code).toBe('INVALID');
    expect(err.message).toBe('invalid password: shorter than 8 characters');
    expect(JSON.stringify(err.detail)).not.toContain('seven77');
  });

  it('refuses a second user of the same name', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    const err = await accountError(() => accounts.addUser('alice', 'password2'));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toBe('the name alice is taken by an account');
    expect(await accounts.authenticate('alice', 'password1')).toBeDefined();
  });

  it('changes a password, voiding the old one and bumping the credential version', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    await accounts.setPassword('alice', 'password2');
    expect(await accounts.authenticate('alice', 'password1')).toBeUndefined();
    expect(await accounts.authenticate('alice', 'password2')).toMatchObject({ credentialVersion: 2 });
    expect((await accountError(() => accounts.setPassword('bob', 'password2'))).code).toBe('NOT_FOUND');
    expect((await accountError(() => accounts.setPassword('alice', 'short'))).code).toBe('INVALID');
  });

  it('makes users admin and back, but keeps the last admin', async () => {
    const { accounts } = setup();
    await accounts.addUser('root', 'password1', { admin: true });
    await accounts.addUser('alice', 'password1');
    await accounts.setAdmin('alice', true);
    expect((await accounts.getAccount('alice'))?.admin).toBe(true);
    await accounts.setAdmin('root', false);
    const demote = await accountError(() => accounts.setAdmin('alice', false));
    expect(demote.code).toBe('CONFLICT');
    expect(demote.message).toBe('alice is the last administrator; make another account admin first');
    const remove = await accountError(() => accounts.removeAccount('alice'));
    expect(remove.code).toBe('CONFLICT');
    expect((await accounts.getAccount('alice'))?.admin).toBe(true);
  });

  it('removes a user with their memberships', async () => {
    const { accounts, store } = setup();
    await accounts.addUser('alice', 'password1');
    await accounts.addNamespace('team');
    await accounts.setMember('team', 'alice', 'write');
    await accounts.removeAccount('alice');
    expect(await accounts.getAccount('alice')).toBeUndefined();
    expect(await store.listMembers('team')).toEqual([]);
    const err = await accountError(() => accounts.removeAccount('alice'));
    expect([err.code, err.message]).toEqual(['NOT_FOUND', 'no account named alice']);
  });

  it('lists accounts by name, optionally of one kind', async () => {
    const { accounts } = setup();
    await accounts.addUser('zed', 'password1');
    await accounts.addUser('amy', 'password1');
    await accounts.addRobot('ci');
    expect((await accounts.listAccounts()).map((a) => a.name)).toEqual(['amy', 'robot+ci', 'zed']);
    expect((await accounts.listAccounts('user')).map((a) => a.name)).toEqual(['amy', 'zed']);
    expect((await accounts.listAccounts('robot')).map((a) => a.name)).toEqual(['robot+ci']);
    expect((await accounts.listAccounts()).some((a) => 'secretHash' in a)).toBe(false);
  });
});

describe('robots', () => {
  it('adds a robot named robot+NAME with its grants, and authenticates it by its secret', async () => {
    const { accounts } = setup();
    await accounts.addNamespace('team');
    const { account, secret } = await accounts.addRobot('ci', {
      description: 'builds',
      grants: [{ namespace: 'team', role: 'write' }],
    });
    expect(account).toEqual({
      name: 'robot+ci',
      kind: 'robot',
      admin: false,
      credentialVersion: 1,
      description: 'builds',
      createdAt: T0 + 1,
    });
    expect(secret).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
    expect(await accounts.authenticate('robot+ci', secret)).toEqual(account);
    expect(await accounts.authenticate('ci', secret)).toBeUndefined();
    expect(await accounts.roleIn('team', 'robot+ci')).toBe('write');
    expect(await accounts.membershipsOf('ci')).toEqual([
      { namespace: 'team', account: 'robot+ci', role: 'write' },
    ]);
  });

  it('accepts the name with its prefix, and refuses a taken or invalid one', async () => {
    const { accounts } = setup();
    expect((await accounts.addRobot('robot+ci')).account.name).toBe('robot+ci');
    const taken = await accountError(() => accounts.addRobot('ci'));
    expect([taken.code, taken.message]).toEqual(['CONFLICT', 'the name robot+ci is taken by an account']);
    const invalid = await accountError(() => accounts.addRobot('CI'));
    expect(invalid.code).toBe('INVALID');
    expect(invalid.message).toMatch(/^invalid robot name: /);
    expect((await accountError(() => accounts.addRobot('robot+'))).message).toBe('invalid robot name: empty');
  });

  it('creates nothing when a grant names a missing namespace or an unknown role', async () => {
    const { accounts } = setup();
    await accounts.addNamespace('team');
    const missing = await accountError(() =>
      accounts.addRobot('ci', { grants: [{ namespace: 'nope', role: 'read' }] }),
    );
    expect([missing.code, missing.message]).toEqual(['NOT_FOUND', 'no namespace named nope']);
    const role = await accountError(() =>
      accounts.addRobot('ci', { grants: [{ namespace: 'team', role: 'owner' as 'read' }] }),
    );
    expect([role.code, role.message]).toEqual([
      'INVALID',
      'invalid role: owner is not one of read, write, admin',
    ]);
    expect(await accounts.listAccounts()).toEqual([]);
  });

  it('rotates a secret: the old one stops working and the credential version moves on', async () => {
    const { accounts } = setup();
    const { secret: old } = await accounts.addRobot('ci');
    const fresh = await accounts.rotateRobotSecret('ci');
    expect(fresh).not.toBe(old);
    expect(await accounts.authenticate('robot+ci', old)).toBeUndefined();
    expect(await accounts.authenticate('robot+ci', fresh)).toMatchObject({ credentialVersion: 2 });
    expect((await accountError(() => accounts.rotateRobotSecret('nope'))).message).toBe(
      'no account named robot+nope',
    );
  });

  it('gives an account re-created within the same millisecond a creation time of its own', async () => {
    // Tokens tell an account from a deleted namesake by its creation time (src/auth/tokens.ts).
    const db = openDatabase(':memory:');
    const frozen = createAccountService({
      store: createSqliteAccountStore(db),
      clock: () => T0,
      personalNamespaces: true,
    });
    await frozen.addUser('admin', 'admin-password', { admin: true });
    const first = (await frozen.addRobot('ci')).account;
    await frozen.removeAccount('robot+ci');
    const second = (await frozen.addRobot('ci')).account;
    expect(second.createdAt).not.toBe(first.createdAt);
    expect((await frozen.getAccount('robot+ci'))?.createdAt).toBe(second.createdAt);
    // A service that has created nothing yet (another process) moves past the account it deletes.
    const later = createAccountService({
      store: createSqliteAccountStore(db),
      clock: () => T0,
      personalNamespaces: true,
    });
    await later.removeAccount('robot+ci');
    expect((await later.addRobot('ci')).account.createdAt).toBeGreaterThan(second.createdAt);
    db.close();
  });

  it('has no password and cannot be admin', async () => {
    const { accounts } = setup();
    await accounts.addRobot('ci');
    expect((await accountError(() => accounts.setPassword('robot+ci', 'password1'))).code).toBe('INVALID');
    expect((await accountError(() => accounts.setAdmin('robot+ci', true))).code).toBe('INVALID');
    expect((await accounts.getAccount('robot+ci'))?.admin).toBe(false);
  });
});

describe('ambiguous account names', () => {
  it('refuses a grant by a short name that names both a user and a robot', async () => {
    const { accounts } = setup();
    await accounts.addUser('ci', 'ci-user-password');
    await accounts.addRobot('ci');
    await accounts.addNamespace('team');
    const err = await accountError(() => accounts.setMember('team', 'ci', 'write'));
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain('both ci and robot+ci exist');
    expect((await accounts.setMember('team', 'robot+ci', 'write')).account).toBe('robot+ci');
    expect((await accounts.listMembers('team')).map((m) => m.account)).toEqual(['robot+ci']);
  });
});

describe('authenticate', () => {
  it('spends a password verification on an unknown user too', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    const time = async (name: string) => {
      const start = performance.now();
      await accounts.authenticate(name, 'wrong password');
      return performance.now() - start;
    };
    const known = Math.min(await time('alice'), await time('alice'));
    const unknown = Math.min(await time('mallory'), await time('mallory'));
    // Answering at once would be two orders of magnitude faster than scrypt.
    expect(unknown).toBeGreaterThan(known * 0.3);
  });

  it('verifies imported bcrypt hashes', async () => {
    const { accounts } = setup();
    const hash = (await bcrypt.hash('from-htpasswd', 4)).replace(/^\$2b\$/, '$2y$');
    await accounts.importHtpasswd(`carol:${hash}\n`);
    expect(await accounts.authenticate('carol', 'from-htpasswd')).toMatchObject({ name: 'carol' });
    expect(await accounts.authenticate('carol', 'guess')).toBeUndefined();
  });
});

describe('ensureAdmin', () => {
  it('creates the admin with a generated password on first start, returning it once', async () => {
    const { accounts } = setup();
    const first = await accounts.ensureAdmin('admin');
    expect(first).toEqual({ created: true, password: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) });
    expect(await accounts.authenticate('admin', first.password ?? '')).toMatchObject({ admin: true });
    expect(await accounts.ensureAdmin('admin')).toEqual({ created: false });
  });

  it('uses the given password and does not return it', async () => {
    const { accounts } = setup();
    expect(await accounts.ensureAdmin('root', 'given password')).toEqual({ created: true });
    expect(await accounts.authenticate('root', 'given password')).toMatchObject({ admin: true });
  });

  it('does nothing when any account exists, even a non-admin of that name', async () => {
    const { accounts } = setup();
    await accounts.addUser('admin', 'password1');
    expect(await accounts.ensureAdmin('admin')).toEqual({ created: false });
    expect((await accounts.getAccount('admin'))?.admin).toBe(false);
    const other = setup();
    await other.accounts.addRobot('ci');
    expect(await other.accounts.ensureAdmin('admin')).toEqual({ created: false });
    expect(await other.accounts.getAccount('admin')).toBeUndefined();
  });
});

describe('importHtpasswd', () => {
  it('adds bcrypt users, skips existing ones unless overwriting, and rejects the rest with their line', async () => {
    const { accounts, store } = setup();
    const [h1, h2, h3] = await Promise.all(['p1', 'p2', 'p3'].map((p) => bcrypt.hash(p, 4)));
    await accounts.addUser('dave', 'password1');
    await accounts.addNamespace('team');
    await accounts.addRobot('ci');
    const text = [
      `alice:${h1}`,
      `bob:${h2}`,
      `dave:${h3}`,
      `Eve:${h1}`,
      `team:${h1}`,
      'frank:$apr1$x$y',
    ].join('\n');

    const first = await accounts.importHtpasswd(text);
    expect(first).toEqual({
      added: ['alice', 'bob'],
      updated: [],
      skipped: ['dave'],
      rejected: [
        {
          line: 4,
          user: 'Eve',
          reason: 'invalid user name: use lowercase letters and digits, separated by single . _ or -',
        },
        { line: 5, user: 'team', reason: 'the name is taken by a namespace' },
        { line: 6, user: 'frank', reason: 'MD5 (apr1) hash; only bcrypt (htpasswd -B) is accepted' },
      ],
    });
    expect((await store.getAccount('alice'))?.secretHash).toBe(h1);
    expect(await accounts.authenticate('dave', 'password1')).toBeDefined();

    const second = await accounts.importHtpasswd(text, { overwrite: true });
    expect(second).toMatchObject({ added: [], updated: ['dave'], skipped: ['alice', 'bob'] });
    expect(await accounts.authenticate('dave', 'p3')).toMatchObject({ credentialVersion: 2 });
  });
});

describe('namespaces', () => {
  it('adds, lists, makes public and removes namespaces', async () => {
    const { accounts } = setup({ personalNamespaces: false });
    expect(await accounts.addNamespace('team-b')).toEqual({ name: 'team-b', public: false, createdAt: T0 });
    await accounts.addNamespace('team-a', { public: true });
    await accounts.setNamespacePublic('team-b', true);
    await accounts.setNamespacePublic('team-a', false);
    expect(await accounts.listNamespaces()).toEqual([
      { name: 'team-a', public: false, createdAt: T0 + 1 },
      { name: 'team-b', public: true, createdAt: T0 },
    ]);
    await accounts.removeNamespace('team-a');
    expect(await accounts.getNamespace('team-a')).toBeUndefined();
    const again = await accountError(() => accounts.removeNamespace('team-a'));
    expect([again.code, again.message]).toEqual(['NOT_FOUND', 'no namespace named team-a']);
    expect((await accountError(() => accounts.setNamespacePublic('nope', true))).code).toBe('NOT_FOUND');
  });

  it.each(['', 'Team', 'a/b', 'a--b-', 'robot+ci', 'x'.repeat(129)])(
    'refuses the namespace name %j',
    async (name) => {
      const { accounts } = setup();
      expect((await accountError(() => accounts.addNamespace(name))).code).toBe('INVALID');
    },
  );

  it('accepts names with the separators of repository names', async () => {
    const { accounts } = setup();
    for (const name of ['a.b', 'a_b', 'a__b', 'a---b', 'x'.repeat(128)]) await accounts.addNamespace(name);
    expect(await accounts.listNamespaces()).toHaveLength(5);
  });

  it('refuses a second namespace of the same name', async () => {
    const { accounts } = setup();
    await accounts.addNamespace('team');
    const err = await accountError(() => accounts.addNamespace('team'));
    expect([err.code, err.message]).toEqual(['CONFLICT', 'the name team is taken by a namespace']);
  });

  it('sets, replaces, lists and removes members (robots with or without prefix)', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    await accounts.addRobot('ci');
    await accounts.addNamespace('team');
    expect(await accounts.setMember('team', 'alice', 'read')).toEqual({
      namespace: 'team',
      account: 'alice',
      role: 'read',
    });
    await accounts.setMember('team', 'alice', 'admin');
    await accounts.setMember('team', 'ci', 'write');
    expect(await accounts.listMembers('team')).toEqual([
      { namespace: 'team', account: 'alice', role: 'admin' },
      { namespace: 'team', account: 'robot+ci', role: 'write' },
    ]);
    expect(await accounts.roleIn('team', 'alice')).toBe('admin');
    await accounts.removeMember('team', 'ci');
    expect(await accounts.roleIn('team', 'robot+ci')).toBeUndefined();
    const gone = await accountError(() => accounts.removeMember('team', 'ci'));
    expect([gone.code, gone.message]).toEqual(['NOT_FOUND', 'ci is not a member of namespace team']);
  });

  it('refuses members of a missing namespace, missing accounts and unknown roles', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    await accounts.addNamespace('team');
    expect((await accountError(() => accounts.setMember('nope', 'alice', 'read'))).message).toBe(
      'no namespace named nope',
    );
    expect((await accountError(() => accounts.setMember('team', 'bob', 'read'))).message).toBe(
      'no account named bob',
    );
    expect((await accountError(() => accounts.setMember('team', 'alice', 'owner'))).code).toBe('INVALID');
    expect((await accountError(() => accounts.listMembers('nope'))).code).toBe('NOT_FOUND');
    expect((await accountError(() => accounts.membershipsOf('bob'))).code).toBe('NOT_FOUND');
  });

  it('keeps the global admin flag out of roleIn', async () => {
    const { accounts } = setup();
    await accounts.addUser('root', 'password1', { admin: true });
    await accounts.addNamespace('team');
    expect(await accounts.roleIn('team', 'root')).toBeUndefined();
  });
});

describe('personal namespaces', () => {
  it('make each user admin of the namespace named after them, and robots of none', async () => {
    const { accounts } = setup();
    await accounts.addUser('alice', 'password1');
    await accounts.addRobot('ci');
    expect(await accounts.roleIn('alice', 'alice')).toBe('admin');
    expect(await accounts.roleIn('alice', 'bob')).toBeUndefined();
    expect(await accounts.roleIn('robot+ci', 'robot+ci')).toBeUndefined();
    expect(await accounts.getNamespace('alice')).toEqual({ name: 'alice', public: false, createdAt: T0 });
    expect((await accounts.listNamespaces()).map((n) => n.name)).toEqual(['alice']);
    expect(await accounts.membershipsOf('alice')).toEqual([
      { namespace: 'alice', account: 'alice', role: 'admin' },
    ]);
    expect(await accounts.membershipsOf('ci')).toEqual([]);
  });

  it('share one space of names with namespaces', async () => {
    const { accounts } = setup();
    await accounts.addNamespace('team');
    await accounts.addUser('alice', 'password1');
    const user = await accountError(() => accounts.addUser('team', 'password1'));
    expect([user.code, user.message]).toEqual(['CONFLICT', 'the name team is taken by a namespace']);
    const namespace = await accountError(() => accounts.addNamespace('alice'));
    expect([namespace.code, namespace.message]).toEqual([
      'CONFLICT',
      'the name alice is taken by an account',
    ]);
  });

  it('take members and visibility, keep their owner, and go with their user', async () => {
    const { accounts, store } = setup();
    await accounts.addUser('alice', 'password1', { admin: true });
    await accounts.addUser('bob', 'password1');
    await accounts.setMember('alice', 'bob', 'read');
    await accounts.setNamespacePublic('alice', true);
    expect(await accounts.getNamespace('alice')).toMatchObject({ public: true });
    expect(await accounts.listMembers('alice')).toEqual([
      { namespace: 'alice', account: 'alice', role: 'admin' },
      { namespace: 'alice', account: 'bob', role: 'read' },
    ]);
    expect(await accounts.roleIn('alice', 'bob')).toBe('read');
    expect((await accountError(() => accounts.setMember('alice', 'alice', 'read'))).code).toBe('INVALID');
    expect((await accountError(() => accounts.removeMember('alice', 'alice'))).code).toBe('INVALID');
    const remove = await accountError(() => accounts.removeNamespace('alice'));
    expect([remove.code, remove.message]).toEqual([
      'INVALID',
      'invalid namespace: alice is the personal namespace of user alice',
    ]);

    await accounts.setAdmin('bob', true);
    await accounts.removeAccount('alice');
    expect(await store.getNamespace('alice')).toBeUndefined();
    expect(await accounts.getNamespace('alice')).toBeUndefined();
    expect(await accounts.membershipsOf('bob')).toEqual([
      { namespace: 'bob', account: 'bob', role: 'admin' },
    ]);
  });

  it('do not exist when turned off', async () => {
    const { accounts } = setup({ personalNamespaces: false });
    await accounts.addUser('alice', 'password1');
    expect(await accounts.roleIn('alice', 'alice')).toBeUndefined();
    expect(await accounts.getNamespace('alice')).toBeUndefined();
    expect((await accounts.addNamespace('alice')).name).toBe('alice');
    expect(await accounts.membershipsOf('alice')).toEqual([]);
  });
});
