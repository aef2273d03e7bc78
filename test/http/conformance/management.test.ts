// OCI distribution-spec conformance, workflow 4 (Content Management): untagging, deleting manifests
// and blobs, and a registry with deletes disabled.
import { describe, expect, it } from 'vitest';
import {
  type Descriptor,
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  explain,
  expectError,
  imageManifest,
  json,
  pushImage,
  randomBlob,
  sha256,
  uniqueRepo,
} from './support/client.js';
import { EXTERNAL_URL, useRegistry } from './support/registry.js';

interface TagList {
  name: string;
  tags: string[] | null;
}

describe('management: deletes enabled', () => {
  const reg = useRegistry();

  async function tagsOf(repo: string): Promise<string[]> {
    const res = await reg.client.get(`/v2/${repo}/tags/list`);
    expect(res.status, explain(res)).toBe(200);
    return json<TagList>(res).tags ?? [];
  }

  it('DELETE of a tag answers 202; the tag is gone, the manifest stays pullable by digest', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-tag');
    const img = await pushImage(c, repo, 'doomed');
    await c.putManifest(repo, 'keeper', img.manifest, MT.ociManifest);
    const res = await c.delete(`/v2/${repo}/manifests/doomed`);
    expect(res.status, explain(res)).toBe(202);
    expectError(await c.getManifest(repo, 'doomed'), 404, 'MANIFEST_UNKNOWN');
    const byDigest = await c.getManifest(repo, img.digest);
    expect(byDigest.status, explain(byDigest)).toBe(200);
    expect(byDigest.body.equals(img.manifest)).toBe(true);
    expect((await c.getManifest(repo, 'keeper')).status).toBe(200);
    expect(await tagsOf(repo)).toEqual(['keeper']);
  });

  it('DELETE of a manifest by digest answers 202; it and every tag on it answer 404', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-manifest');
    const img = await pushImage(c, repo, 'one');
    await c.putManifest(repo, 'two', img.manifest, MT.ociManifest);
    await pushImage(c, repo, 'survivor');
    const res = await c.delete(`/v2/${repo}/manifests/${img.digest}`);
    expect(res.status, explain(res)).toBe(202);
    expectError(await c.getManifest(repo, img.digest), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.getManifest(repo, 'one'), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.getManifest(repo, 'two'), 404, 'MANIFEST_UNKNOWN');
    const head = await c.head(`/v2/${repo}/manifests/${img.digest}`);
    expect(head.status, explain(head)).toBe(404);
    expect(await tagsOf(repo)).toEqual(['survivor']);
  });

  it('DELETE of an unknown manifest digest answers 404 MANIFEST_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-manifest-404');
    await pushImage(c, repo, 'v1');
    expectError(await c.delete(`/v2/${repo}/manifests/${sha256(randomBlob())}`), 404, 'MANIFEST_UNKNOWN');
  });

  it('DELETE of an unknown tag answers 404 MANIFEST_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-tag-404');
    await pushImage(c, repo, 'v1');
    expectError(await c.delete(`/v2/${repo}/manifests/nosuchtag`), 404, 'MANIFEST_UNKNOWN');
  });

  it('DELETE of a blob answers 202; GET and HEAD then answer 404', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-blob');
    const digest = await c.pushBlob(repo, randomBlob());
    const keep = await c.pushBlob(repo, randomBlob());
    const res = await c.delete(`/v2/${repo}/blobs/${digest}`);
    expect(res.status, explain(res)).toBe(202);
    expectError(await c.get(`/v2/${repo}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expect((await c.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
    expect((await c.get(`/v2/${repo}/blobs/${keep}`)).status).toBe(200);
  });

  it('DELETE of an unknown blob answers 404 BLOB_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-blob-404');
    await c.pushBlob(repo, randomBlob());
    expectError(await c.delete(`/v2/${repo}/blobs/${sha256(randomBlob())}`), 404, 'BLOB_UNKNOWN');
  });

  it('deleting a blob in one repository leaves the same blob in another repository intact', async () => {
    const c = reg.client;
    const a = uniqueRepo('del-shared-a');
    const b = uniqueRepo('del-shared-b');
    const data = randomBlob(64);
    const digest = await c.pushBlob(a, data);
    await c.pushBlob(b, data);
    expect((await c.delete(`/v2/${a}/blobs/${digest}`)).status).toBe(202);
    const res = await c.get(`/v2/${b}/blobs/${digest}`);
    expect(res.status, explain(res)).toBe(200);
    expect(res.body.equals(data)).toBe(true);
  });

  it('a deleted referrer disappears from the referrers list', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-referrer');
    const subject = await pushImage(c, repo, 'v1');
    await c.pushBlob(repo, EMPTY_JSON);
    const empty: Descriptor = { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };
    const mk = (n: string) =>
      imageManifest({
        artifactType: 'application/vnd.example.sig.v1',
        config: empty,
        layers: [empty],
        subject: subject.descriptor,
        annotations: { n },
      });
    const keep = mk('keep');
    const drop = mk('drop');
    await c.putManifest(repo, sha256(keep), keep, MT.ociManifest);
    await c.putManifest(repo, sha256(drop), drop, MT.ociManifest);
    const before = await c.get(`/v2/${repo}/referrers/${subject.digest}`);
    expect(before.status, explain(before)).toBe(200);
    expect(json<{ manifests: Descriptor[] }>(before).manifests.length, explain(before)).toBe(2);
    expect((await c.delete(`/v2/${repo}/manifests/${sha256(drop)}`)).status).toBe(202);
    const after = await c.get(`/v2/${repo}/referrers/${subject.digest}`);
    expect(after.status, explain(after)).toBe(200);
    expect(
      json<{ manifests: Descriptor[] }>(after).manifests.map((m) => m.digest),
      explain(after),
    ).toEqual([sha256(keep)]);
  });

  it('deleting a subject leaves its referrers listed (they still name it)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('del-subject');
    const subject = await pushImage(c, repo, 'v1');
    await c.pushBlob(repo, EMPTY_JSON);
    const empty: Descriptor = { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };
    const referrer = imageManifest({
      artifactType: 'application/vnd.example.sig.v1',
      config: empty,
      layers: [empty],
      subject: subject.descriptor,
    });
    await c.putManifest(repo, sha256(referrer), referrer, MT.ociManifest);
    expect((await c.delete(`/v2/${repo}/manifests/${subject.digest}`)).status).toBe(202);
    const res = await c.get(`/v2/${repo}/referrers/${subject.digest}`);
    expect(res.status, explain(res)).toBe(200);
    expect(
      json<{ manifests: Descriptor[] }>(res).manifests.map((m) => m.digest),
      explain(res),
    ).toEqual([sha256(referrer)]);
  });
});

// Deletes disabled needs a registry configured that way: Berth started with the option, or (for checking
// this file against another registry) one given in REGISTRY_NODELETE_URL. Skipped with REGISTRY_URL alone.
const NODELETE_URL = process.env.REGISTRY_NODELETE_URL?.replace(/\/+$/, '') || undefined;

describe.skipIf(EXTERNAL_URL !== undefined && NODELETE_URL === undefined)(
  'management: deletes disabled',
  () => {
    const reg = useRegistry({ storage: { delete: { enabled: false } } }, NODELETE_URL ?? null);

    it('DELETE of a manifest by digest answers 405 UNSUPPORTED and the manifest stays', async () => {
      const c = reg.client;
      const repo = uniqueRepo('nodel-manifest');
      const img = await pushImage(c, repo, 'v1');
      expectError(await c.delete(`/v2/${repo}/manifests/${img.digest}`), 405, 'UNSUPPORTED');
      expect((await c.getManifest(repo, img.digest)).status).toBe(200);
      expect((await c.getManifest(repo, 'v1')).status).toBe(200);
    });

    it('DELETE of a tag answers 405 UNSUPPORTED and the tag stays', async () => {
      const c = reg.client;
      const repo = uniqueRepo('nodel-tag');
      await pushImage(c, repo, 'v1');
      expectError(await c.delete(`/v2/${repo}/manifests/v1`), 405, 'UNSUPPORTED');
      expect((await c.getManifest(repo, 'v1')).status).toBe(200);
    });

    it('DELETE of a blob answers 405 UNSUPPORTED and the blob stays', async () => {
      const c = reg.client;
      const repo = uniqueRepo('nodel-blob');
      const digest = await c.pushBlob(repo, randomBlob());
      expectError(await c.delete(`/v2/${repo}/blobs/${digest}`), 405, 'UNSUPPORTED');
      expect((await c.get(`/v2/${repo}/blobs/${digest}`)).status).toBe(200);
    });

    it('cancelling an upload (DELETE of an upload session) still works: 204', async () => {
      const c = reg.client;
      const repo = uniqueRepo('nodel-upload');
      const location = await c.startUpload(repo);
      const res = await c.request('DELETE', location);
      expect(res.status, explain(res)).toBe(204);
    });
  },
);
