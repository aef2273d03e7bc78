import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { pushImage } from '../support/fuzz-registry.js';
import { send, sha256 } from '../support/fuzz.js';

describe('mirror smoke', () => {
  let upstream: RunningBerth;
  let mirror: RunningBerth;
  beforeAll(async () => {
    upstream = await startBerth();
    mirror = await startBerth({
      mirror: { upstreams: [{ name: 'up', url: upstream.url, prefix: 'up', root: true, hosts: ['upstream.example'] }] },
      log: { level: 'info' },
    });
  });
  afterAll(async () => {
    await mirror?.stop();
    await upstream?.stop();
  });

  it('pulls through prefix, root and ns', async () => {
    const image = await pushImage(upstream.url, 'library/app', 'v1');
    for (const path of ['/v2/up/library/app/manifests/v1', '/v2/library/app/manifests/v1', '/v2/library/app/manifests/v1?ns=upstream.example']) {
      const res = await send(mirror.url, 'GET', path, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status, `${path}: ${res.text}`).toBe(200);
      expect(res.text).toBe(image.manifest);
    }
    const layer = await send(mirror.url, 'GET', `/v2/up/library/app/blobs/${sha256(image.layer)}`);
    expect(layer.status, layer.text).toBe(200);
    expect(sha256(layer.body)).toBe(sha256(image.layer));
    const again = await send(mirror.url, 'GET', `/v2/up/library/app/blobs/${sha256(image.layer)}`);
    expect(sha256(again.body)).toBe(sha256(image.layer));
    const push = await send(mirror.url, 'POST', '/v2/up/library/app/blobs/uploads/');
    expect(push.status).toBe(403);
    const local = await pushImage(mirror.url, 'team/app', 'v1');
    const got = await send(mirror.url, 'GET', '/v2/team/app/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(got.text).toBe(local.manifest);
  });
});
