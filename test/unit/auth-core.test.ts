// The pure parts of authentication: scope parsing, the access policy, the password check limiter,
// remembered logins and token expiry through the verification cache, on fake clocks and an in-memory
// directory. Login throttling is in login-throttle.test.ts.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { createCheckLimiter } from '../../src/auth/check-limiter.js';
import { createVerifiedLogins } from '../../src/auth/verified-logins.js';
import type { Account, Namespace, Principal, Role } from '../../src/auth/model.js';
import { createAccessPolicy } from '../../src/auth/policy.js';
import { covers, formatScope, missing, parseScopeList, parseScopes } from '../../src/auth/scope.js';
import { libtrustKeyId, loadSigningKey } from '../../src/auth/signing-key.js';
import { TooManyRequestsError } from '../../src/registry/errors.js';
import { createTokenIssuer, createTokenVerifier, InvalidTokenError } from '../../src/auth/tokens.js';

describe('scopes (docs/spec/auth/scope.md)', () => {
  it('parses repeated and space-separated scopes, names with a registry port, and merges duplicates', () => {
    expect(
      parseScopes([
        'repository:team/app:pull,push repository(plugin):localhost:5000/x/y:pull',
        'repository:team/app:delete,pull',
        'registry:catalog:*',
      ]),
    ).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository(plugin)', name: 'localhost:5000/x/y', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('drops repository scopes whose name the registry refuses, and tells which', () => {
    const refused = [
      'repository:team-a/../team-b/secret:pull',
      'repository:team-a/./x:pull',
      'repository:/team-a:pull',
      'repository:team-a//x:pull',
      'repository:Team-A/x:pull',
      'repository:localhost:5000/team-a/x:pull',
      `repository:${'a'.repeat(256)}:pull`,
    ];
    expect(parseScopeList([...refused, 'repository:team-a/app:pull', 'repository:app:'])).toEqual({
      access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }],
      ignored: [...refused, 'repository:app:'],
    });
  });

  it('drops malformed scopes instead of failing the request', () => {
    expect(
      parseScopes(['', 'repository', 'repository:app', 'repository::pull', ':app:pull', 'repository:app:']),
    ).toEqual([]);
  });

  it('tells what a grant covers and what it misses', () => {
    const granted = parseScopes(['repository:a:pull,push registry:catalog:*']);
    expect(covers(granted, parseScopes(['repository:a:push']))).toBe(true);
    expect(covers(granted, parseScopes(['repository:a:delete']))).toBe(false);
    expect(covers(granted, parseScopes(['repository:b:pull']))).toBe(false);
    expect(covers(granted, [])).toBe(true);
    expect(formatScope(missing(granted, parseScopes(['repository:a:pull,delete repository:b:pull'])))).toBe(
      'repository:a:delete repository:b:pull',
    );
  });
});

