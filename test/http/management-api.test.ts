// The management API (/api/v1) over real HTTP against an in-process Berth in auth.mode token: who may
// call what, the exact status and JSON of every answer, and that secrets and their hashes never leak.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthConfigInput } from '../../src/config/schema.js';
import { startBerth, type RunningBerth } from '../support/berth.js';

const ADMIN_PASSWORD = 'admin-password-1';
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** What a stored secret hash looks like: scrypt, sha256 or bcrypt, and the field that holds one. */
const HASH_LIKE = /secretHash|\$scrypt\$|\$sha256\$|\$2[aby]\$|credentialVersion/;

type Auth = { basic: [string, string] } | { bearer: string } | { header: string } | undefined;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

interface CallOptions {
  auth?: Auth;
  body?: unknown;
  /** Sent as is, with this Content-Type, instead of JSON. */
  raw?: { contentType: string; data: string };
  /** The client's address, as a reverse proxy tells it (X-Forwarded-For; needs server.trustProxy). */
  from?: string;
}

const basic = (name: string, password: string): Auth => ({ basic: [name, password] });
/** The scope a Bearer token needs for the management API. */
const MANAGEMENT_SCOPE = 'registry:management:*';
const TOKEN_PATH = `/auth/token?service=berth&scope=${MANAGEMENT_SCOPE}`;
/** A JSON Content-Type with no body: what a POST that takes no input sends. */
const EMPTY_JSON: CallOptions = { raw: { contentType: 'application/json', data: '' } };

/** The access claim of a token, as Berth signed it. */
function accessOf(token: string): Array<{ type: string; name: string; actions: string[] }> {
  return (jwt.decode(token) as { access: Array<{ type: string; name: string; actions: string[] }> }).access;
}

function authorization(auth: Auth): Record<string, string> {
  if (!auth) return {};
  if ('header' in auth) return { Authorization: auth.header };
  if ('bearer' in auth) return { Authorization: `Bearer ${auth.bearer}` };
  return { Authorization: `Basic ${Buffer.from(auth.basic.join(':')).toString('base64')}` };
}

function apiError(code: string, message: string, detail: unknown) {
  return { errors: [{ code, message, detail }] };
}
const invalid = (field: string, reason: string) =>
  apiError('INVALID', `invalid ${field}: ${reason}`, { field, reason });
const denied = (reason: string) =>
  apiError('DENIED', 'requested access to the resource is denied', { reason });
const unauthorized = (reason: string) => apiError('UNAUTHORIZED', 'authentication required', { reason });
const accountNotFound = (account: string) =>
  apiError('NOT_FOUND', `no account named ${account}`, { account });
const namespaceNotFound = (namespace: string) =>
  apiError('NOT_FOUND', `no namespace named ${namespace}`, { namespace });

/** A Berth in token mode with its own data, plus helpers that call its management API. */
function useBerth(auth: BerthConfigInput['auth'] = {}, server: BerthConfigInput['server'] = {}) {
  const env = {} as {
    berth: RunningBerth;
    adminToken: string;
    call(method: string, path: string, options?: CallOptions): Promise<Reply>;
    /** A token with the management scope, from Basic with `name` and `password`. */
    tokenFor(name: string, password: string): Promise<string>;
    asAdmin: Auth;
    addUser(name: string, options?: { admin?: boolean }): Promise<Auth>;
  };

  beforeAll(async () => {
    env.berth = await startBerth(
      { server, auth: { mode: 'token', loginLimit: { perAccount: 1000, perAddress: 1000 }, ...auth } },
      { adminPassword: ADMIN_PASSWORD },
    );
    env.call = async (method, path, { auth: credentials, body, raw, from } = {}) => {
      const headers: Record<string, string> = authorization(credentials);
      if (from) headers['X-Forwarded-For'] = from;
      let payload: string | undefined;
      if (raw) {
        headers['Content-Type'] = raw.contentType;
        payload = raw.data;
      } else if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      const res = await fetch(`${env.berth.url}${path}`, { method, headers, body: payload });
      const text = await res.text();
      expect(text, 'no response may hold a secret hash').not.toMatch(HASH_LIKE);
      return {
        status: res.status,
        headers: res.headers,
        text,
        json: text === '' ? undefined : JSON.parse(text),
      };
    };
    env.tokenFor = async (name, password) => {
      const res = await env.call('GET', TOKEN_PATH, { auth: basic(name, password) });
      expect(res.status).toBe(200);
      return (res.json as { token: string }).token;
    };
    env.adminToken = await env.tokenFor('admin', ADMIN_PASSWORD);
    env.asAdmin = { bearer: env.adminToken };
    env.addUser = async (name, options = {}) => {
      const password = `${name}-password`;
      const res = await env.call('POST', '/api/v1/users', {
        auth: env.asAdmin,
        body: { name, password, ...options },
      });
      expect(res.status).toBe(201);
      return { bearer: await env.tokenFor(name, password) };
    };
  });

  afterAll(async () => {
    await env.berth?.stop();
  });

  return env;
}

