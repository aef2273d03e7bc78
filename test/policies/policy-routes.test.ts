// The namespace-policy routes (src/http/api/policies.ts) over real HTTP, mounted in the route table as
// `apiRoutes` in front of a registry with policies (auth mode none: every caller is admitted): exact
// statuses and JSON, input checks naming the field, and a dry run against a real run.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allowEverything } from '../../src/http/access.js';
import { policyRoutes } from '../../src/http/api/policies.js';
import { createApp } from '../../src/http/app.js';
import { createPolicyRegistry } from './support.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;

interface Reply {
  status: number;
  json: unknown;
}

describe('namespace policy routes', () => {
  let server: Server;
  let base: string;
  let r: ReturnType<typeof createPolicyRegistry>;

  beforeEach(async () => {
    r = createPolicyRegistry();
    const app = createApp({
      registry: r.registry,
      authorizer: allowEverything,
      log: silent,
      logRequests: false,
      manifestMaxBytes: 4 * 1024 * 1024,
      apiRoutes: policyRoutes({ store: r.store, retention: r.retention, clock: r.now }),
    });
    server = createServer(app.callback());
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });
  afterEach(async () => {
    await new Promise((done) => server.close(done));
  });

  async function call(method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined && method !== 'POST' ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }
  const invalid = (field: string, reason: string) => ({
    errors: [{ code: 'INVALID', message: `invalid ${field}: ${reason}`, detail: { field, reason } }],
  });

  it('sets, shows with usage, and removes a quota', async () => {
    await r.pushBlob('team/app', Buffer.alloc(1_500, 1));
    expect(await call('GET', '/namespaces/team/quota')).toEqual({
      status: 200,
      json: { namespace: 'team', limitBytes: null, usedBytes: 1_500 },
    });
    expect(await call('PUT', '/namespaces/team/quota', { limitBytes: 1_000_000 })).toEqual({
      status: 200,
      json: { namespace: 'team', limitBytes: 1_000_000, usedBytes: 1_500 },
    });
    expect(await call('GET', '/quotas')).toEqual({
      status: 200,
      json: { namespaces: [{ namespace: 'team', limitBytes: 1_000_000, usedBytes: 1_500 }] },
    });
    expect(await call('DELETE', '/namespaces/team/quota')).toEqual({ status: 204, json: undefined });
    expect((await call('GET', '/namespaces/team/quota')).json).toMatchObject({ limitBytes: null });

    expect(await call('PUT', '/namespaces/team/quota', { limitBytes: -1 })).toMatchObject({ status: 400 });
    expect(await call('PUT', '/namespaces/team/quota', { limit: 5 })).toMatchObject({ status: 400 });
    expect(await call('GET', '/namespaces/Team/quota')).toEqual({
      status: 400,
      json: invalid('namespace', 'a repository name component'),
    });
  });

  it('replaces and lists immutable-tag rules, and the registry applies them', async () => {
    expect(await call('GET', '/namespaces/team/immutable-tags')).toEqual({
      status: 200,
      json: { namespace: 'team', rules: [] },
    });
    const put = await call('PUT', '/namespaces/team/immutable-tags', {
      rules: [{ tags: 'v*' }, { tags: 'stable', repositories: 'team/prod-*' }],
    });
    expect(put).toEqual({
      status: 200,
      json: {
        namespace: 'team',
        rules: [
          { tags: 'v*', repositories: null },
          { tags: 'stable', repositories: 'team/prod-*' },
        ],
      },
    });
    await r.pushImage('team/app', 'v1');
    await expect(r.pushImage('team/app', 'v1')).rejects.toMatchObject({ code: 'DENIED' });

    expect(await call('PUT', '/namespaces/team/immutable-tags', { rules: [{ tags: 'v/1' }] })).toEqual({
      status: 400,
      json: invalid('rules.0.tags', 'tag characters and * only'),
    });
    expect((await call('PUT', '/namespaces/team/immutable-tags', { rules: [] })).json).toEqual({
      namespace: 'team',
      rules: [],
    });
  });

  it('sets retention policies per namespace and per repository, and reads null when none', async () => {
    expect(await call('GET', '/namespaces/team/retention')).toEqual({
      status: 200,
      json: { scope: 'namespace', name: 'team', policy: null },
    });
    expect(
      await call('PUT', '/namespaces/team/retention', { keepLatest: { count: 3 }, untaggedAfter: '7d' }),
    ).toEqual({
      status: 200,
      json: {
        scope: 'namespace',
        name: 'team',
        policy: { keepLatest: { count: 3, by: 'pushed' }, keepPatterns: [], untaggedAfter: '7d' },
      },
    });
    expect(await call('PUT', '/repositories/team/app/-/retention', { keepPatterns: ['release-*'] })).toEqual({
      status: 200,
      json: {
        scope: 'repository',
        name: 'team/app',
        policy: { keepLatest: null, keepPatterns: ['release-*'], untaggedAfter: null },
      },
    });
    expect((await call('GET', '/repositories/team/app/-/retention')).json).toMatchObject({
      name: 'team/app',
    });
    expect(await call('DELETE', '/repositories/team/app/-/retention')).toEqual({
      status: 204,
      json: undefined,
    });
    expect((await call('GET', '/repositories/team/app/-/retention')).json).toMatchObject({ policy: null });

    expect(await call('PUT', '/namespaces/team/retention', { untaggedAfter: 'soon' })).toEqual({
      status: 400,
      json: invalid('untaggedAfter', 'a duration such as "12h" or "7d"'),
    });
    expect((await call('PUT', '/namespaces/team/retention', { keepLatest: { count: 0 } })).status).toBe(400);
    expect((await call('PUT', '/namespaces/team/retention', { keepOldest: 1 })).status).toBe(400);
  });

  it('answers a dry run with exactly what the real run then deletes', async () => {
    for (const tag of ['1', '2', '3', '4']) {
      await r.pushImage('team/app', tag);
      r.advance(HOUR);
    }
    await call('PUT', '/namespaces/team/retention', { keepLatest: { count: 2, by: 'pushed' } });
    const dry = await call('POST', '/namespaces/team/retention/run?dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.json).toMatchObject({
      dryRun: true,
      startedAt: new Date(r.now()).toISOString(),
      repositoriesExamined: 1,
      repositories: [{ repository: 'team/app', policy: 'namespace', skipped: [] }],
      totals: { tags: 2, manifests: 0, skipped: 0 },
    });
    expect(await r.tags('team/app')).toEqual(['1', '2', '3', '4']);
    const real = await call('POST', '/namespaces/team/retention/run');
    expect(real.json).toEqual({ ...(dry.json as object), dryRun: false });
    expect(await r.tags('team/app')).toEqual(['3', '4']);
    expect((await call('POST', '/namespaces/team/retention/run?dryRun=maybe')).status).toBe(400);
  });
});
