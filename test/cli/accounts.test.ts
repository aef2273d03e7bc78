// `berth user`, `berth robot` and `berth namespace`, run as the built CLI against a data directory,
// checked through their exact output and through the database they write.
import bcrypt from 'bcryptjs';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountService } from '../../src/auth/accounts.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { ensureBuilt, runBerth } from '../support/cli.js';

const tempDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-accounts-cli-'));
  tempDirs.push(dir);
  return dir;
}

beforeAll(ensureBuilt, 180_000);

afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** A fresh data directory and a runner bound to it. */
async function berthIn() {
  const data = await tempDir();
  const berth = (args: string[], stdin?: string) => runBerth([...args, '--data', data], { stdin });
  /** Works on the database the CLI wrote, the way the server would. */
  const inspect = async <T>(work: (accounts: ReturnType<typeof createAccountService>) => T | Promise<T>) => {
    const db = openDatabase(join(data, 'berth.db'));
    try {
      return await work(
        createAccountService({
          store: createSqliteAccountStore(db),
          clock: Date.now,
          personalNamespaces: true,
        }),
      );
    } finally {
      db.close();
    }
  };
  return { data, berth, inspect };
}

describe('berth user', () => {
  it('adds a user with a generated password, printed once on stdout', async () => {
    const { berth, inspect } = await berthIn();
    const run = await berth(['user', 'add', 'alice']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('created user alice with this generated password (shown once):\n');
    expect(run.stdout).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
    const password = run.stdout.trim();
    expect(await inspect((a) => a.authenticate('alice', password))).toMatchObject({
      name: 'alice',
      admin: false,
    });
  });

  it('adds an admin with the password from stdin, printing no password', async () => {
    const { berth, inspect } = await berthIn();
    const run = await berth(['user', 'add', 'root', '--admin', '--password-stdin'], 'from stdin 123\n');
    expect(run).toEqual({ code: 0, stdout: '', stderr: 'created user root\n' });
    expect(await inspect((a) => a.authenticate('root', 'from stdin 123'))).toMatchObject({ admin: true });
  });

  it('lists users as a table and as JSON', async () => {
    const { berth } = await berthIn();
    await berth(['user', 'add', 'bob', '--password-stdin'], 'password1');
    await berth(['user', 'add', 'alice', '--admin', '--password-stdin', '--description', 'Ops'], 'password1');
    await berth(['robot', 'add', 'ci']);
    const table = await berth(['user', 'list']);
    expect(table).toEqual({
      code: 0,
      stdout: 'NAME   ADMIN  DESCRIPTION\nalice  yes    Ops\nbob    no\n',
      stderr: '',
    });
    const json = await berth(['user', 'list', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        name: 'alice',
        kind: 'user',
        admin: true,
        credentialVersion: 1,
        description: 'Ops',
        createdAt: expect.any(Number),
      },
      {
        name: 'bob',
        kind: 'user',
        admin: false,
        credentialVersion: 1,
        description: null,
        createdAt: expect.any(Number),
      },
    ]);
  });

  it('changes a password from stdin, and generates one without --password-stdin', async () => {
    const { berth, inspect } = await berthIn();
    await berth(['user', 'add', 'alice', '--password-stdin'], 'password1');
    const given = await berth(['user', 'passwd', 'alice', '--password-stdin'], 'password2\r\n');
    expect(given).toEqual({ code: 0, stdout: '', stderr: 'changed the password of alice\n' });
    expect(await inspect((a) => a.authenticate('alice', 'password2'))).toMatchObject({
      credentialVersion: 2,
    });

    const generated = await berth(['user', 'passwd', 'alice']);
    expect(generated.code).toBe(0);
    expect(generated.stderr).toBe('changed the password of alice to this generated one (shown once):\n');
    expect(generated.stdout).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
    expect(await inspect((a) => a.authenticate('alice', 'password2'))).toBeUndefined();
    expect(await inspect((a) => a.authenticate('alice', generated.stdout.trim()))).toBeDefined();
  });

  it('makes a user admin and back, and removes users', async () => {
    const { berth, inspect } = await berthIn();
    await berth(['user', 'add', 'root', '--admin', '--password-stdin'], 'password1');
    await berth(['user', 'add', 'alice', '--password-stdin'], 'password1');
    expect(await berth(['user', 'admin', 'alice', 'on'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'alice is now an administrator\n',
    });
    expect(await berth(['user', 'admin', 'root', 'off'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'root is no longer an administrator\n',
    });
    expect(await berth(['user', 'rm', 'alice'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: alice is the last administrator; make another account admin first\n',
    });
    expect(await berth(['user', 'rm', 'root'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'removed user root\n',
    });
    expect(await inspect(async (a) => (await a.listAccounts()).map((x) => x.name))).toEqual(['alice']);
  });

  it('imports the bcrypt entries of an htpasswd file, reporting rejected lines without hashes', async () => {
    const { data, berth, inspect } = await berthIn();
    await berth(['user', 'add', 'carol', '--password-stdin'], 'password1');
    const alice = (await bcrypt.hash('alice-pw', 4)).replace(/^\$2b\$/, '$2y$');
    const carol = await bcrypt.hash('carol-pw', 4);
    const file = join(data, 'htpasswd');
    await writeFile(file, `# team\nalice:${alice}\ncarol:${carol}\nmd5:$apr1$abc$def\n`);

    const first = await berth(['user', 'import', file]);
    expect(first).toEqual({
      code: 1,
      stdout: 'added alice\nskipped carol\n',
      stderr: `berth: ${file}:4 (md5): MD5 (apr1) hash; only bcrypt (htpasswd -B) is accepted\n`,
    });
    expect(await inspect((a) => a.authenticate('alice', 'alice-pw'))).toBeDefined();
    expect(await inspect((a) => a.authenticate('carol', 'password1'))).toBeDefined();

    await writeFile(file, `alice:${alice}\ncarol:${carol}\n`);
    expect(await berth(['user', 'import', file, '--overwrite'])).toEqual({
      code: 0,
      stdout: 'updated carol\nskipped alice\n',
      stderr: '',
    });
    expect(await inspect((a) => a.authenticate('carol', 'carol-pw'))).toBeDefined();
  });

  it.each([
    [
      'an invalid name',
      ['user', 'add', 'Alice'],
      'berth: invalid user name: use lowercase letters and digits, separated by single . _ or -\n',
    ],
    ['a missing name', ['user', 'add'], "berth: missing required argument 'name'\n"],
    ['an unknown user', ['user', 'rm', 'nobody'], 'berth: no account named nobody\n'],
    ['an unknown option', ['user', 'list', '--yaml'], "berth: unknown option '--yaml'\n"],
    [
      'a state that is not on or off',
      ['user', 'admin', 'alice', 'yes'],
      "berth: command-argument value 'yes' is invalid for argument 'state'. Allowed choices are on, off.\n",
    ],
    [
      'a missing htpasswd file',
      ['user', 'import', '/nonexistent/htpasswd'],
      'berth: invalid file: cannot read /nonexistent/htpasswd: ENOENT\n',
    ],
  ])('exits 2 with berth: and the reason for %s', async (_what, args, stderr) => {
    const { berth } = await berthIn();
    expect(await berth(args)).toEqual({ code: 2, stdout: '', stderr });
  });

  it('refuses a short password from stdin without echoing it, and a taken name', async () => {
    const { berth } = await berthIn();
    expect(await berth(['user', 'add', 'alice', '--password-stdin'], 'short\n')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: invalid password: shorter than 8 characters\n',
    });
    await berth(['user', 'add', 'alice', '--password-stdin'], 'password1');
    expect(await berth(['user', 'add', 'alice', '--password-stdin'], 'password1')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: the name alice is taken by an account\n',
    });
  });
});

describe('berth robot', () => {
  it('adds a robot with grants and prints its secret once; rotate replaces it', async () => {
    const { berth, inspect } = await berthIn();
    await berth(['namespace', 'add', 'team-a']);
    await berth(['namespace', 'add', 'team-b']);
    const added = await berth([
      'robot',
      'add',
      'ci',
      '--description',
      'CI builds',
      '--grant',
      'team-a:write',
      '--grant',
      'team-b:read',
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toBe('created robot+ci; log in with this secret (shown once):\n');
    expect(added.stdout).toMatch(/^berth_[A-Za-z0-9_-]{43}\n$/);
    const secret = added.stdout.trim();
    expect(await inspect((a) => a.authenticate('robot+ci', secret))).toMatchObject({ kind: 'robot' });
    expect(
      await inspect((a) => Promise.all([a.roleIn('team-a', 'robot+ci'), a.roleIn('team-b', 'robot+ci')])),
    ).toEqual(['write', 'read']);

    expect(await berth(['robot', 'list'])).toEqual({
      code: 0,
      stdout:
        'NAME      GRANTS                    DESCRIPTION\nrobot+ci  team-a:write,team-b:read  CI builds\n',
      stderr: '',
    });
    const json = await berth(['robot', 'list', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        name: 'robot+ci',
        kind: 'robot',
        admin: false,
        credentialVersion: 1,
        description: 'CI builds',
        createdAt: expect.any(Number),
        grants: [
          { namespace: 'team-a', role: 'write' },
          { namespace: 'team-b', role: 'read' },
        ],
      },
    ]);

    const rotated = await berth(['robot', 'rotate', 'robot+ci']);
    expect(rotated.code).toBe(0);
    expect(rotated.stderr).toBe('new secret for robot+ci (shown once; the old one no longer works):\n');
    expect(rotated.stdout).toMatch(/^berth_[A-Za-z0-9_-]{43}\n$/);
    expect(await inspect((a) => a.authenticate('robot+ci', secret))).toBeUndefined();
    expect(await inspect((a) => a.authenticate('robot+ci', rotated.stdout.trim()))).toMatchObject({
      credentialVersion: 2,
    });
  });

  it('refuses a grant on a missing namespace or in a bad form, creating nothing', async () => {
    const { berth } = await berthIn();
    expect(await berth(['robot', 'add', 'ci', '--grant', 'nope:read'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: no namespace named nope\n',
    });
    expect(await berth(['robot', 'add', 'ci', '--grant', 'team'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: invalid grant: team is not NAMESPACE:ROLE\n',
    });
    expect((await berth(['robot', 'list'])).stdout).toBe('NAME  GRANTS  DESCRIPTION\n');
  });

  it('removes robots by name with or without prefix, and only robots', async () => {
    const { berth, inspect } = await berthIn();
    await berth(['robot', 'add', 'ci']);
    await berth(['user', 'add', 'alice', '--password-stdin'], 'password1');
    expect(await berth(['robot', 'rm', 'alice'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: no account named robot+alice\n',
    });
    expect(await berth(['user', 'rm', 'robot+ci'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: invalid user: robot+ci is a robot account; use berth robot rm\n',
    });
    expect(await berth(['robot', 'rm', 'ci'])).toEqual({ code: 0, stdout: '', stderr: 'removed robot+ci\n' });
    expect(await inspect(async (a) => (await a.listAccounts()).map((x) => x.name))).toEqual(['alice']);
  });
});

describe('berth namespace', () => {
  it('adds, lists, publishes, grants, revokes and removes', async () => {
    const { berth } = await berthIn();
    await berth(['user', 'add', 'alice', '--password-stdin'], 'password1');
    await berth(['robot', 'add', 'ci']);
    expect(await berth(['namespace', 'add', 'team-a'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'created namespace team-a (private)\n',
    });
    expect((await berth(['namespace', 'add', 'docs', '--public'])).stderr).toBe(
      'created namespace docs (public)\n',
    );
    expect(await berth(['namespace', 'public', 'team-a', 'on'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'team-a is now public\n',
    });
    expect((await berth(['namespace', 'public', 'docs', 'off'])).stderr).toBe('docs is now private\n');
    expect(await berth(['namespace', 'list'])).toEqual({
      code: 0,
      stdout: 'NAME    PUBLIC\nalice   no\ndocs    no\nteam-a  yes\n',
      stderr: '',
    });

    expect(await berth(['namespace', 'grant', 'team-a', 'alice', 'admin'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'alice has role admin in team-a\n',
    });
    expect((await berth(['namespace', 'grant', 'team-a', 'ci', 'read'])).stderr).toBe(
      'robot+ci has role read in team-a\n',
    );
    expect((await berth(['namespace', 'members', 'team-a'])).stdout).toBe(
      'ACCOUNT   ROLE\nalice     admin\nrobot+ci  read\n',
    );
    expect(JSON.parse((await berth(['namespace', 'members', 'alice', '--json'])).stdout)).toEqual([
      { namespace: 'alice', account: 'alice', role: 'admin' },
    ]);
    expect(await berth(['namespace', 'revoke', 'team-a', 'ci'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'ci no longer has a role in team-a\n',
    });
    expect(await berth(['namespace', 'revoke', 'team-a', 'ci'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: ci is not a member of namespace team-a\n',
    });
    expect(await berth(['namespace', 'grant', 'team-a', 'alice', 'owner'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: invalid role: owner is not one of read, write, admin\n',
    });

    expect(await berth(['namespace', 'rm', 'team-a'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'removed namespace team-a\n',
    });
    expect(JSON.parse((await berth(['namespace', 'list', '--json'])).stdout)).toEqual([
      { name: 'alice', public: false, createdAt: expect.any(Number) },
      { name: 'docs', public: false, createdAt: expect.any(Number) },
    ]);
    expect(await berth(['namespace', 'add', 'alice'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: the name alice is taken by an account\n',
    });
  });
});

describe('finding the database', () => {
  it('uses metadata.path from --config, as berth serve does', async () => {
    const dir = await tempDir();
    const dbPath = join(dir, 'meta', 'accounts.db');
    const config = join(dir, 'berth.yaml');
    await writeFile(config, `metadata:\n  path: ${dbPath}\nauth:\n  personalNamespaces: false\n`);
    const added = await runBerth(['namespace', 'add', 'team', '--config', config]);
    expect(added.code, added.stderr).toBe(0);
    expect(existsSync(dbPath)).toBe(true);
    await runBerth(['user', 'add', 'alice', '--password-stdin', '--config', config], { stdin: 'password1' });
    expect((await runBerth(['namespace', 'list', '--config', config])).stdout).toBe(
      'NAME  PUBLIC\nteam  no\n',
    );
  });

  it('uses BERTH_DATA_DIR like the server', async () => {
    const data = await tempDir();
    const run = await runBerth(['namespace', 'add', 'team'], { env: { BERTH_DATA_DIR: data } });
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(data, 'berth.db'))).toBe(true);
  });

  it('exits 2 on a bad configuration without touching the database', async () => {
    const data = await tempDir();
    const run = await runBerth(['user', 'list', '--data', data], { env: { BERTH_AUTH_MODE: 'ldap' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^berth: invalid configuration:\n {2}auth\.mode: /);
    expect(existsSync(join(data, 'berth.db'))).toBe(false);
  });
});