describe('authentication', () => {
  const env = useBerth();
  let externalKeyDir: string;

  afterAll(async () => {
    if (externalKeyDir) await rm(externalKeyDir, { recursive: true, force: true });
  });

  it('answers 401 with a Basic challenge and no-store when no credentials are sent', async () => {
    const res = await env.call('GET', '/api/v1/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth"');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual(
      unauthorized('credentials required: Basic (account and password) or a Bearer token'),
    );
  });

  it('answers 401 for a wrong password, an unknown account and a malformed header', async () => {
    for (const auth of [basic('admin', 'wrong-password'), basic('nobody', 'whatever-pass')]) {
      const res = await env.call('GET', '/api/v1/me', { auth });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth"');
      expect(res.json).toEqual(unauthorized('invalid username or password'));
    }
    const res = await env.call('GET', '/api/v1/me', { auth: { header: 'Basic not-base64-pair' } });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized('malformed Authorization header'));
  });

  it('accepts Basic with the account password', async () => {
    const res = await env.call('GET', '/api/v1/me', { auth: basic('admin', ADMIN_PASSWORD) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect((res.json as { name: string }).name).toBe('admin');
  });

  it('accepts a Berth access token carrying registry:management:*, for users and robots', async () => {
    expect(accessOf(env.adminToken)).toEqual([{ type: 'registry', name: 'management', actions: ['*'] }]);
    const res = await env.call('GET', '/api/v1/me', { auth: env.asAdmin });
    expect(res.status).toBe(200);
    expect((res.json as { name: string }).name).toBe('admin');

    const robot = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'scoped' } });
    const robotToken = await env.tokenFor('robot+scoped', (robot.json as { secret: string }).secret);
    const me = await env.call('GET', '/api/v1/me', { auth: { bearer: robotToken } });
    expect(me.status).toBe(200);
    expect((me.json as { name: string }).name).toBe('robot+scoped');
  });

  it("refuses a token without the management scope, even an admin's pull token", async () => {
    const scopeNeeded = unauthorized(
      'the token lacks the scope registry:management:*: request a token with scope=registry:management:*',
    );
    const unscoped = await env.call('GET', '/auth/token?service=berth', {
      auth: basic('admin', ADMIN_PASSWORD),
    });
    const pull = await env.call('GET', '/auth/token?service=berth&scope=repository:admin/app:pull', {
      auth: basic('admin', ADMIN_PASSWORD),
    });
    for (const reply of [unscoped, pull]) {
      const bearer = (reply.json as { token: string }).token;
      const me = await env.call('GET', '/api/v1/me', { auth: { bearer } });
      expect(me.status).toBe(401);
      expect(me.headers.get('www-authenticate')).toBe('Basic realm="berth"');
      expect(me.json).toEqual(scopeNeeded);
      const create = await env.call('POST', '/api/v1/users', {
        auth: { bearer },
        body: { name: 'intruder', password: 'intruder-password' },
      });
      expect(create.status).toBe(401);
      expect(create.json).toEqual(scopeNeeded);
    }
    const intruder = await env.call('GET', '/api/v1/users/intruder', { auth: env.asAdmin });
    expect(intruder.status).toBe(404);
  });

  it('never grants the management scope to an anonymous token', async () => {
    const anonymous = await env.call('GET', TOKEN_PATH);
    expect(anonymous.status).toBe(200);
    const bearer = (anonymous.json as { token: string }).token;
    expect(accessOf(bearer)).toEqual([]);
    const res = await env.call('GET', '/api/v1/me', { auth: { bearer } });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized('an anonymous token names no account: log in'));
  });

  it('refuses an anonymous token', async () => {
    const anonymous = await env.call('GET', '/auth/token');
    const res = await env.call('GET', '/api/v1/me', {
      auth: { bearer: (anonymous.json as { token: string }).token },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth"');
    expect(res.json).toEqual(unauthorized('an anonymous token names no account: log in'));
  });

  it('refuses a token whose payload was altered', async () => {
    const [header, payload, signature] = env.adminToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    const res = await env.call('GET', '/api/v1/me', { auth: { bearer: `${header}.${forged}.${signature}` } });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized('invalid token: invalid signature'));
  });

  it('refuses garbage and refresh tokens', async () => {
    const garbage = await env.call('GET', '/api/v1/me', { auth: { bearer: 'not-a-jwt' } });
    expect(garbage.status).toBe(401);
    expect(garbage.json).toEqual(unauthorized('invalid token: malformed token'));

    const offline = await env.call('GET', '/auth/token?offline_token=true', {
      auth: basic('admin', ADMIN_PASSWORD),
    });
    const refresh = (offline.json as { refresh_token: string }).refresh_token;
    const res = await env.call('GET', '/api/v1/me', { auth: { bearer: refresh } });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized('invalid token: not an access token'));
  });

  it('refuses a token of a trusted external issuer', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    externalKeyDir = await mkdtemp(join(tmpdir(), 'berth-external-'));
    const certificates = join(externalKeyDir, 'issuer.pem');
    await writeFile(certificates, publicKey.export({ type: 'spki', format: 'pem' }));
    const berth = await startBerth({
      auth: { mode: 'token', trustedIssuers: [{ issuer: 'external-idp', certificates }] },
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = jwt.sign(
        { iss: 'external-idp', sub: 'admin', aud: 'berth', iat: now, nbf: now, exp: now + 300, access: [] },
        privateKey,
        { algorithm: 'ES256' },
      );
      const registry = await fetch(`${berth.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } });
      expect(registry.status, 'the registry itself accepts the token').toBe(200);
      const res = await fetch(`${berth.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth"');
      expect(await res.json()).toEqual(
        unauthorized('invalid token: tokens of other issuers are not accepted here'),
      );
    } finally {
      await berth.stop();
    }
  });

  it('refuses the token of an account deleted since', async () => {
    const gone = await env.addUser('gone');
    expect((await env.call('DELETE', '/api/v1/users/gone', { auth: env.asAdmin })).status).toBe(204);
    const res = await env.call('GET', '/api/v1/me', { auth: gone });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized('invalid token: the token names an account that no longer exists'));
  });

  it('refuses the token of a deleted account when an account of the same name is created again', async () => {
    const old = await env.addUser('reborn', { admin: true });
    expect((await env.call('DELETE', '/api/v1/users/reborn', { auth: env.asAdmin })).status).toBe(204);
    const fresh = await env.addUser('reborn');
    const res = await env.call('GET', '/api/v1/users', { auth: old });
    expect(res.status).toBe(401);
    expect(res.json).toEqual(unauthorized("invalid token: the token's account was deleted"));
    const me = await env.call('GET', '/api/v1/me', { auth: fresh });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ name: 'reborn', admin: false });
  });

  it('throttles failed Basic logins with 429 and Retry-After', async () => {
    const berth = await startBerth(
      { auth: { mode: 'token', loginLimit: { perAccount: 2, perAddress: 2, window: '5m' } } },
      { adminPassword: ADMIN_PASSWORD },
    );
    try {
      const me = (password: string) =>
        fetch(`${berth.url}/api/v1/me`, {
          headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
        });
      expect((await me('wrong-one')).status).toBe(401);
      expect((await me('wrong-two')).status).toBe(401);
      const res = await me(ADMIN_PASSWORD);
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(300);
      expect(await res.json()).toEqual(
        apiError('TOOMANYREQUESTS', 'too many failed login attempts', { retryAfterSeconds: retryAfter }),
      );
    } finally {
      await berth.stop();
    }
  });

  it('is not served when auth.mode is not token', async () => {
    const berth = await startBerth();
    try {
      const res = await fetch(`${berth.url}/api/v1/me`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual(apiError('UNSUPPORTED', 'no such endpoint: GET /api/v1/me', null));
    } finally {
      await berth.stop();
    }
  });
});

