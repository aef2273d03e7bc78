// Tag freshness (issue 10, "Freshness"): a tag is confirmed upstream at most once per
// `tagFreshness`; content by digest is immutable and never asked for again; a tag moved upstream
// is seen once the interval has passed.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { send } from '../support/fuzz.js';
import {
  getManifest,
  OCI_MANIFEST,
  pushLayers,
  randomishBlob,
  sleep,
  startMirrorRig,
  type MirrorRig,
} from '../support/mirror.js';

describe('tag freshness of an hour', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig({ tagFreshness: '1h' });
  });
  afterAll(async () => {
    await rig?.stop();
  });
  beforeEach(() => rig.proxy.reset());

  it('asks the upstream about a tag once for repeated GETs and HEADs of it', async () => {
    const image = await pushLayers(rig.upstream.url, 'fresh/app', 'v1', [randomishBlob(500, 'f1')]);
    rig.proxy.reset();
    for (let i = 0; i < 5; i++) {
      const res = await getManifest(rig.mirror.url, 'up/fresh/app', 'v1');
      expect(res.status, res.text).toBe(200);
      expect(res.text).toBe(image.manifest);
      const head = await send(rig.mirror.url, 'HEAD', '/v2/up/fresh/app/manifests/v1', {
        headers: { Accept: OCI_MANIFEST },
      });
      expect(head.headers['docker-content-digest']).toBe(image.digest);
    }
    expect(rig.proxy.requests).toEqual([
      'HEAD /v2/fresh/app/manifests/v1',
      `GET /v2/fresh/app/manifests/${image.digest}`,
    ]);
  });

  it('never asks the upstream again about content by digest', async () => {
    const image = await pushLayers(rig.upstream.url, 'fresh/bydigest', 'v1', [randomishBlob(500, 'f2')]);
    rig.proxy.reset();
    for (let i = 0; i < 5; i++) {
      const res = await getManifest(rig.mirror.url, 'up/fresh/bydigest', image.digest);
      expect(res.text).toBe(image.manifest);
    }
    expect(rig.proxy.requests).toEqual([`GET /v2/fresh/bydigest/manifests/${image.digest}`]);
  });

  it('keeps serving what it confirmed when the tag moves upstream within the interval', async () => {
    const first = await pushLayers(rig.upstream.url, 'fresh/moving', 'v1', [randomishBlob(500, 'm1')]);
    expect((await getManifest(rig.mirror.url, 'up/fresh/moving', 'v1')).text).toBe(first.manifest);
    await pushLayers(rig.upstream.url, 'fresh/moving', 'v1', [randomishBlob(500, 'm2')]);
    rig.proxy.reset();
    expect((await getManifest(rig.mirror.url, 'up/fresh/moving', 'v1')).text).toBe(first.manifest);
    expect(rig.proxy.requests).toEqual([]);
  });
});

describe('tag freshness of 300 ms', () => {
  const FRESHNESS_MS = 300;
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig({ tagFreshness: `${FRESHNESS_MS}ms` });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('sees a tag moved upstream once the interval has passed, and keeps the old manifest by digest', async () => {
    const first = await pushLayers(rig.upstream.url, 'move/app', 'v1', [randomishBlob(500, 'a')]);
    expect((await getManifest(rig.mirror.url, 'up/move/app', 'v1')).text).toBe(first.manifest);
    const second = await pushLayers(rig.upstream.url, 'move/app', 'v1', [randomishBlob(500, 'b')]);
    rig.proxy.reset();
    expect((await getManifest(rig.mirror.url, 'up/move/app', 'v1')).text).toBe(first.manifest);
    expect(rig.proxy.requests).toEqual([]);

    await sleep(FRESHNESS_MS + 100);
    const moved = await getManifest(rig.mirror.url, 'up/move/app', 'v1');
    expect(moved.text).toBe(second.manifest);
    expect(moved.headers['docker-content-digest']).toBe(second.digest);
    expect(rig.proxy.requests).toEqual([
      'HEAD /v2/move/app/manifests/v1',
      `GET /v2/move/app/manifests/${second.digest}`,
    ]);

    rig.proxy.reset();
    expect((await getManifest(rig.mirror.url, 'up/move/app', first.digest)).text).toBe(first.manifest);
    expect((await getManifest(rig.mirror.url, 'up/move/app', 'v1')).text).toBe(second.manifest);
    expect(rig.proxy.requests).toEqual([]);
  });

  it('confirms an unchanged tag with one HEAD per interval and no GET', async () => {
    const image = await pushLayers(rig.upstream.url, 'move/steady', 'v1', [randomishBlob(500, 's')]);
    expect((await getManifest(rig.mirror.url, 'up/move/steady', 'v1')).text).toBe(image.manifest);
    rig.proxy.reset();
    await sleep(FRESHNESS_MS + 100);
    for (let i = 0; i < 3; i++) {
      expect((await getManifest(rig.mirror.url, 'up/move/steady', 'v1')).text).toBe(image.manifest);
    }
    expect(rig.proxy.requests).toEqual(['HEAD /v2/move/steady/manifests/v1']);
  });

  it('goes back to a tag moved upstream to a manifest it already holds without fetching it again', async () => {
    const a = await pushLayers(rig.upstream.url, 'move/back', 'v1', [randomishBlob(500, 'back-a')]);
    expect((await getManifest(rig.mirror.url, 'up/move/back', 'v1')).text).toBe(a.manifest);
    const b = await pushLayers(rig.upstream.url, 'move/back', 'v1', [randomishBlob(500, 'back-b')]);
    await sleep(FRESHNESS_MS + 100);
    expect((await getManifest(rig.mirror.url, 'up/move/back', 'v1')).text).toBe(b.manifest);
    // Back to the first manifest, by pushing its bytes again as v1.
    const put = await send(rig.upstream.url, 'PUT', '/v2/move/back/manifests/v1', {
      headers: { 'Content-Type': OCI_MANIFEST },
      body: a.manifest,
    });
    expect(put.status).toBe(201);
    await sleep(FRESHNESS_MS + 100);
    rig.proxy.reset();
    const res = await getManifest(rig.mirror.url, 'up/move/back', 'v1');
    expect(res.text).toBe(a.manifest);
    expect(rig.proxy.requests).toEqual(['HEAD /v2/move/back/manifests/v1']);
  });
});
