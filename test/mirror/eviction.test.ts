// Eviction of cached content (issue 10, "Eviction"): over `eviction.maxBytes`, the least recently
// pulled content goes first and is fetched again on its next pull; a blob that a locally pushed image
// also uses keeps its bytes. The job runs every `mirror.evictionInterval` (200 ms here).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, sha256 } from '../support/fuzz.js';
import { waitFor } from '../support/http.js';
import {
  blobFile,
  getManifest,
  pushLayers,
  randomishBlob,
  sleep,
  startMirrorRig,
  streamGet,
  type MirrorRig,
  type PushedManifest,
  waitUntilLinked,
} from '../support/mirror.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const blobPath = (digest: string) => new RegExp(`/blobs/${escape(digest)}$`);
/** src/mirror/usage.ts writes last-pull times every 5 s. */
const USAGE_FLUSH_MS = 5_000;

async function pullAll(rig: MirrorRig, repo: string, image: PushedManifest): Promise<void> {
  const manifest = await getManifest(rig.mirror.url, repo, 'v1');
  expect(manifest.text).toBe(image.manifest);
  for (const blob of [image.config, ...image.layers]) {
    const got = await streamGet(rig.mirror.url, `/v2/${repo}/blobs/${sha256(blob)}`);
    expect(got.complete, got.error).toBe(true);
    expect(sha256(got.body)).toBe(sha256(blob));
    // Pulls count for eviction once the blob is linked (just after its last byte went out).
    await waitUntilLinked(rig.mirror.url, rig.proxy, repo, sha256(blob));
  }
}

describe('eviction over maxBytes', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig(
      { eviction: { maxBytes: 250_000 } },
      { mirror: { evictionInterval: '200ms' } },
    );
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('evicts the least recently pulled image first and fetches it again on its next pull', async () => {
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        pushLayers(rig.upstream.url, `lru/${name}`, 'v1', [randomishBlob(100_000, `lru ${name}`)]),
      ),
    );
    const layerOf = (image?: PushedManifest) => sha256(image?.layers[0] as Buffer);
    await pullAll(rig, 'up/lru/a', a as PushedManifest);
    await pullAll(rig, 'up/lru/b', b as PushedManifest);
    await sleep(100);
    // A again, so B becomes the least recently pulled; then wait for the pull times to be written.
    await pullAll(rig, 'up/lru/a', a as PushedManifest);
    await sleep(USAGE_FLUSH_MS + 300);
    expect(existsSync(blobFile(rig.mirror.dataDir, layerOf(b)))).toBe(true);

    await pullAll(rig, 'up/lru/c', c as PushedManifest);
    await waitFor('B to be evicted', () => !existsSync(blobFile(rig.mirror.dataDir, layerOf(b))));
    expect(existsSync(blobFile(rig.mirror.dataDir, layerOf(a)))).toBe(true);
    expect(existsSync(blobFile(rig.mirror.dataDir, layerOf(c)))).toBe(true);
    expect(rig.proxy.count('GET', blobPath(layerOf(a)))).toBe(1);
    expect(rig.proxy.count('GET', blobPath(layerOf(b)))).toBe(1);

    const tags = await send(rig.mirror.url, 'GET', '/v2/up/lru/b/tags/list');
    expect(tags.text).not.toContain('"v1"');
    await pullAll(rig, 'up/lru/b', b as PushedManifest);
    expect(rig.proxy.count('GET', blobPath(layerOf(b)))).toBe(2);
    expect(rig.proxy.count('GET', blobPath(layerOf(a)))).toBe(1);
  });
});

describe('reference-aware eviction', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig(
      { eviction: { maxBytes: 150_000 } },
      { mirror: { evictionInterval: '200ms' } },
    );
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('keeps the bytes of an evicted blob that a locally pushed image uses', async () => {
    const shared = randomishBlob(100_000, 'shared');
    const cached = await pushLayers(rig.upstream.url, 'ref/cached', 'v1', [shared]);
    await pullAll(rig, 'up/ref/cached', cached);
    // A local image with the same layer, pushed to the mirror (its bytes are already stored).
    const local = await pushLayers(rig.mirror.url, 'team/keeps', 'v1', [shared]);

    const next = await pushLayers(rig.upstream.url, 'ref/next', 'v1', [randomishBlob(100_000, 'next')]);
    await pullAll(rig, 'up/ref/next', next);
    await waitFor('the cached image to be evicted', async () => {
      const tags = await send(rig.mirror.url, 'GET', '/v2/up/ref/cached/tags/list');
      return !tags.text.includes('"v1"');
    });
    // Its blobs go in the same pass as its manifest; give that pass time to finish.
    await sleep(600);
    expect(existsSync(blobFile(rig.mirror.dataDir, sha256(cached.config)))).toBe(false);
    expect(existsSync(blobFile(rig.mirror.dataDir, sha256(shared)))).toBe(true);

    await pullAll(rig, 'team/keeps', local);
    // The cached repository lost its link: it asks the upstream whether it has the blob (HEAD), and
    // links the stored bytes without downloading them again.
    rig.proxy.reset();
    const again = await streamGet(rig.mirror.url, `/v2/up/ref/cached/blobs/${sha256(shared)}`);
    expect(sha256(again.body)).toBe(sha256(shared));
    expect(rig.proxy.requests).toEqual([`HEAD /v2/ref/cached/blobs/${sha256(shared)}`]);
  });
});