describe('GET /api/v1/me', () => {
  const env = useBerth();

  it('describes the caller and their memberships', async () => {
    const res = await env.call('GET', '/api/v1/me', { auth: env.asAdmin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.json).toEqual({
      name: 'admin',
      kind: 'user',
      admin: true,
      createdAt: expect.stringMatching(ISO_TIME),
      description: null,
      memberships: [{ namespace: 'admin', role: 'admin' }],
    });
  });
});

describe('users', () => {
  const env = useBerth();

  it('lets an admin create a user (201, Location) and read it back', async () => {
    const res = await env.call('POST', '/api/v1/users', {
      auth: env.asAdmin,
      body: { name: 'alice', password: 'alice-password', description: 'Alice A.' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/v1/users/alice');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const alice = {
      name: 'alice',
      kind: 'user',
      admin: false,
      createdAt: expect.stringMatching(ISO_TIME),
      description: 'Alice A.',
    };
    expect(res.json).toEqual(alice);

    const got = await env.call('GET', '/api/v1/users/alice', { auth: env.asAdmin });
    expect(got.status).toBe(200);
    expect(got.json).toEqual({ ...alice, memberships: [{ namespace: 'alice', role: 'admin' }] });

    const list = await env.call('GET', '/api/v1/users', { auth: env.asAdmin });
    expect(list.status).toBe(200);
    expect(list.json).toEqual({
      users: [
        {
          name: 'admin',
          kind: 'user',
          admin: true,
          createdAt: expect.stringMatching(ISO_TIME),
          description: null,
        },
        alice,
      ],
    });

    const login = await env.call('GET', '/api/v1/me', { auth: basic('alice', 'alice-password') });
    expect(login.status).toBe(200);
  });

  it('creates global administrators when asked', async () => {
    const res = await env.call('POST', '/api/v1/users', {
      auth: env.asAdmin,
      body: { name: 'root2', password: 'root2-password', admin: true },
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ name: 'root2', admin: true, description: null });
  });

  it('answers 409 for a taken name', async () => {
    await env.addUser('taken');
    const res = await env.call('POST', '/api/v1/users', {
      auth: env.asAdmin,
      body: { name: 'taken', password: 'other-password' },
    });
    expect(res.status).toBe(409);
    expect(res.json).toEqual(
      apiError('CONFLICT', 'the name taken is taken by an account', { name: 'taken', takenBy: 'account' }),
    );
  });

  it('answers 400 INVALID naming the field for bad bodies', async () => {
    const cases: Array<[CallOptions, unknown]> = [
      [{ body: { name: 'bob' } }, invalid('password', 'expected string, received undefined')],
      [{ body: { name: 'bob', password: 'short' } }, invalid('password', 'shorter than 8 characters')],
      [
        { body: { name: 'Bob!', password: 'bob-password' } },
        invalid('user name', 'use lowercase letters and digits, separated by single . _ or -'),
      ],
      [{ body: { name: 'bob', password: 'bob-password', admn: true } }, invalid('admn', 'unknown field')],
      [
        { body: { name: 'bob', password: 'bob-password', admin: 'yes' } },
        invalid('admin', 'expected boolean, received string'),
      ],
      [{ body: ['bob'] }, invalid('body', 'expected object, received array')],
      [EMPTY_JSON, invalid('body', 'expected object, received undefined')],
      [{ raw: { contentType: 'application/json', data: '{"name":' } }, invalid('body', 'not valid JSON')],
      [
        { raw: { contentType: 'text/plain', data: '{"name":"bob","password":"bob-password"}' } },
        invalid('Content-Type', 'POST requests must be sent as application/json'),
      ],
      [
        { body: { name: 'bob', password: 'x'.repeat(70 * 1024) } },
        invalid('body', 'larger than 65536 bytes'),
      ],
    ];
    for (const [options, expected] of cases) {
      const res = await env.call('POST', '/api/v1/users', { auth: env.asAdmin, ...options });
      expect(res.status, JSON.stringify(expected)).toBe(400);
      expect(res.json).toEqual(expected);
    }
    const bob = await env.call('GET', '/api/v1/users/bob', { auth: env.asAdmin });
    expect(bob.status).toBe(404);
  });

  it('answers 404 for unknown users and for robots under /users', async () => {
    await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'builder' } });
    for (const name of ['nobody', 'robot+builder']) {
      for (const [method, path, body] of [
        ['GET', `/api/v1/users/${name}`, undefined],
        ['DELETE', `/api/v1/users/${name}`, undefined],
        ['PUT', `/api/v1/users/${name}/password`, { password: 'new-password' }],
        ['PUT', `/api/v1/users/${name}/admin`, { admin: true }],
      ] as const) {
        const res = await env.call(method, path, { auth: env.asAdmin, body });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.json).toEqual(accountNotFound(name));
      }
    }
  });

  it('refuses user management to non-admins with 403', async () => {
    const carol = await env.addUser('carol');
    await env.addUser('dave');
    const attempts = [
      ['GET', '/api/v1/users', undefined],
      ['POST', '/api/v1/users', { name: 'mallory', password: 'mallory-password' }],
      ['GET', '/api/v1/users/dave', undefined],
      ['DELETE', '/api/v1/users/dave', undefined],
      ['PUT', '/api/v1/users/carol/admin', { admin: true }],
      ['GET', '/api/v1/users/nobody', undefined],
    ] as const;
    for (const [method, path, body] of attempts) {
      const res = await env.call(method, path, { auth: carol, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json).toEqual(denied('only global administrators may do this'));
    }
    const mallory = await env.call('GET', '/api/v1/users/mallory', { auth: env.asAdmin });
    expect(mallory.status).toBe(404);
  });

  it("lets a user change their own password but not another's", async () => {
    const erin = await env.addUser('erin');
    await env.addUser('frank');

    const other = await env.call('PUT', '/api/v1/users/frank/password', {
      auth: erin,
      body: { password: 'hijacked-password' },
    });
    expect(other.status).toBe(403);
    expect(other.json).toEqual(denied('only the account itself or a global administrator may do this'));
    expect((await env.call('GET', '/api/v1/me', { auth: basic('frank', 'frank-password') })).status).toBe(
      200,
    );

    for (const body of [
      { password: 'erin-new-password' },
      { password: 'erin-new-password', currentPassword: 'wrong-guess' },
    ]) {
      const unproven = await env.call('PUT', '/api/v1/users/erin/password', { auth: erin, body });
      expect(unproven.status).toBe(400);
      expect(unproven.json).toEqual(
        invalid('currentPassword', 'the current password is required and must be right'),
      );
    }

    const tooShort = await env.call('PUT', '/api/v1/users/erin/password', {
      auth: erin,
      body: { password: 'short', currentPassword: 'erin-password' },
    });
    expect(tooShort.status).toBe(400);
    expect(tooShort.json).toEqual(invalid('password', 'shorter than 8 characters'));

    const own = await env.call('PUT', '/api/v1/users/erin/password', {
      auth: erin,
      body: { password: 'erin-new-password', currentPassword: 'erin-password' },
    });
    expect(own.status).toBe(204);
    expect(own.text).toBe('');
    expect(own.headers.get('cache-control')).toBe('no-store');
    const old = await env.call('GET', '/api/v1/me', { auth: basic('erin', 'erin-password') });
    expect(old.status).toBe(401);
    const fresh = await env.call('GET', '/api/v1/me', { auth: basic('erin', 'erin-new-password') });
    expect(fresh.status).toBe(200);
  });

  it("lets an admin set another user's password", async () => {
    await env.addUser('gina');
    const res = await env.call('PUT', '/api/v1/users/gina/password', {
      auth: env.asAdmin,
      body: { password: 'gina-reset-password' },
    });
    expect(res.status).toBe(204);
    expect((await env.call('GET', '/api/v1/me', { auth: basic('gina', 'gina-reset-password') })).status).toBe(
      200,
    );
    const missing = await env.call('PUT', '/api/v1/users/gina/password', { auth: env.asAdmin, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual(invalid('password', 'expected string, received undefined'));
  });

  it('grants and withdraws global administration', async () => {
    const hank = await env.addUser('hank');
    const promoted = await env.call('PUT', '/api/v1/users/hank/admin', {
      auth: env.asAdmin,
      body: { admin: true },
    });
    expect(promoted.status).toBe(200);
    expect(promoted.json).toEqual({
      name: 'hank',
      kind: 'user',
      admin: true,
      createdAt: expect.stringMatching(ISO_TIME),
      description: null,
    });
    expect((await env.call('GET', '/api/v1/users', { auth: hank })).status).toBe(200);

    const demoted = await env.call('PUT', '/api/v1/users/hank/admin', { auth: hank, body: { admin: false } });
    expect(demoted.status).toBe(200);
    expect(demoted.json).toMatchObject({ name: 'hank', admin: false });
    expect((await env.call('GET', '/api/v1/users', { auth: hank })).status).toBe(403);

    const bad = await env.call('PUT', '/api/v1/users/hank/admin', { auth: env.asAdmin, body: { admin: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual(invalid('admin', 'expected boolean, received number'));
  });

  it('deletes users (204); their password stops working', async () => {
    await env.addUser('ivan');
    const res = await env.call('DELETE', '/api/v1/users/ivan', { auth: env.asAdmin });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await env.call('GET', '/api/v1/users/ivan', { auth: env.asAdmin })).status).toBe(404);
    expect((await env.call('GET', '/api/v1/me', { auth: basic('ivan', 'ivan-password') })).status).toBe(401);
  });
});

describe('the last administrator', () => {
  const env = useBerth();

  it('can be neither demoted nor deleted (409)', async () => {
    const conflict = apiError(
      'CONFLICT',
      'admin is the last administrator; make another account admin first',
      { account: 'admin' },
    );
    const demote = await env.call('PUT', '/api/v1/users/admin/admin', {
      auth: env.asAdmin,
      body: { admin: false },
    });
    expect(demote.status).toBe(409);
    expect(demote.json).toEqual(conflict);
    const remove = await env.call('DELETE', '/api/v1/users/admin', { auth: env.asAdmin });
    expect(remove.status).toBe(409);
    expect(remove.json).toEqual(conflict);
  });
});

describe('robots', () => {
  const env = useBerth();

  beforeAll(async () => {
    const res = await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'team' } });
    expect(res.status).toBe(201);
  });

  it('creates a robot with grants, showing its secret once, and the secret works for Basic', async () => {
    const res = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'ci', description: 'CI pipeline', grants: [{ namespace: 'team', role: 'write' }] },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/v1/robots/robot+ci');
    const robot = {
      name: 'robot+ci',
      kind: 'robot',
      admin: false,
      createdAt: expect.stringMatching(ISO_TIME),
      description: 'CI pipeline',
    };
    expect(res.json).toEqual({ ...robot, secret: expect.stringMatching(/^berth_[A-Za-z0-9_-]{43}$/) });
    const { secret } = res.json as { secret: string };

    const me = await env.call('GET', '/api/v1/me', { auth: basic('robot+ci', secret) });
    expect(me.status).toBe(200);
    expect(me.json).toEqual({ ...robot, memberships: [{ namespace: 'team', role: 'write' }] });

    for (const path of ['/api/v1/robots/ci', '/api/v1/robots/robot+ci']) {
      const got = await env.call('GET', path, { auth: env.asAdmin });
      expect(got.status).toBe(200);
      expect(got.json).toEqual({ ...robot, memberships: [{ namespace: 'team', role: 'write' }] });
      expect(got.text).not.toContain(secret);
    }
    const list = await env.call('GET', '/api/v1/robots', { auth: env.asAdmin });
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ robots: [robot] });
    expect(list.text).not.toContain(secret);
  });

  it('stops accepting the old secret after rotation', async () => {
    const created = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'rotor' } });
    const { secret: first } = created.json as { secret: string };
    expect((await env.call('GET', '/api/v1/me', { auth: basic('robot+rotor', first) })).status).toBe(200);

    const rotated = await env.call('POST', '/api/v1/robots/rotor/secret', { auth: env.asAdmin, body: {} });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.json).toEqual({ secret: expect.stringMatching(/^berth_[A-Za-z0-9_-]{43}$/) });
    const { secret: second } = rotated.json as { secret: string };
    expect(second).not.toBe(first);

    const old = await env.call('GET', '/api/v1/me', { auth: basic('robot+rotor', first) });
    expect(old.status).toBe(401);
    expect(old.json).toEqual(unauthorized('invalid username or password'));
    expect((await env.call('GET', '/api/v1/me', { auth: basic('robot+rotor', second) })).status).toBe(200);
  });

  it('stops accepting the secret after deletion', async () => {
    const created = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'doomed' } });
    const { secret } = created.json as { secret: string };
    const res = await env.call('DELETE', '/api/v1/robots/robot+doomed', { auth: env.asAdmin });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await env.call('GET', '/api/v1/me', { auth: basic('robot+doomed', secret) })).status).toBe(401);
    const gone = await env.call('GET', '/api/v1/robots/doomed', { auth: env.asAdmin });
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual(accountNotFound('robot+doomed'));
  });

  it('answers 404 for unknown robots and users under /robots', async () => {
    await env.addUser('plainuser');
    for (const [method, path] of [
      ['GET', '/api/v1/robots/nope'],
      ['POST', '/api/v1/robots/nope/secret'],
      ['DELETE', '/api/v1/robots/nope'],
    ] as const) {
      const res = await env.call(method, path, {
        auth: env.asAdmin,
        ...(method === 'POST' ? EMPTY_JSON : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json).toEqual(accountNotFound('robot+nope'));
    }
    const user = await env.call('DELETE', '/api/v1/robots/plainuser', { auth: env.asAdmin });
    expect(user.status).toBe(404);
    expect(user.json).toEqual(accountNotFound('robot+plainuser'));
  });

  it('answers 409 for a taken name and 400/404 for bad grants', async () => {
    await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'twin' } });
    const twin = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'robot+twin' },
    });
    expect(twin.status).toBe(409);
    expect(twin.json).toEqual(
      apiError('CONFLICT', 'the name robot+twin is taken by an account', {
        name: 'robot+twin',
        takenBy: 'account',
      }),
    );

    const badRole = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'granted', grants: [{ namespace: 'team', role: 'owner' }] },
    });
    expect(badRole.status).toBe(400);
    expect(badRole.json).toEqual(invalid('grants.0.role', 'expected one of "read"|"write"|"admin"'));

    const noNamespace = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'granted', grants: [{ namespace: 'nowhere', role: 'read' }] },
    });
    expect(noNamespace.status).toBe(404);
    expect(noNamespace.json).toEqual(namespaceNotFound('nowhere'));

    const badName = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'Bad Name' },
    });
    expect(badName.status).toBe(400);
    expect(badName.json).toEqual(
      invalid('robot name', 'use lowercase letters and digits, separated by single . _ or -'),
    );

    const missing = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual(invalid('name', 'expected string, received undefined'));

    const granted = await env.call('GET', '/api/v1/robots/granted', { auth: env.asAdmin });
    expect(granted.status).toBe(404);
  });

  it('refuses robot management to non-admins, robots included', async () => {
    const created = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'worker' } });
    const robot = basic('robot+worker', (created.json as { secret: string }).secret);
    const user = await env.addUser('jill');
    for (const auth of [robot, user]) {
      for (const [method, path] of [
        ['GET', '/api/v1/robots'],
        ['POST', '/api/v1/robots'],
        ['GET', '/api/v1/robots/worker'],
        ['POST', '/api/v1/robots/worker/secret'],
        ['DELETE', '/api/v1/robots/worker'],
        ['GET', '/api/v1/users'],
      ] as const) {
        const res = await env.call(method, path, {
          auth,
          body: method === 'POST' ? { name: 'x' } : undefined,
        });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.json).toEqual(denied('only global administrators may do this'));
      }
    }
    expect((await env.call('GET', '/api/v1/me', { auth: robot })).status).toBe(200);
  });
});

