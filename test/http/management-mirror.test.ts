// GET /api/v1/mirror: the pull-through mirror's counters per upstream, for global administrators only,
// against an in-process Berth in token mode whose upstream is another in-process Berth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { pushImage } from '../support/fuzz-registry.js';

const ADMIN_PASSWORD = 'admin-password-1';
const basic = (name: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`,
});

describe('GET /api/v1/mirror', () => {
  let upstream: RunningBerth;
  let mirror: RunningBerth;

  beforeAll(async () => {
    upstream = await startBerth();
    await pushImage(upstream.url, 'library/app', 'v1');
    mirror = await startBerth(
      {
        auth: { mode: 'token' },
        mirror: { upstreams: [{ name: 'up', url: upstream.url, prefix: 'up' }] },
      },
      { adminPassword: ADMIN_PASSWORD },
    );
  });
  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  async function api(path: string, headers: Record<string, string>) {
    const res = await fetch(`${mirror.url}/api/v1${path}`, { headers });
    return { status: res.status, json: (await res.json()) as unknown };
  }

  it('shows each upstream with its counters after a pull through it', async () => {
    const token = await fetch(`${mirror.url}/auth/token?service=berth&scope=repository:up/library/app:pull`, {
      headers: basic('admin', ADMIN_PASSWORD),
    }).then(async (res) => ((await res.json()) as { token: string }).token);
    const pulled = await fetch(`${mirror.url}/v2/up/library/app/manifests/v1`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(pulled.status).toBe(200);
    await pulled.arrayBuffer();

    const res = await api('/mirror', basic('admin', ADMIN_PASSWORD));
    expect(res.status).toBe(200);
    const { upstreams } = res.json as { upstreams: Array<Record<string, unknown>> };
    expect(upstreams).toHaveLength(1);
    expect(upstreams[0]).toMatchObject({ upstream: 'up', misses: 1, cachedItems: 1 });
    expect(upstreams[0]?.bytesFromUpstream).toBeGreaterThan(0);
  });

  it('is refused to accounts that are not global administrators', async () => {
    const created = await fetch(`${mirror.url}/api/v1/users`, {
      method: 'POST',
      headers: { ...basic('admin', ADMIN_PASSWORD), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: 'alice-password-1' }),
    });
    expect(created.status).toBe(201);
    const res = await api('/mirror', basic('alice', 'alice-password-1'));
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ errors: [{ code: 'DENIED' }] });
    expect((await api('/mirror', {})).status).toBe(401);
  });
});