describe('access policy', () => {
  const roles = new Map<string, Role>([
    ['team\u0000writer', 'write'],
    ['team\u0000reader', 'read'],
    ['team\u0000lead', 'admin'],
    ['writer\u0000writer', 'admin'], // what the account service reports for a personal namespace
  ]);
  const namespaces = new Map<string, Namespace>([
    ['team', { name: 'team', public: false, createdAt: 0 }],
    ['pub', { name: 'pub', public: true, createdAt: 0 }],
  ]);
  const policy = createAccessPolicy({
    roleIn: async (namespace, account) => roles.get(`${namespace}\u0000${account}`),
    getNamespace: async (name) => namespaces.get(name),
    rolesOf: async (account) =>
      [...roles]
        .map(([key, role]) => ({ key: key.split('\u0000'), role }))
        .filter(({ key }) => key[1] === account)
        .map(({ key, role }) => ({ namespace: key[0] ?? '', account, role })),
    publicNamespaces: async () => [...namespaces.values()].filter((n) => n.public).map((n) => n.name),
  });
  const user = (name: string, admin = false): Principal => ({
    kind: 'account',
    name,
    accountKind: 'user',
    admin,
  });
  const anonymous: Principal = { kind: 'anonymous' };
  const ask = 'repository:team/app:pull,push,delete';

  it('maps roles to actions and intersects with the request', async () => {
    const granted = async (p: Principal, scope = ask) =>
      formatScope(await policy.grant(p, parseScopes([scope])));
    expect(await granted(user('reader'))).toBe('repository:team/app:pull');
    expect(await granted(user('writer'))).toBe('repository:team/app:pull,push');
    expect(await granted(user('lead'))).toBe('repository:team/app:pull,push,delete');
    expect(await granted(user('root', true), 'repository:anything/else:pull,push,delete')).toBe(
      'repository:anything/else:pull,push,delete',
    );
    expect(await granted(user('stranger'))).toBe('repository:team/app:');
    expect(await granted(user('writer'), 'repository:writer/own:push,delete')).toBe(
      'repository:writer/own:push,delete',
    );
  });

  it('answers several repositories, asking the directory once per namespace', async () => {
    const asked: string[] = [];
    const counting = createAccessPolicy({
      roleIn: async (namespace, account) => {
        asked.push(namespace);
        return roles.get(`${namespace}\u0000${account}`);
      },
      getNamespace: async (name) => namespaces.get(name),
      rolesOf: async () => [],
      publicNamespaces: async () => [],
    });
    const scopes = parseScopes([
      'repository:team/app:pull,push repository:pub/tool:pull,push repository:team/lib:pull',
      'repository:writer/own:delete repository:zzz/y:pull',
    ]);
    expect(formatScope(await counting.grant(user('writer'), scopes))).toBe(
      'repository:team/app:pull,push repository:pub/tool:pull repository:team/lib:pull ' +
        'repository:writer/own:delete repository:zzz/y:',
    );
    expect(asked.sort()).toEqual(['pub', 'team', 'writer', 'zzz']);
    expect(
      await policy.allows(user('writer'), parseScopes(['repository:team/app:push repository:pub/x:pull'])),
    ).toBe(true);
    expect(
      await policy.allows(user('writer'), parseScopes(['repository:team/app:push repository:pub/x:push'])),
    ).toBe(false);
  });

  it('lets anyone pull from public namespaces, and nobody gains unknown resource types', async () => {
    expect(await policy.repositoryActions(anonymous, 'pub/tool')).toEqual(['pull']);
    expect(await policy.repositoryActions(anonymous, 'team/app')).toEqual([]);
    expect(
      (await policy.grant(user('root', true), parseScopes(['repository(plugin):x:pull'])))[0]?.actions,
    ).toEqual([]);
    expect(await policy.allows(anonymous, parseScopes(['registry:catalog:*']))).toBe(true);
    expect(await policy.allows(anonymous, parseScopes(['registry:catalog:search']))).toBe(true);
    expect(await policy.allows(anonymous, parseScopes(['registry:catalog:delete']))).toBe(false);
  });

  it('grants registry:management:* to accounts only, never to anonymous or external principals', async () => {
    const management = parseScopes(['registry:management:*']);
    const robot: Principal = { kind: 'account', name: 'robot+ci', accountKind: 'robot', admin: false };
    const external: Principal = { kind: 'external', subject: 'root', issuer: 'idp' };
    for (const principal of [user('stranger'), user('root', true), robot]) {
      expect(formatScope(await policy.grant(principal, management))).toBe('registry:management:*');
    }
    for (const principal of [anonymous, external]) {
      expect(await policy.grant(principal, management)).toEqual([
        { type: 'registry', name: 'management', actions: [] },
      ]);
      expect(await policy.allows(principal, management)).toBe(false);
    }
    expect(
      (await policy.grant(user('root', true), parseScopes(['registry:management:pull'])))[0]?.actions,
    ).toEqual([]);
  });

  it('treats a name without a slash as its own namespace', async () => {
    expect(await policy.repositoryActions(user('reader'), 'team')).toEqual(['pull']);
    expect(await policy.repositoryActions(user('reader'), 'teamwork/app')).toEqual([]);
  });

  it('filters listings to what the principal may read', async () => {
    const names = ['pub/tool', 'team/app', 'writer/x', 'zzz/y', 'team'];
    expect(names.filter(await policy.readable(user('writer')))).toEqual([
      'pub/tool',
      'team/app',
      'writer/x',
      'team',
    ]);
    expect(names.filter(await policy.readable(user('stranger')))).toEqual(['pub/tool']);
    expect(names.filter(await policy.readable(anonymous))).toEqual(['pub/tool']);
    expect(names.filter(await policy.readable(user('root', true)))).toEqual(names);
    const external: Principal = { kind: 'external', subject: 'root', issuer: 'idp' };
    expect(names.filter(await policy.readable(external))).toEqual([]);
  });
});

