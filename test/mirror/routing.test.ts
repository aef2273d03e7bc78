// Which names are proxied and which are local (issue 10, "Three ways to address upstreams" and
// "Local pushes beside cached names"): prefixes, the root upstream, containerd's ?ns=, blob HEADs,
// and pushes refused on proxied names but accepted elsewhere.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { send, sha256 } from '../support/fuzz.js';
import { existsSync } from 'node:fs';
import { expectOciError, waitFor } from '../support/http.js';
import {
  blobFile,
  getManifest,
  OCI_MANIFEST,
  pushBlob,
  pushLayers,
  randomishBlob,
  startMirrorRig,
  streamGet,
  type MirrorRig,
} from '../support/mirror.js';

describe('proxied and local names', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig({ prefix: 'up', root: true });
  });
  afterAll(async () => {
    await rig?.stop();
  });
  beforeEach(() => rig.proxy.reset());

  it('answers HEAD of an uncached blob with its size from the upstream, without fetching it', async () => {
    const layer = randomishBlob(123_457, 'head');
    await pushLayers(rig.upstream.url, 'names/head', 'v1', [layer]);
    rig.proxy.reset();
    const head = await send(rig.mirror.url, 'HEAD', `/v2/up/names/head/blobs/${sha256(layer)}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(layer.length));
    expect(head.headers['docker-content-digest']).toBe(sha256(layer));
    expect(rig.proxy.requests).toEqual([`HEAD /v2/names/head/blobs/${sha256(layer)}`]);
    const unknown = await send(rig.mirror.url, 'HEAD', `/v2/up/names/head/blobs/${sha256('nothing')}`);
    expect(unknown.status).toBe(404);
    expectOciError(
      await send(rig.mirror.url, 'GET', `/v2/up/names/head/blobs/${sha256('nothing')}`),
      404,
      'BLOB_UNKNOWN',
    );
    expectOciError(await getManifest(rig.mirror.url, 'up/names/head', 'nope'), 404, 'MANIFEST_UNKNOWN');
  });

  it('refuses pushes to a proxied name with 403 DENIED and a message, and stores nothing', async () => {
    const local = await pushLayers(rig.mirror.url, 'team/source', 'v1', [randomishBlob(300, 'src')]);
    const layer = sha256(local.layers[0] as Buffer);
    const attempts = [
      await send(rig.mirror.url, 'POST', '/v2/up/names/pushed/blobs/uploads/'),
      await pushBlob(rig.mirror.url, 'up/names/pushed', randomishBlob(100, 'mono')),
      await send(
        rig.mirror.url,
        'POST',
        `/v2/up/names/pushed/blobs/uploads/?mount=${layer}&from=team/source`,
      ),
      await send(rig.mirror.url, 'PUT', '/v2/up/names/pushed/manifests/v1', {
        headers: { 'Content-Type': OCI_MANIFEST },
        body: local.manifest,
      }),
    ];
    for (const res of attempts) {
      const error = expectOciError(res, 403, 'DENIED');
      expect(JSON.stringify(error.detail)).toMatch(
        /up\/names\/pushed is a cache of upstream registry \\"up\\"/,
      );
    }
    expect(rig.proxy.requests).toEqual([]);
    expectOciError(await send(rig.mirror.url, 'GET', '/v2/up/names/pushed/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('says why a push to a proxied name is refused in the message that docker prints', async () => {
    // docker and containerd print an error's code and message ("denied: <message>"), not its detail:
    // issue 10 asks for "a clear DENIED or UNSUPPORTED message".
    const res = await send(rig.mirror.url, 'POST', '/v2/up/names/pushed/blobs/uploads/');
    const error = expectOciError(res, 403, 'DENIED');
    expect(error.message).toMatch(/cache|mirror|upstream/);
  });

  it('accepts pushes to names outside the prefixes and serves them locally', async () => {
    const image = await pushLayers(rig.mirror.url, 'team/app', 'v1', [randomishBlob(2000, 'team')]);
    const got = await getManifest(rig.mirror.url, 'team/app', 'v1');
    expect(got.text).toBe(image.manifest);
    const layer = await streamGet(rig.mirror.url, `/v2/team/app/blobs/${sha256(image.layers[0] as Buffer)}`);
    expect(sha256(layer.body)).toBe(sha256(image.layers[0] as Buffer));
    // Mounting a cached blob into a local name is a local push: allowed.
    const cached = await pushLayers(rig.upstream.url, 'names/mountable', 'v1', [randomishBlob(400, 'mnt')]);
    const cachedLayer = sha256(cached.layers[0] as Buffer);
    const pulled = await streamGet(rig.mirror.url, `/v2/up/names/mountable/blobs/${cachedLayer}`);
    expect(pulled.complete).toBe(true);
    // The blob is linked to its repository just after its last byte went out.
    await waitFor('the cached blob to be stored', () =>
      existsSync(blobFile(rig.mirror.dataDir, cachedLayer)),
    );
    await waitFor('a mount from the cached repository', async () => {
      const mount = await send(
        rig.mirror.url,
        'POST',
        `/v2/team/mounted/blobs/uploads/?mount=${cachedLayer}&from=up/names/mountable`,
      );
      return mount.status === 201;
    });
    expect(rig.proxy.requests.filter((r) => r.includes('/team/'))).toEqual([]);
  });

  it('serves names not pushed locally from the root upstream, and keeps locally pushed names local', async () => {
    const upstreamImage = await pushLayers(rig.upstream.url, 'library/rooted', 'v1', [
      randomishBlob(700, 'r'),
    ]);
    const viaRoot = await getManifest(rig.mirror.url, 'library/rooted', 'v1');
    expect(viaRoot.status, viaRoot.text).toBe(200);
    expect(viaRoot.text).toBe(upstreamImage.manifest);
    const blob = await streamGet(
      rig.mirror.url,
      `/v2/library/rooted/blobs/${sha256(upstreamImage.layers[0] as Buffer)}`,
    );
    expect(sha256(blob.body)).toBe(sha256(upstreamImage.layers[0] as Buffer));
    expect(rig.proxy.count('GET', /^\/v2\/library\/rooted\/blobs\//)).toBe(1);
    // A cached root name is proxied now: pushes to it are refused.
    expectOciError(await send(rig.mirror.url, 'POST', '/v2/library/rooted/blobs/uploads/'), 403, 'DENIED');

    // The same name upstream and pushed locally: the local one wins, the upstream is not asked.
    await pushLayers(rig.upstream.url, 'team/shadow', 'v1', [randomishBlob(700, 'upstream shadow')]);
    const local = await pushLayers(rig.mirror.url, 'team/shadow', 'v1', [randomishBlob(700, 'local shadow')]);
    rig.proxy.reset();
    const got = await getManifest(rig.mirror.url, 'team/shadow', 'v1');
    expect(got.text).toBe(local.manifest);
    expectOciError(await getManifest(rig.mirror.url, 'team/shadow', 'other'), 404, 'MANIFEST_UNKNOWN');
    expect(rig.proxy.requests).toEqual([]);
  });
});

describe("containerd's ?ns= among two upstreams", () => {
  let upstreamA: RunningBerth;
  let upstreamB: RunningBerth;
  let proxyA: FaultProxy;
  let proxyB: FaultProxy;
  let mirror: RunningBerth;
  beforeAll(async () => {
    upstreamA = await startBerth();
    upstreamB = await startBerth();
    proxyA = await startFaultProxy(upstreamA.url);
    proxyB = await startFaultProxy(upstreamB.url);
    mirror = await startBerth({
      mirror: {
        upstreams: [
          { name: 'a', prefix: 'a', url: proxyA.url, hosts: ['reg-a.example', 'alias-a.example'] },
          // No hosts: ?ns= names it by its own host:port.
          { name: 'b', prefix: 'b', url: proxyB.url },
        ],
      },
    });
  });
  afterAll(async () => {
    await mirror?.stop();
    await proxyA?.stop();
    await proxyB?.stop();
    await upstreamA?.stop();
    await upstreamB?.stop();
  });

  it('routes ?ns=<host> to the upstream serving that host and answers OCI-Namespace', async () => {
    const a = await pushLayers(upstreamA.url, 'org/app', 'v1', [randomishBlob(900, 'from a')]);
    const b = await pushLayers(upstreamB.url, 'org/app', 'v1', [randomishBlob(900, 'from b')]);
    const hostB = new URL(proxyB.url).host;
    for (const [ns, image] of [
      ['reg-a.example', a],
      ['ALIAS-A.example', a],
      [hostB, b],
    ] as const) {
      const res = await getManifest(mirror.url, 'org/app', 'v1', `?ns=${ns}`);
      expect(res.status, `${ns}: ${res.text}`).toBe(200);
      expect(res.text).toBe(image.manifest);
      expect(res.headers['oci-namespace']).toBe(ns);
      const layer = await streamGet(
        mirror.url,
        `/v2/org/app/blobs/${sha256(image.layers[0] as Buffer)}?ns=${ns}`,
      );
      expect(layer.status).toBe(200);
      expect(layer.headers['oci-namespace']).toBe(ns);
      expect(sha256(layer.body)).toBe(sha256(image.layers[0] as Buffer));
    }
    expect(proxyA.count('GET', /^\/v2\/org\/app\/manifests\//)).toBe(1);
    expect(proxyB.count('GET', /^\/v2\/org\/app\/manifests\//)).toBe(1);
    // Filed under the upstream's prefix: the same content by prefix comes from the cache.
    proxyA.reset();
    const byPrefix = await getManifest(mirror.url, 'a/org/app', 'v1');
    expect(byPrefix.text).toBe(a.manifest);
    expect(byPrefix.headers['oci-namespace']).toBeUndefined();
    expect(proxyA.requests).toEqual([]);
  });

  it('treats an unknown ns as an ordinary local request', async () => {
    const local = await pushLayers(mirror.url, 'org/app', 'v1', [randomishBlob(900, 'local')]);
    proxyA.reset();
    proxyB.reset();
    const res = await getManifest(mirror.url, 'org/app', 'v1', '?ns=unknown.example');
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe(local.manifest);
    expect(res.headers['oci-namespace']).toBeUndefined();
    expectOciError(await getManifest(mirror.url, 'org/other', 'v1', '?ns=unknown.example'), 404, [
      'NAME_UNKNOWN',
      'MANIFEST_UNKNOWN',
    ]);
    expect([...proxyA.requests, ...proxyB.requests]).toEqual([]);
  });
});