describe('cross-site requests (CSRF)', () => {
  const env = useBerth();

  it('refuses POSTs not sent as application/json, so no form or text/plain post can act', async () => {
    const created = await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'target' } });
    const { secret } = created.json as { secret: string };
    // What a browser with cached Basic credentials can send cross-site without a CORS preflight.
    const admin = basic('admin', ADMIN_PASSWORD);
    const refusal = invalid('Content-Type', 'POST requests must be sent as application/json');
    const attempts: Array<[string, CallOptions]> = [
      ['/api/v1/robots/target/secret', {}],
      ['/api/v1/robots/target/secret', { raw: { contentType: 'text/plain', data: '' } }],
      ['/api/v1/robots/target/secret', { raw: { contentType: 'text/plain', data: '{}' } }],
      [
        '/api/v1/robots/target/secret',
        { raw: { contentType: 'application/x-www-form-urlencoded', data: 'a=b' } },
      ],
      [
        '/api/v1/robots/target/secret',
        { raw: { contentType: 'multipart/form-data; boundary=x', data: '--x--\r\n' } },
      ],
      ['/api/v1/robots/target/secret', { raw: { contentType: 'application/jsonp', data: '{}' } }],
      [
        '/api/v1/users',
        { raw: { contentType: 'text/plain', data: '{"name":"mallory","password":"mallory-password"}' } },
      ],
      ['/api/v1/namespaces', { raw: { contentType: 'text/plain', data: '{"name":"evil"}' } }],
    ];
    for (const [path, options] of attempts) {
      const res = await env.call('POST', path, { auth: admin, ...options });
      expect(res.status, `${path} ${JSON.stringify(options)}`).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.json).toEqual(refusal);
    }
    expect((await env.call('GET', '/api/v1/me', { auth: basic('robot+target', secret) })).status).toBe(200);
    expect((await env.call('GET', '/api/v1/users/mallory', { auth: env.asAdmin })).status).toBe(404);
    expect((await env.call('GET', '/api/v1/namespaces/evil', { auth: env.asAdmin })).status).toBe(404);
  });

  it('accepts JSON POSTs with parameters, and rotation with {} or an empty body', async () => {
    await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'spinner' } });
    for (const options of [
      EMPTY_JSON,
      { raw: { contentType: 'Application/JSON; charset=utf-8', data: '{}' } },
      { body: {} },
    ]) {
      const res = await env.call('POST', '/api/v1/robots/spinner/secret', { auth: env.asAdmin, ...options });
      expect(res.status, JSON.stringify(options)).toBe(200);
      expect(res.json).toEqual({ secret: expect.stringMatching(/^berth_[A-Za-z0-9_-]{43}$/) });
    }
    const extra = await env.call('POST', '/api/v1/robots/spinner/secret', {
      auth: env.asAdmin,
      body: { secret: 'chosen-by-me' },
    });
    expect(extra.status).toBe(400);
    expect(extra.json).toEqual(invalid('secret', 'unknown field'));
  });

  it('still checks the body type of PUT and PATCH, which need a preflight cross-site anyway', async () => {
    const res = await env.call('PUT', '/api/v1/users/admin/password', {
      auth: env.asAdmin,
      raw: { contentType: 'text/plain', data: '{"password":"new-admin-password"}' },
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual(invalid('body', 'expected Content-Type: application/json'));
  });
});

