// Who may read and set namespace rules in token mode (in-process Berth, Basic credentials on /api/v1):
// quotas are set by global administrators and read by the namespace's members; immutable-tag rules,
// namespace retention policies and runs by the namespace's administrators; a repository's retention
// policy by whoever may delete in it. Rules are keyed by the namespace string, not by its account entity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';

const ADMIN_PASSWORD = 'admin-password-1';
const users = { owner: 'admin', writer: 'write', reader: 'read', outsider: undefined } as const;
type User = keyof typeof users | 'admin';

describe('namespace policy access in token mode', () => {
  let berth: RunningBerth;

  const call = async (who: User, method: string, path: string, body?: unknown) => {
    const password = who === 'admin' ? ADMIN_PASSWORD : `${who}-password-1`;
    const headers: Record<string, string> = {
      Authorization: `Basic ${Buffer.from(`${who}:${password}`).toString('base64')}`,
    };
    if (body !== undefined || method === 'POST') headers['Content-Type'] = 'application/json';
    const res = await fetch(`${berth.url}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.text();
    return res.status;
  };
  /** The status each user gets for the same request. */
  const statuses = async (method: string, path: string, body?: unknown) => {
    const result: Record<string, number> = {};
    for (const who of ['admin', 'owner', 'writer', 'reader', 'outsider'] as const) {
      result[who] = await call(who, method, path, body);
    }
    return result;
  };

  beforeAll(async () => {
    berth = await startBerth(
      { auth: { mode: 'token', loginLimit: { perAccount: 1000, perAddress: 1000 } } },
      { adminPassword: ADMIN_PASSWORD },
    );
    expect(await call('admin', 'POST', '/namespaces', { name: 'team' })).toBe(201);
    for (const [name, role] of Object.entries(users)) {
      expect(await call('admin', 'POST', '/users', { name, password: `${name}-password-1` })).toBe(201);
      if (role) expect(await call('admin', 'PUT', `/namespaces/team/members/${name}`, { role })).toBe(200);
    }
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('lets global administrators set quotas and members read them', async () => {
    expect(await statuses('PUT', '/namespaces/team/quota', { limitBytes: 1_000_000 })).toEqual({
      admin: 200,
      owner: 403,
      writer: 403,
      reader: 403,
      outsider: 403,
    });
    expect(await statuses('GET', '/namespaces/team/quota')).toEqual({
      admin: 200,
      owner: 200,
      writer: 200,
      reader: 200,
      outsider: 403,
    });
    expect((await statuses('GET', '/quotas')).owner).toBe(403);
  });

  it('lets namespace administrators set immutable-tag rules and run retention', async () => {
    expect(await statuses('PUT', '/namespaces/team/immutable-tags', { rules: [{ tags: 'v*' }] })).toEqual({
      admin: 200,
      owner: 200,
      writer: 403,
      reader: 403,
      outsider: 403,
    });
    expect(await statuses('PUT', '/namespaces/team/retention', { untaggedAfter: '30d' })).toEqual({
      admin: 200,
      owner: 200,
      writer: 403,
      reader: 403,
      outsider: 403,
    });
    expect(await statuses('POST', '/namespaces/team/retention/run?dryRun=true')).toEqual({
      admin: 200,
      owner: 200,
      writer: 403,
      reader: 403,
      outsider: 403,
    });
    expect((await statuses('GET', '/namespaces/team/immutable-tags')).reader).toBe(200);
  });

  it('lets whoever may delete in a repository set its retention policy, and its readers see it', async () => {
    expect(await statuses('PUT', '/repositories/team/app/-/retention', { keepPatterns: ['v*'] })).toEqual({
      admin: 200,
      owner: 200,
      writer: 403,
      reader: 403,
      outsider: 403,
    });
    expect(await statuses('GET', '/repositories/team/app/-/retention')).toEqual({
      admin: 200,
      owner: 200,
      writer: 200,
      reader: 200,
      outsider: 403,
    });
  });
});
