// Multi-arch images through the mirror (issue 10, "Multi-arch"): the index and the children pulled
// are cached with their bytes and digests unchanged; the index can be pulled by digest; nothing is
// converted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, sha256 } from '../support/fuzz.js';
import {
  getManifest,
  OCI_INDEX,
  OCI_MANIFEST,
  pushIndex,
  pushLayers,
  randomishBlob,
  startMirrorRig,
  streamGet,
  type MirrorRig,
  type PushedManifest,
} from '../support/mirror.js';

/** Children are pushed under throwaway tags: only the index is tagged v1 upstream. */
let children = 0;
const childTag = () => `child-${++children}`;

describe('multi-arch images', () => {
  let rig: MirrorRig;
  let amd64: PushedManifest;
  let arm64: PushedManifest;
  let index: { index: string; digest: string };
  beforeAll(async () => {
    rig = await startMirrorRig();
    const amd = { architecture: 'amd64', os: 'linux' };
    const arm = { architecture: 'arm64', os: 'linux' };
    amd64 = await pushLayers(rig.upstream.url, 'multi/app', childTag(), [randomishBlob(5000, 'amd')], {
      platform: amd,
    });
    arm64 = await pushLayers(rig.upstream.url, 'multi/app', childTag(), [randomishBlob(5000, 'arm')], {
      platform: arm,
    });
    index = await pushIndex(rig.upstream.url, 'multi/app', 'v1', [
      { manifest: amd64, platform: amd },
      { manifest: arm64, platform: arm },
    ]);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('serves the index by tag, then its children by digest, byte for byte', async () => {
    const byTag = await getManifest(rig.mirror.url, 'up/multi/app', 'v1');
    expect(byTag.status, byTag.text).toBe(200);
    expect(byTag.text).toBe(index.index);
    expect(byTag.headers['content-type']).toBe(OCI_INDEX);
    expect(byTag.headers['docker-content-digest']).toBe(index.digest);
    const listed = (JSON.parse(byTag.text) as { manifests: Array<{ digest: string }> }).manifests;
    expect(listed.map((m) => m.digest)).toEqual([amd64.digest, arm64.digest]);

    for (const child of [amd64, arm64]) {
      const res = await getManifest(rig.mirror.url, 'up/multi/app', child.digest);
      expect(res.status, res.text).toBe(200);
      expect(res.text).toBe(child.manifest);
      expect(sha256(res.body)).toBe(child.digest);
      expect(res.headers['docker-content-digest']).toBe(child.digest);
      expect(res.headers['content-type']).toBe(OCI_MANIFEST);
      for (const blob of [child.config, ...child.layers]) {
        const got = await streamGet(rig.mirror.url, `/v2/up/multi/app/blobs/${sha256(blob)}`);
        expect(sha256(got.body)).toBe(sha256(blob));
      }
    }
  });

  it('serves the index by digest, also to a client that asks by digest first', async () => {
    const res = await getManifest(rig.mirror.url, 'up/multi/app', index.digest);
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe(index.index);
    expect(res.headers['docker-content-digest']).toBe(index.digest);
    const head = await send(rig.mirror.url, 'HEAD', `/v2/up/multi/app/manifests/${index.digest}`, {
      headers: { Accept: OCI_INDEX },
    });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(index.index)));

    // Another repository whose index was never pulled by tag: by digest straight away.
    const other = await pushIndex(rig.upstream.url, 'multi/other', 'v1', []);
    const cold = await getManifest(rig.mirror.url, 'up/multi/other', other.digest);
    expect(cold.status, cold.text).toBe(200);
    expect(cold.text).toBe(other.index);
  });

  it('fetches the index and each child once', () => {
    expect(rig.proxy.count('GET', /^\/v2\/multi\/app\/manifests\//)).toBe(3);
  });
});