describe('password changes and the login limits', () => {
  const env = useBerth(
    { loginLimit: { perAccount: 2, perAddress: 1000, window: '5m', concurrentChecks: 1, queuedChecks: 0 } },
    { trustProxy: true },
  );
  const wrongCurrent = invalid('currentPassword', 'the current password is required and must be right');

  it('counts wrong current passwords as failed logins and answers 429 once throttled', async () => {
    // mia logs in from 127.0.0.1; her token is then used from an address she never logged in from.
    const mia = await env.addUser('mia');
    const change = (currentPassword?: string, from = '203.0.113.9') =>
      env.call('PUT', '/api/v1/users/mia/password', {
        auth: mia,
        body: { password: 'mia-new-password', currentPassword },
        from,
      });
    // A missing current password is no guess: it does not count.
    for (const currentPassword of [undefined, 'wrong-one', 'wrong-two']) {
      const res = await change(currentPassword);
      expect(res.status, String(currentPassword)).toBe(400);
      expect(res.json).toEqual(wrongCurrent);
    }
    const throttled = await change('wrong-three');
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(throttled.json).toEqual(
      apiError('TOOMANYREQUESTS', 'too many failed login attempts', { retryAfterSeconds: retryAfter }),
    );
    const login = await env.call('GET', '/api/v1/me', {
      auth: basic('mia', 'another-guess'),
      from: '192.0.2.2',
    });
    expect(login.status, 'the guesses count for every login of the account').toBe(429);
    // Where mia has logged in before, only that address's own limit applies: her guess is judged.
    const atHome = await change('wrong-at-home', '127.0.0.1');
    expect(atHome.status).toBe(400);
    expect(atHome.json).toEqual(wrongCurrent);

    const reset = await env.call('PUT', '/api/v1/users/mia/password', {
      auth: env.asAdmin,
      body: { password: 'mia-reset-password' },
    });
    expect(reset.status, 'an administrator needs no current password').toBe(204);
  });

  it('hashes new passwords under the check limiter, answering 429 beyond it', async () => {
    await env.addUser('nia');
    const tooMany = apiError('TOOMANYREQUESTS', 'too many logins at once', { retryAfterSeconds: 1 });
    const expectLimited = (replies: Reply[], success: number) => {
      const statuses = replies.map((r) => r.status);
      expect(statuses).toContain(success);
      expect(statuses).toContain(429);
      expect(statuses.every((status) => status === success || status === 429)).toBe(true);
      for (const reply of replies.filter((r) => r.status === 429)) expect(reply.json).toEqual(tooMany);
    };

    const changes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        env.call('PUT', '/api/v1/users/nia/password', {
          auth: env.asAdmin,
          body: { password: `nia-password-${i}` },
        }),
      ),
    );
    expectLimited(changes, 204);

    const additions = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        env.call('POST', '/api/v1/users', {
          auth: env.asAdmin,
          body: { name: `parallel${i}`, password: `parallel${i}-password` },
        }),
      ),
    );
    expectLimited(additions, 201);
  });
});