const account = (name: string, createdAt: number): Account => ({
  name,
  kind: 'user',
  admin: false,
  credentialVersion: 1,
  description: null,
  createdAt,
});

describe('signing key and token lifetime', () => {
  it('generates a P-256 key once, private to its owner, and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-key-'));
    try {
      const path = join(dir, 'auth', 'key.pem');
      const first = loadSigningKey(path, true);
      expect(first.algorithm).toBe('ES256');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const again = loadSigningKey(path, true);
      expect(again.keyId).toBe(first.keyId);
      expect(await readFile(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(() => loadSigningKey(join(dir, 'missing.pem'), false)).toThrow(/does not exist/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('derives distinct libtrust key ids in twelve groups of four', () => {
    const a = libtrustKeyId(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
    const b = libtrustKeyId(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
    expect(a).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(a).not.toBe(b);
  });

  it('refuses a cached token once it expires (past the clock skew)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-key-'));
    try {
      const key = loadSigningKey(join(dir, 'key.pem'), true);
      let now = Date.now();
      const clock = () => now;
      const issuer = createTokenIssuer({
        key,
        issuer: 'berth',
        service: 'berth',
        accessTtlSeconds: 60,
        refreshTtlSeconds: 600,
        clock,
        newId: () => 'id',
      });
      const verifier = createTokenVerifier({
        own: { key, issuer: 'berth', service: 'berth' },
        accounts: { getAccount: async (name) => (name === 'alice' ? account('alice', 1) : undefined) },
        trusted: [],
        clockSkewSeconds: 5,
        clock,
      });
      const { token } = issuer.issueAccess(account('alice', 1), []);
      expect((await verifier.verifyAccess(token)).subject).toBe('alice');
      now += 64_000;
      expect((await verifier.verifyAccess(token)).subject).toBe('alice');
      now += 2_000;
      await expect(verifier.verifyAccess(token)).rejects.toBeInstanceOf(InvalidTokenError);
      expect(() => verifier.verifyRefresh(token)).toThrow(InvalidTokenError);
      const alice = { name: 'alice', credentialVersion: 3, createdAt: 1_700_000_000_000 };
      expect(verifier.verifyRefresh(issuer.issueRefresh(alice))).toEqual(alice);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts an own token only while the account it was issued to exists, not a namesake', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-key-'));
    try {
      const key = loadSigningKey(join(dir, 'key.pem'), true);
      const directory = new Map<string, Account>([['alice', account('alice', 1000)]]);
      const options = { key, issuer: 'berth', service: 'berth', clock: Date.now, newId: () => 'id' };
      const issuer = createTokenIssuer({ ...options, accessTtlSeconds: 60, refreshTtlSeconds: 600 });
      const verifier = createTokenVerifier({
        own: { key, issuer: 'berth', service: 'berth' },
        accounts: { getAccount: async (name) => directory.get(name) },
        trusted: [],
        clockSkewSeconds: 5,
        clock: Date.now,
      });
      const old = issuer.issueAccess(account('alice', 1000), []).token;
      const anonymous = issuer.issueAccess(undefined, []).token;
      expect(jwt.decode(old)).toMatchObject({ sub: 'alice', ca: 1000 });
      expect(jwt.decode(anonymous)).not.toHaveProperty('ca');
      expect((await verifier.verifyAccess(old)).account).toEqual(account('alice', 1000));

      directory.set('alice', account('alice', 1001)); // deleted, then created again
      const refusal = await verifier.verifyAccess(old).catch((err: unknown) => err);
      expect(refusal).toBeInstanceOf(InvalidTokenError);
      expect((refusal as InvalidTokenError).reason).toBe("the token's account was deleted");
      const fresh = issuer.issueAccess(account('alice', 1001), []).token;
      expect((await verifier.verifyAccess(fresh)).account?.createdAt).toBe(1001);

      directory.delete('alice');
      await expect(verifier.verifyAccess(fresh)).rejects.toThrow(/no longer exists/);
      const anon = await verifier.verifyAccess(anonymous);
      expect([anon.subject, anon.account]).toEqual(['', undefined]);
      // An own token naming an account without its creation time is refused too.
      const bare = jwt.sign({ sub: 'alice', aud: 'berth', iss: 'berth', access: [] }, key.privateKey, {
        algorithm: 'ES256',
        expiresIn: 60,
      });
      directory.set('alice', account('alice', 1001));
      await expect(verifier.verifyAccess(bare)).rejects.toThrow(/creation time/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('password check limiter', () => {
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };

  it('runs at most `concurrent` checks, queues `queued`, and refuses the rest with 429', async () => {
    const limiter = createCheckLimiter({ concurrent: 1, queued: 1 });
    const first = gate();
    const order: string[] = [];
    const a = limiter.run(async () => {
      order.push('a');
      await first.opened;
      return 'a';
    });
    const b = limiter.run(async () => {
      order.push('b');
      return 'b';
    });
    await expect(limiter.run(async () => 'c')).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(limiter.load()).toEqual({ running: 1, waiting: 1 });
    expect(order).toEqual(['a']);
    first.open();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(order).toEqual(['a', 'b']);
    expect(limiter.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('drops a waiting check whose client went away, without running it', async () => {
    const limiter = createCheckLimiter({ concurrent: 1, queued: 4 });
    const first = gate();
    const running = limiter.run(() => first.opened);
    const controller = new AbortController();
    let ran = false;
    const abandoned = limiter.run(async () => {
      ran = true;
    }, controller.signal);
    controller.abort();
    await expect(abandoned).rejects.toThrow(/abort/i);
    expect(limiter.load()).toEqual({ running: 1, waiting: 0 });
    first.open();
    await running;
    expect(ran).toBe(false);
  });

  it('frees its slot when a check fails', async () => {
    const limiter = createCheckLimiter({ concurrent: 1, queued: 0 });
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(async () => 'next')).toBe('next');
  });
});

describe('verified logins', () => {
  it('remembers a verified password under its stamp, renewing it while in use', () => {
    let now = 0;
    const logins = createVerifiedLogins({ ttlMs: 1000, clock: () => now });
    logins.remember('alice', 'pw', 'v1');
    expect(logins.recall('alice', 'pw', 'v1')).toBe(true);
    expect(logins.recall('alice', 'other', 'v1')).toBe(false);
    expect(logins.recall('alice', 'pw', 'v2')).toBe(false); // a new credential version voids it
    logins.remember('bob', 'pw', 'v1');
    now = 900;
    expect(logins.recall('bob', 'pw', 'v1')).toBe(true); // renewed until 1900
    now = 1800;
    expect(logins.recall('bob', 'pw', 'v1')).toBe(true);
    now = 3000;
    expect(logins.recall('bob', 'pw', 'v1')).toBe(false);
  });

  it('runs one check for concurrent logins with the same credentials', async () => {
    const logins = createVerifiedLogins({ ttlMs: 1000, clock: () => 0 });
    let checks = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const check = async () => {
      checks += 1;
      await gate;
      return true;
    };
    const all = Promise.all([
      logins.shared('alice', 'pw', check),
      logins.shared('alice', 'pw', check),
      logins.shared('alice', 'other', check),
    ]);
    release();
    expect(await all).toEqual([true, true, true]);
    expect(checks).toBe(2);
  });

  it('lets a waiting caller run its own check when the shared one was abandoned', async () => {
    const logins = createVerifiedLogins({ ttlMs: 1000, clock: () => 0 });
    const abandoned = Promise.reject(Object.assign(new Error('gone'), { name: 'AbortError' }));
    abandoned.catch(() => undefined);
    const first = logins.shared('alice', 'pw', () => abandoned);
    const second = logins.shared('alice', 'pw', async () => 'own check');
    await expect(first).rejects.toThrow('gone');
    expect(await second).toBe('own check');
  });
});
