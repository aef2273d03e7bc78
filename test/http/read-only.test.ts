// server.readOnly (maintenance mode): pulls keep working; every push and delete is refused with a
// message that clients print, and nothing changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, type PushedImage } from '../support/fuzz-registry.js';
import { send, sha256 } from '../support/fuzz.js';
import { startBerthIn, tempDir } from '../support/mirror.js';
import type { RunningBerth } from '../support/berth.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('server.readOnly', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let berth: RunningBerth;
  let image: PushedImage;

  beforeAll(async () => {
    dir = await tempDir();
    const writable = await startBerthIn(dir.path, {});
    image = await pushImage(writable.url, 'team/app', 'v1');
    await writable.stop();
    berth = await startBerthIn(dir.path, { server: { readOnly: true } });
  });
  afterAll(async () => {
    await berth?.stop();
    await dir?.remove();
  });

  it('serves pulls, tag lists and the catalog', async () => {
    const manifest = await send(berth.url, 'GET', '/v2/team/app/manifests/v1', {
      headers: { Accept: MANIFEST },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.text).toBe(image.manifest);
    const layer = await send(berth.url, 'GET', `/v2/team/app/blobs/${sha256(image.layer)}`);
    expect(sha256(layer.body)).toBe(sha256(image.layer));
    expect((await send(berth.url, 'GET', '/v2/team/app/tags/list')).status).toBe(200);
    expect((await send(berth.url, 'GET', '/v2/_catalog')).status).toBe(200);
  });

  it.each([
    ['POST', '/v2/team/app/blobs/uploads/'],
    ['PUT', '/v2/team/app/manifests/v2'],
    ['DELETE', '/v2/team/app/manifests/v1'],
    ['DELETE', '/v2/team/app/blobs/sha256:' + '0'.repeat(64)],
    ['PATCH', '/v2/team/app/blobs/uploads/some-session'],
  ])('refuses %s %s with 405 UNSUPPORTED saying the registry is read-only', async (method, path) => {
    const res = await send(berth.url, method, path, {
      headers: { 'Content-Type': MANIFEST },
      body: method === 'PUT' ? image.manifest : undefined,
    });
    expect(res.status).toBe(405);
    const body = JSON.parse(res.text) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
    expect(body.errors[0]?.message).toMatch(/read-only for maintenance/);
  });

  it('refuses changes through the management API too (token mode), and still answers its reads', async () => {
    const tokenDir = await tempDir();
    const password = 'read-only-admin-1';
    const managed = await startBerthIn(
      tokenDir.path,
      { server: { readOnly: true }, auth: { mode: 'token' } },
      {
        adminPassword: password,
      },
    );
    try {
      const auth = { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
      const add = await fetch(`${managed.url}/api/v1/users`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'alice', password: 'alice-password-1' }),
      });
      expect(add.status).toBe(405);
      expect(await add.text()).toMatch(/read-only for maintenance/);
      expect((await fetch(`${managed.url}/api/v1/users`, { headers: auth })).status).toBe(200);
    } finally {
      await managed.stop();
      await tokenDir.remove();
    }
  });

  it('changed nothing: the tag still points at the pushed manifest', async () => {
    const tags = await send(berth.url, 'GET', '/v2/team/app/tags/list');
    expect(JSON.parse(tags.text)).toEqual({ name: 'team/app', tags: ['v1'] });
  });
});