describe('namespaces', () => {
  const env = useBerth();
  let kim: Auth;
  let lee: Auth;

  beforeAll(async () => {
    kim = await env.addUser('kim');
    lee = await env.addUser('lee');
  });

  const ns = (name: string, isPublic = false) => ({
    name,
    public: isPublic,
    createdAt: expect.stringMatching(ISO_TIME),
  });

  it('lets an admin create namespaces (201, Location)', async () => {
    const res = await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'team' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/v1/namespaces/team');
    expect(res.json).toEqual(ns('team'));

    const open = await env.call('POST', '/api/v1/namespaces', {
      auth: env.asAdmin,
      body: { name: 'open', public: true },
    });
    expect(open.status).toBe(201);
    expect(open.json).toEqual(ns('open', true));
  });

  it('answers 409 for a taken name, 400 for a bad one, 403 for non-admins', async () => {
    await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'dup' } });
    const dup = await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'dup' } });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual(
      apiError('CONFLICT', 'the name dup is taken by a namespace', { name: 'dup', takenBy: 'namespace' }),
    );
    const user = await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'kim' } });
    expect(user.status).toBe(409);
    expect(user.json).toEqual(
      apiError('CONFLICT', 'the name kim is taken by an account', { name: 'kim', takenBy: 'account' }),
    );
    const bad = await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'Bad!' } });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual(
      invalid('namespace name', 'use lowercase letters and digits, separated by . _ __ or -'),
    );
    const badPublic = await env.call('POST', '/api/v1/namespaces', {
      auth: env.asAdmin,
      body: { name: 'fine', public: 'yes' },
    });
    expect(badPublic.status).toBe(400);
    expect(badPublic.json).toEqual(invalid('public', 'expected boolean, received string'));
    const denial = await env.call('POST', '/api/v1/namespaces', { auth: kim, body: { name: 'mine' } });
    expect(denial.status).toBe(403);
    expect(denial.json).toEqual(denied('only global administrators may do this'));
  });

  it('lists every namespace to admins; members and public ones to others', async () => {
    await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'listed' } });
    await env.call('PUT', '/api/v1/namespaces/listed/members/lee', {
      auth: env.asAdmin,
      body: { role: 'read' },
    });

    const all = await env.call('GET', '/api/v1/namespaces', { auth: env.asAdmin });
    expect(all.status).toBe(200);
    const names = (all.json as { namespaces: Array<{ name: string }> }).namespaces.map((n) => n.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['admin', 'kim', 'lee', 'listed', 'open', 'team']));

    const forLee = await env.call('GET', '/api/v1/namespaces', { auth: lee });
    expect(forLee.status).toBe(200);
    expect(forLee.json).toEqual({ namespaces: [ns('lee'), ns('listed'), ns('open', true)] });

    const forKim = await env.call('GET', '/api/v1/namespaces', { auth: kim });
    expect(forKim.json).toEqual({ namespaces: [ns('kim'), ns('open', true)] });
  });

  it('shows a namespace with its members to members and admins only', async () => {
    await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'crew' } });
    const added = await env.call('PUT', '/api/v1/namespaces/crew/members/lee', {
      auth: env.asAdmin,
      body: { role: 'write' },
    });
    expect(added.status).toBe(200);
    expect(added.json).toEqual({ namespace: 'crew', account: 'lee', role: 'write' });

    const expected = { ...ns('crew'), members: [{ account: 'lee', role: 'write' }] };
    for (const auth of [env.asAdmin, lee]) {
      const res = await env.call('GET', '/api/v1/namespaces/crew', { auth });
      expect(res.status).toBe(200);
      expect(res.json).toEqual(expected);
    }
    for (const name of ['crew', 'open', 'does-not-exist']) {
      const res = await env.call('GET', `/api/v1/namespaces/${name}`, { auth: kim });
      expect(res.status, name).toBe(403);
      expect(res.json).toEqual(denied(`only members of namespace ${name} may see it`));
    }
    const own = await env.call('GET', '/api/v1/namespaces/kim', { auth: kim });
    expect(own.status).toBe(200);
    expect(own.json).toEqual({ ...ns('kim'), members: [{ account: 'kim', role: 'admin' }] });

    const missing = await env.call('GET', '/api/v1/namespaces/does-not-exist', { auth: env.asAdmin });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(namespaceNotFound('does-not-exist'));
  });

  it('lets a namespace admin change it and its members; others get 403', async () => {
    await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'squad' } });
    await env.call('PUT', '/api/v1/namespaces/squad/members/kim', {
      auth: env.asAdmin,
      body: { role: 'admin' },
    });

    const patched = await env.call('PATCH', '/api/v1/namespaces/squad', {
      auth: kim,
      body: { public: true },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toEqual(ns('squad', true));

    const member = await env.call('PUT', '/api/v1/namespaces/squad/members/lee', {
      auth: kim,
      body: { role: 'read' },
    });
    expect(member.status).toBe(200);
    expect(member.json).toEqual({ namespace: 'squad', account: 'lee', role: 'read' });

    const refusal = denied('only administrators of namespace squad may do this');
    for (const [method, path, body] of [
      ['PATCH', '/api/v1/namespaces/squad', { public: false }],
      ['PUT', '/api/v1/namespaces/squad/members/lee', { role: 'admin' }],
      ['DELETE', '/api/v1/namespaces/squad/members/kim', undefined],
    ] as const) {
      const res = await env.call(method, path, { auth: lee, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json).toEqual(refusal);
    }

    const removed = await env.call('DELETE', '/api/v1/namespaces/squad/members/lee', { auth: kim });
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    const again = await env.call('DELETE', '/api/v1/namespaces/squad/members/lee', { auth: kim });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(
      apiError('NOT_FOUND', 'lee is not a member of namespace squad', { namespace: 'squad', account: 'lee' }),
    );
    const squad = await env.call('GET', '/api/v1/namespaces/squad', { auth: kim });
    expect(squad.json).toEqual({ ...ns('squad', true), members: [{ account: 'kim', role: 'admin' }] });
  });

  it("lets a user manage their personal namespace's members", async () => {
    const res = await env.call('PUT', '/api/v1/namespaces/kim/members/lee', {
      auth: kim,
      body: { role: 'read' },
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ namespace: 'kim', account: 'lee', role: 'read' });
    const owner = await env.call('PUT', '/api/v1/namespaces/kim/members/kim', {
      auth: kim,
      body: { role: 'read' },
    });
    expect(owner.status).toBe(400);
    expect(owner.json).toEqual(invalid('member', 'kim owns the personal namespace kim'));
    const removeOwner = await env.call('DELETE', '/api/v1/namespaces/kim/members/kim', { auth: kim });
    expect(removeOwner.status).toBe(400);
    expect(removeOwner.json).toEqual(invalid('member', 'kim owns the personal namespace kim'));
  });

  it('grants roles to robots and checks bodies and targets', async () => {
    await env.call('POST', '/api/v1/robots', { auth: env.asAdmin, body: { name: 'deployer' } });
    const robot = await env.call('PUT', '/api/v1/namespaces/team/members/deployer', {
      auth: env.asAdmin,
      body: { role: 'read' },
    });
    expect(robot.status).toBe(200);
    expect(robot.json).toEqual({ namespace: 'team', account: 'robot+deployer', role: 'read' });

    const badRole = await env.call('PUT', '/api/v1/namespaces/team/members/lee', {
      auth: env.asAdmin,
      body: { role: 'owner' },
    });
    expect(badRole.status).toBe(400);
    expect(badRole.json).toEqual(invalid('role', 'expected one of "read"|"write"|"admin"'));

    const noAccount = await env.call('PUT', '/api/v1/namespaces/team/members/ghost', {
      auth: env.asAdmin,
      body: { role: 'read' },
    });
    expect(noAccount.status).toBe(404);
    expect(noAccount.json).toEqual(accountNotFound('ghost'));

    const noNamespace = await env.call('PUT', '/api/v1/namespaces/nowhere/members/lee', {
      auth: env.asAdmin,
      body: { role: 'read' },
    });
    expect(noNamespace.status).toBe(404);
    expect(noNamespace.json).toEqual(namespaceNotFound('nowhere'));

    const patchMissing = await env.call('PATCH', '/api/v1/namespaces/nowhere', {
      auth: env.asAdmin,
      body: { public: true },
    });
    expect(patchMissing.status).toBe(404);
    expect(patchMissing.json).toEqual(namespaceNotFound('nowhere'));

    const patchEmpty = await env.call('PATCH', '/api/v1/namespaces/team', { auth: env.asAdmin, body: {} });
    expect(patchEmpty.status).toBe(400);
    expect(patchEmpty.json).toEqual(invalid('public', 'expected boolean, received undefined'));
  });

  it('deletes namespaces (global admin only; not personal ones)', async () => {
    await env.call('POST', '/api/v1/namespaces', { auth: env.asAdmin, body: { name: 'temp' } });
    await env.call('PUT', '/api/v1/namespaces/temp/members/kim', {
      auth: env.asAdmin,
      body: { role: 'admin' },
    });

    const byNamespaceAdmin = await env.call('DELETE', '/api/v1/namespaces/temp', { auth: kim });
    expect(byNamespaceAdmin.status).toBe(403);
    expect(byNamespaceAdmin.json).toEqual(denied('only global administrators may do this'));

    const res = await env.call('DELETE', '/api/v1/namespaces/temp', { auth: env.asAdmin });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await env.call('GET', '/api/v1/namespaces/temp', { auth: env.asAdmin })).status).toBe(404);
    const me = await env.call('GET', '/api/v1/me', { auth: kim });
    expect((me.json as { memberships: unknown[] }).memberships).not.toContainEqual({
      namespace: 'temp',
      role: 'admin',
    });

    const again = await env.call('DELETE', '/api/v1/namespaces/temp', { auth: env.asAdmin });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(namespaceNotFound('temp'));

    const personal = await env.call('DELETE', '/api/v1/namespaces/kim', { auth: env.asAdmin });
    expect(personal.status).toBe(400);
    expect(personal.json).toEqual(invalid('namespace', 'kim is the personal namespace of user kim'));
  });
});

