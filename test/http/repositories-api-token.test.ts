// The repositories API in a real Berth (test/support/berth.ts) in auth.mode token: what readers,
// writers, outsiders and anonymous callers may list, change, copy and delete, as the same access
// policy as /v2 decides; and pulls counted by the server's pull tracker.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { waitFor } from '../support/http.js';

const ADMIN: [string, string] = ['admin', 'admin-password-1'];
const WRITER: [string, string] = ['writer', 'writer-password'];
const READER: [string, string] = ['reader', 'reader-password'];
const OUTSIDER: [string, string] = ['outsider', 'outsider-password'];
const sha256 = (data: string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const basic = ([name, password]: [string, string]) =>
  `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
}

describe('repositories API with token authentication', () => {
  let berth: RunningBerth;

  async function call(method: string, path: string, user?: [string, string], body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = user ? { Authorization: basic(user) } : {};
    if (body !== undefined || method === 'POST') headers['Content-Type'] = 'application/json';
    const res = await fetch(`${berth.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      json: text ? (JSON.parse(text) as unknown) : undefined,
    };
  }

  async function tokenFor(user: [string, string], scope: string): Promise<string> {
    const res = await fetch(`${berth.url}/auth/token?service=berth&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic(user) },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  async function pushImage(user: [string, string], name: string, tag: string): Promise<string> {
    const token = await tokenFor(user, `repository:${name}:pull,push`);
    const auth = { Authorization: `Bearer ${token}` };
    const config = JSON.stringify({ created: '2024-06-01T00:00:00Z', os: 'linux', architecture: 'arm64' });
    const layer = `layer of ${name}`;
    for (const data of [config, layer]) {
      const res = await fetch(`${berth.url}/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, {
        method: 'POST',
        headers: auth,
        body: data,
      });
      expect(res.status).toBe(201);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
    });
    const res = await fetch(`${berth.url}/v2/${name}/manifests/${tag}`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': MEDIA_TYPES.ociManifest },
      body: manifest,
    });
    expect(res.status).toBe(201);
    return sha256(manifest);
  }

  const names = (reply: Reply) =>
    (reply.json as { repositories: Array<{ name: string }> }).repositories.map((r) => r.name);
  const errorCode = (reply: Reply) => (reply.json as { errors: Array<{ code: string }> }).errors[0]?.code;

  beforeAll(async () => {
    berth = await startBerth(
      { auth: { mode: 'token', loginLimit: { perAccount: 1000, perAddress: 1000 } } },
      { adminPassword: ADMIN[1] },
    );
    for (const [name, password] of [WRITER, READER, OUTSIDER]) {
      expect((await call('POST', '/api/v1/users', ADMIN, { name, password })).status).toBe(201);
    }
    for (const namespace of ['team', 'other']) {
      expect((await call('POST', '/api/v1/namespaces', ADMIN, { name: namespace })).status).toBe(201);
    }
    expect(
      (await call('PUT', '/api/v1/namespaces/team/members/writer', ADMIN, { role: 'write' })).status,
    ).toBe(200);
    expect(
      (await call('PUT', '/api/v1/namespaces/team/members/reader', ADMIN, { role: 'read' })).status,
    ).toBe(200);
    await pushImage(WRITER, 'team/app', 'v1');
    await pushImage(ADMIN, 'other/app', 'v1');
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('lists to each caller only the repositories they may read', async () => {
    expect(names(await call('GET', '/api/v1/repositories', ADMIN))).toEqual(['other/app', 'team/app']);
    expect(names(await call('GET', '/api/v1/repositories', READER))).toEqual(['team/app']);
    expect((await call('GET', '/api/v1/repositories', READER)).json).toMatchObject({ total: 1 });
    expect(await call('GET', '/api/v1/repositories', OUTSIDER)).toMatchObject({
      status: 200,
      json: { repositories: [], total: 0, next: null },
    });
    expect(await call('GET', '/api/v1/repositories')).toMatchObject({ status: 200, json: { total: 0 } });
  });

  it('lets a reader see but not change, copy or delete', async () => {
    expect(await call('GET', '/api/v1/repositories/team/app', READER)).toMatchObject({
      status: 200,
      json: { name: 'team/app', tagCount: 1 },
    });
    expect((await call('GET', '/api/v1/repositories/team/app/-/tags/v1', READER)).json).toMatchObject({
      created: '2024-06-01T00:00:00Z',
    });
    for (const [method, path, body] of [
      ['PATCH', '/api/v1/repositories/team/app', { description: 'mine' }],
      ['POST', '/api/v1/repositories/team/app/-/tags/v1/copy?to=stolen'],
      ['DELETE', '/api/v1/repositories/team/app/-/tags/v1'],
      ['DELETE', '/api/v1/repositories/team/app'],
    ] as const) {
      const reply = await call(method, path, READER, body);
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(errorCode(reply)).toBe('DENIED');
    }
    expect(await call('GET', '/api/v1/repositories/other/app', READER)).toMatchObject({ status: 403 });
    const anonymous = await call('DELETE', '/api/v1/repositories/team/app');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('lets a writer retag within its namespace, not copy out of it nor delete', async () => {
    expect(
      await call('POST', '/api/v1/repositories/team/app/-/tags/v1/copy?to=team/app:prod', WRITER),
    ).toMatchObject({
      status: 201,
      json: { repository: 'team/app', name: 'prod' },
    });
    expect(
      await call('POST', '/api/v1/repositories/team/app/-/tags/v1/copy?to=team/copy:v1', WRITER),
    ).toMatchObject({
      status: 201,
      json: { repository: 'team/copy', name: 'v1' },
    });
    const out = await call('POST', '/api/v1/repositories/team/app/-/tags/v1/copy?to=other/app:mine', WRITER);
    expect(out.status).toBe(403);
    expect(errorCode(out)).toBe('DENIED');
    expect((await call('DELETE', '/api/v1/repositories/team/app/-/tags/prod', WRITER)).status).toBe(403);
    expect(await call('DELETE', '/api/v1/repositories/team/copy', ADMIN)).toMatchObject({
      status: 200,
      json: { name: 'team/copy', deleted: { tags: 1, manifests: 1, blobs: 2 } },
    });
  });

  it('counts pulls made through /v2, written within the flush interval', async () => {
    const token = await tokenFor(READER, 'repository:team/app:pull');
    const res = await fetch(`${berth.url}/v2/team/app/manifests/v1`, {
      headers: { Authorization: `Bearer ${token}`, Accept: MEDIA_TYPES.ociManifest },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await waitFor(
      'the pull to be recorded',
      async () =>
        ((await call('GET', '/api/v1/repositories/team/app', ADMIN)).json as { pullCount: number })
          .pullCount === 1,
      15_000,
    );
    const sorted = await call('GET', '/api/v1/repositories?sort=pulled', ADMIN);
    expect(names(sorted)[0]).toBe('team/app');
  });
});
