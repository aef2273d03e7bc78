// Serving when the upstream is down (issue 10, "Serve stale"): cached tags are served while the
// upstream refuses connections, answers 503 or 429, or hangs, within `staleFor`; uncached content
// answers 503 UNAVAILABLE at once; the circuit breaker stops asking a failing upstream for a while.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Fault } from '../support/fault-proxy.js';
import { send, sha256 } from '../support/fuzz.js';
import { expectOciError } from '../support/http.js';
import {
  getManifest,
  pushLayers,
  randomishBlob,
  sleep,
  startMirrorRig,
  streamGet,
  type MirrorRig,
  type PushedManifest,
} from '../support/mirror.js';

const STALE_FOR_MS = 1500;

const downs: Array<[string, Fault]> = [
  ['answers 503', { kind: 'status', status: 503 }],
  ['refuses connections', { kind: 'refuse' }],
  ['answers 429', { kind: 'status', status: 429 }],
  ['does not answer within responseTimeout', { kind: 'hang' }],
];

describe('serve stale', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig({
      // Every request by tag asks the upstream, so every one meets the fault.
      tagFreshness: '1ms',
      staleFor: `${STALE_FOR_MS}ms`,
      failureThreshold: 1000,
      connectTimeout: '20s',
      responseTimeout: '400ms',
      idleTimeout: '20s',
    });
  });
  afterAll(async () => {
    await rig?.stop();
  });
  beforeEach(() => {
    rig.proxy.setFault({ kind: 'none' });
    rig.proxy.reset();
  });

  async function pullOnce(repo: string): Promise<PushedManifest> {
    const image = await pushLayers(rig.upstream.url, repo, 'v1', [randomishBlob(20_000, repo)]);
    const res = await getManifest(rig.mirror.url, `up/${repo}`, 'v1');
    expect(res.text).toBe(image.manifest);
    for (const blob of [image.config, ...image.layers]) {
      const got = await streamGet(rig.mirror.url, `/v2/up/${repo}/blobs/${sha256(blob)}`);
      expect(got.complete).toBe(true);
    }
    return image;
  }

  for (const [what, fault] of downs) {
    it(`serves a cached tag and its blobs when the upstream ${what}`, async () => {
      const repo = `stale/${fault.kind}${'status' in fault ? fault.status : ''}`;
      const image = await pullOnce(repo);
      rig.proxy.setFault(fault);
      const attemptsBefore = rig.proxy.attempts.length;
      const res = await getManifest(rig.mirror.url, `up/${repo}`, 'v1');
      expect(res.status, res.text).toBe(200);
      expect(res.text).toBe(image.manifest);
      expect(res.headers['docker-content-digest']).toBe(image.digest);
      const head = await send(rig.mirror.url, 'HEAD', `/v2/up/${repo}/manifests/v1`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(head.status).toBe(200);
      expect(head.headers['docker-content-digest']).toBe(image.digest);
      for (const blob of image.layers) {
        const got = await streamGet(rig.mirror.url, `/v2/up/${repo}/blobs/${sha256(blob)}`);
        expect(got.complete, got.error).toBe(true);
        expect(sha256(got.body)).toBe(sha256(blob));
      }
      // The upstream was asked (tagFreshness 1ms) and failed: the cache stood in for it.
      if (fault.kind !== 'refuse') expect(rig.proxy.attempts.length).toBeGreaterThan(attemptsBefore);
    });
  }

  it('answers 503 UNAVAILABLE for a cached tag last confirmed longer than staleFor ago', async () => {
    const image = await pullOnce('stale/expired');
    rig.proxy.setFault({ kind: 'status', status: 503 });
    expect((await getManifest(rig.mirror.url, 'up/stale/expired', 'v1')).status).toBe(200);
    await sleep(STALE_FOR_MS + 200);
    const res = await getManifest(rig.mirror.url, 'up/stale/expired', 'v1');
    expectOciError(res, 503, 'UNAVAILABLE');
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    // Content by digest is immutable: still served.
    const byDigest = await getManifest(rig.mirror.url, 'up/stale/expired', image.digest);
    expect(byDigest.status).toBe(200);
    expect(byDigest.text).toBe(image.manifest);
    // Once the upstream is back the tag is confirmed and served again.
    rig.proxy.setFault({ kind: 'none' });
    expect((await getManifest(rig.mirror.url, 'up/stale/expired', 'v1')).text).toBe(image.manifest);
  });

  for (const [what, fault] of downs.slice(0, 3)) {
    it(`answers uncached content with 503 UNAVAILABLE and Retry-After at once when the upstream ${what}`, async () => {
      const image = await pushLayers(rig.upstream.url, `cold/${fault.kind}`, 'v1', [
        randomishBlob(1000, 'x'),
      ]);
      rig.proxy.setFault(fault);
      const paths = [
        `/v2/up/cold/${fault.kind}/manifests/v1`,
        `/v2/up/cold/${fault.kind}/manifests/${image.digest}`,
        `/v2/up/cold/${fault.kind}/blobs/${sha256(image.layers[0] as Buffer)}`,
      ];
      for (const path of paths) {
        const started = Date.now();
        const res = await send(rig.mirror.url, 'GET', path, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        const took = Date.now() - started;
        expectOciError(res, 503, 'UNAVAILABLE');
        expect(res.headers['retry-after'], path).toMatch(/^\d+$/);
        // The timeouts are 20 s (connect) and 400 ms (response): an answer in well under both.
        expect(took, `${path} took ${took} ms`).toBeLessThan(350);
      }
    });
  }

  it('answers uncached content with 503 UNAVAILABLE once responseTimeout passes when the upstream hangs', async () => {
    rig.proxy.setFault({ kind: 'hang' });
    const started = Date.now();
    const res = await getManifest(rig.mirror.url, 'up/cold/hang', 'v1');
    expectOciError(res, 503, 'UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('circuit breaker', () => {
  const COOLDOWN_MS = 1000;
  let rig: MirrorRig;
  let cached: PushedManifest;
  beforeAll(async () => {
    rig = await startMirrorRig({
      tagFreshness: '1ms',
      failureThreshold: 3,
      failureCooldown: `${COOLDOWN_MS}ms`,
    });
    cached = await pushLayers(rig.upstream.url, 'cb/cached', 'v1', [randomishBlob(100, 'cb')]);
    expect((await getManifest(rig.mirror.url, 'up/cb/cached', 'v1')).status).toBe(200);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  const missing = (n: number) => sha256(`not there ${n} ${Math.random()}`);

  it('stops asking after failureThreshold failures until failureCooldown passes, then lets one trial through', async () => {
    const fresh = await pushLayers(rig.upstream.url, 'cb/fresh', 'v1', [randomishBlob(100, 'fresh')]);
    rig.proxy.reset();
    rig.proxy.setFault({ kind: 'status', status: 503 });
    for (let i = 0; i < 3; i++) {
      expectOciError(await getManifest(rig.mirror.url, 'up/cb/app', missing(i)), 503, 'UNAVAILABLE');
    }
    expect(rig.proxy.attempts).toHaveLength(3);

    // Open: nothing reaches the upstream, answers come at once and say when to come back.
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const res = await getManifest(rig.mirror.url, 'up/cb/app', missing(10 + i));
      expectOciError(res, 503, 'UNAVAILABLE');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Date.now() - started).toBeLessThan(500);
    }
    const blob = await send(rig.mirror.url, 'GET', `/v2/up/cb/app/blobs/${missing(20)}`);
    expectOciError(blob, 503, 'UNAVAILABLE');
    expect(rig.proxy.attempts).toHaveLength(3);

    // Cached tags are still served while the breaker is open.
    const stale = await getManifest(rig.mirror.url, 'up/cb/cached', 'v1');
    expect(stale.status, stale.text).toBe(200);
    expect(stale.text).toBe(cached.manifest);
    expect(rig.proxy.attempts).toHaveLength(3);

    // After the cooldown one trial goes through; it fails, so the breaker opens again.
    await sleep(COOLDOWN_MS + 100);
    expectOciError(await getManifest(rig.mirror.url, 'up/cb/app', missing(30)), 503, 'UNAVAILABLE');
    expect(rig.proxy.attempts).toHaveLength(4);
    expectOciError(await getManifest(rig.mirror.url, 'up/cb/app', missing(31)), 503, 'UNAVAILABLE');
    expect(rig.proxy.attempts).toHaveLength(4);

    // After the next cooldown the upstream is back: the trial succeeds and the breaker closes.
    await sleep(COOLDOWN_MS + 100);
    rig.proxy.setFault({ kind: 'none' });
    const back = await getManifest(rig.mirror.url, 'up/cb/fresh', 'v1');
    expect(back.status, back.text).toBe(200);
    expect(back.text).toBe(fresh.manifest);
    const layer = await streamGet(
      rig.mirror.url,
      `/v2/up/cb/fresh/blobs/${sha256(fresh.layers[0] as Buffer)}`,
    );
    expect(layer.complete, layer.error).toBe(true);
    expect(rig.proxy.count('GET', /\/blobs\//)).toBe(1);
  });

  it('counts an answer such as 404 as the upstream working', async () => {
    // Closed again after the previous test; 404s do not open it.
    rig.proxy.reset();
    for (let i = 0; i < 5; i++) {
      expectOciError(
        await getManifest(rig.mirror.url, 'up/cb/app', missing(100 + i)),
        404,
        'MANIFEST_UNKNOWN',
      );
    }
    expect(rig.proxy.requests).toHaveLength(5);
  });
});