describe('the route table', () => {
  const env = useBerth();

  it('answers 404 UNSUPPORTED for unknown paths under /api/v1', async () => {
    const path = await env.call('GET', '/api/v1/nothing-here', { auth: env.asAdmin });
    expect(path.status).toBe(404);
    expect(path.json).toEqual(apiError('UNSUPPORTED', 'no such endpoint: GET /api/v1/nothing-here', null));
  });

  it('never returns secret hashes from any reading endpoint', async () => {
    await env.addUser('reader');
    const robot = await env.call('POST', '/api/v1/robots', {
      auth: env.asAdmin,
      body: { name: 'peek', grants: [{ namespace: 'reader', role: 'read' }] },
    });
    expect(robot.status).toBe(201);
    for (const path of [
      '/api/v1/me',
      '/api/v1/users',
      '/api/v1/users/reader',
      '/api/v1/robots',
      '/api/v1/robots/peek',
      '/api/v1/namespaces',
      '/api/v1/namespaces/reader',
    ]) {
      const res = await env.call('GET', path, { auth: env.asAdmin });
      expect(res.status, path).toBe(200);
      expect(res.text, path).not.toMatch(HASH_LIKE);
      expect(res.text, path).not.toContain((robot.json as { secret: string }).secret);
    }
  });
});
