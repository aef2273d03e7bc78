// OCI distribution-spec conformance, workflow 2 (Push), manifest half: PUT by tag and digest, every
// manifest type a registry meets (OCI image/index/artifact, Docker schema2/list), `subject` handling,
// and the rejections: digest mismatch, unknown blobs, invalid JSON, oversize, schema1.
import { describe, expect, it } from 'vitest';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  descriptorOf,
  explain,
  expectError,
  imageIndex,
  imageManifest,
  pushImage,
  randomBlob,
  sha256,
  uniqueRepo,
} from './support/client.js';
import { useRegistry } from './support/registry.js';

const reg = useRegistry();

async function expectPulled(repo: string, ref: string, body: Buffer, mediaType: string): Promise<void> {
  const res = await reg.client.getManifest(repo, ref);
  expect(res.status, explain(res)).toBe(200);
  expect(res.headers.get('content-type'), explain(res)).toBe(mediaType);
  expect(res.headers.get('docker-content-digest'), explain(res)).toBe(sha256(body));
  expect(res.body.equals(body), explain(res)).toBe(true);
}

describe('push: manifest upload', () => {
  it('PUT by tag answers 201 with a pullable Location and Docker-Content-Digest', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-tag');
    const config = await c.pushBlob(repo, EMPTY_JSON);
    const manifest = imageManifest({ config: { mediaType: MT.ociEmpty, digest: config, size: 2 } });
    const res = await c.pushManifest(repo, 'v1', manifest, MT.ociManifest);
    expect(res.status, explain(res)).toBe(201);
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(sha256(manifest));
    const location = res.headers.get('location');
    expect(location, explain(res)).toBeTruthy();
    const pulled = await c.get(location ?? '', { Accept: MT.ociManifest });
    expect(pulled.status, explain(pulled)).toBe(200);
    expect(pulled.body.equals(manifest), explain(pulled)).toBe(true);
  });

  it('PUT by digest answers 201 with Location and Docker-Content-Digest', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-digest');
    const layerBytes = randomBlob(50);
    await c.pushBlob(repo, EMPTY_JSON);
    await c.pushBlob(repo, layerBytes);
    const manifest = imageManifest({
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [descriptorOf(MT.ociLayer, layerBytes)],
    });
    const digest = sha256(manifest);
    const res = await c.pushManifest(repo, digest, manifest, MT.ociManifest);
    expect(res.status, explain(res)).toBe(201);
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(digest);
    expect(res.headers.get('location'), explain(res)).toBeTruthy();
    await expectPulled(repo, digest, manifest, MT.ociManifest);
  });

  it('parameters on the Content-Type header are ignored, and not echoed on GET', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-ctparam');
    const img = await pushImage(c, repo, 'v1');
    const res = await c.pushManifest(repo, 'v2', img.manifest, `${MT.ociManifest}; charset=utf-8`);
    expect(res.status, explain(res)).toBe(201);
    await expectPulled(repo, 'v2', img.manifest, MT.ociManifest);
  });

  it('the same manifest can be tagged several times', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-multitag');
    const img = await pushImage(c, repo, 'test0');
    for (const tag of ['test1', 'test2', 'test3']) {
      const res = await c.pushManifest(repo, tag, img.manifest, MT.ociManifest);
      expect(res.status, explain(res)).toBe(201);
      expect(res.headers.get('location'), explain(res)).toBeTruthy();
    }
    for (const tag of ['test0', 'test1', 'test2', 'test3'])
      await expectPulled(repo, tag, img.manifest, MT.ociManifest);
  });

  it('re-pushing a tag moves it to the new manifest', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-retag');
    const a = await pushImage(c, repo, 'latest');
    const b = await pushImage(c, repo, 'latest');
    expect(a.digest).not.toBe(b.digest);
    await expectPulled(repo, 'latest', b.manifest, MT.ociManifest);
    await expectPulled(repo, a.digest, a.manifest, MT.ociManifest);
  });

  it('an image manifest with no layers is accepted', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-nolayers');
    const configBytes = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    await c.pushBlob(repo, configBytes);
    const manifest = imageManifest({ config: descriptorOf(MT.ociConfig, configBytes), layers: [] });
    await c.putManifest(repo, 'emptylayer', manifest, MT.ociManifest);
    await expectPulled(repo, 'emptylayer', manifest, MT.ociManifest);
  });

  it('PUT by a digest that differs from the body digest answers 400 DIGEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-digest-mismatch');
    const img = await pushImage(c, repo, 'v1');
    const other = sha256(randomBlob());
    const res = await c.pushManifest(repo, other, img.manifest, MT.ociManifest);
    expectError(res, 400, 'DIGEST_INVALID');
    expect((await c.getManifest(repo, other)).status).toBe(404);
  });

  it('a manifest whose config blob is unknown answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-missing-config');
    await c.pushBlob(repo, randomBlob());
    const manifest = imageManifest({ config: descriptorOf(MT.ociConfig, randomBlob()) });
    expectError(await c.pushManifest(repo, 'v1', manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect((await c.getManifest(repo, 'v1')).status).toBe(404);
  });

  it('a manifest whose layer blob is unknown answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-missing-layer');
    await c.pushBlob(repo, EMPTY_JSON);
    const manifest = imageManifest({
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [descriptorOf(MT.ociLayer, randomBlob())],
    });
    expectError(await c.pushManifest(repo, 'v1', manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('a blob known only to another repository does not satisfy a manifest (MANIFEST_BLOB_UNKNOWN)', async () => {
    const c = reg.client;
    const other = uniqueRepo('man-foreign-src');
    const repo = uniqueRepo('man-foreign-dst');
    const configBytes = Buffer.from(
      `{"architecture":"amd64","os":"linux","n":"${randomBlob(4).toString('hex')}"}`,
    );
    await c.pushBlob(other, configBytes);
    await c.pushBlob(repo, randomBlob());
    const manifest = imageManifest({ config: descriptorOf(MT.ociConfig, configBytes) });
    expectError(await c.pushManifest(repo, 'v1', manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('invalid JSON answers 400 MANIFEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-invalid');
    await c.pushBlob(repo, randomBlob());
    expectError(
      await c.pushManifest(repo, 'v1', Buffer.from('blablabla'), MT.ociManifest),
      400,
      'MANIFEST_INVALID',
    );
  });

  it('an image manifest missing its config answers 400 MANIFEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-noconfig');
    await c.pushBlob(repo, randomBlob());
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, layers: [] }));
    expectError(await c.pushManifest(repo, 'v1', body, MT.ociManifest), 400, 'MANIFEST_INVALID');
  });

  it('a manifest over 4 MiB is rejected (413 per spec, or 400) with a JSON error', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-big');
    await c.pushBlob(repo, EMPTY_JSON);
    const manifest = imageManifest({
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 16) },
    });
    const res = await c.pushManifest(repo, 'big', manifest, MT.ociManifest);
    expectError(res, [413, 400], ['MANIFEST_INVALID', 'SIZE_INVALID']);
    expect((await c.getManifest(repo, 'big')).status).toBe(404);
  });

  it('a manifest of 4,000,000 bytes (under 4 MiB) is accepted', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-4mb');
    await c.pushBlob(repo, EMPTY_JSON);
    const skeleton = imageManifest({
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      annotations: { pad: '' },
    });
    const manifest = imageManifest({
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      annotations: { pad: 'x'.repeat(4_000_000 - skeleton.length) },
    });
    expect(manifest.length).toBe(4_000_000);
    await c.putManifest(repo, 'large', manifest, MT.ociManifest);
    await expectPulled(repo, 'large', manifest, MT.ociManifest);
  });

  it('a Docker schema1 manifest is rejected', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-schema1');
    const layer = await c.pushBlob(repo, randomBlob());
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 1,
        name: repo,
        tag: 'old',
        architecture: 'amd64',
        fsLayers: [{ blobSum: layer }],
        history: [{ v1Compatibility: '{"id":"x"}' }],
      }),
    );
    for (const mediaType of [MT.schema1, MT.schema1Signed]) {
      const res = await c.pushManifest(repo, 'old', body, mediaType);
      expectError(res, [400, 415], ['MANIFEST_INVALID', 'UNSUPPORTED']);
    }
    expect((await c.getManifest(repo, 'old')).status).toBe(404);
  });
});

describe('push: manifest types', () => {
  it('Docker schema2 manifest and Docker manifest list round-trip with their media types', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-docker');
    const configBytes = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    const layerBytes = randomBlob(200);
    await c.pushBlob(repo, configBytes);
    await c.pushBlob(repo, layerBytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.dockerManifest,
        config: descriptorOf(MT.dockerConfig, configBytes),
        layers: [descriptorOf(MT.dockerLayer, layerBytes)],
      }),
    );
    await c.putManifest(repo, 'amd64', manifest, MT.dockerManifest);
    await expectPulled(repo, 'amd64', manifest, MT.dockerManifest);

    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.dockerList,
        manifests: [
          { ...descriptorOf(MT.dockerManifest, manifest), platform: { architecture: 'amd64', os: 'linux' } },
        ],
      }),
    );
    const listDigest = await c.putManifest(repo, 'multi', list, MT.dockerList);
    await expectPulled(repo, 'multi', list, MT.dockerList);
    await expectPulled(repo, listDigest, list, MT.dockerList);
  });

  it('OCI image index round-trips with its media type', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-index');
    const a = await pushImage(c, repo, 'a');
    const b = await pushImage(c, repo, 'b');
    const index = imageIndex([
      { ...a.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
      { ...b.descriptor, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    const digest = await c.putManifest(repo, 'multi', index, MT.ociIndex);
    await expectPulled(repo, 'multi', index, MT.ociIndex);
    await expectPulled(repo, digest, index, MT.ociIndex);
  });

  it('an OCI index naming an unknown manifest is accepted, or rejected with MANIFEST_BLOB_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-index-missing');
    await pushImage(c, repo, 'a');
    const index = imageIndex([descriptorOf(MT.ociManifest, randomBlob())]);
    const res = await c.pushManifest(repo, 'multi', index, MT.ociIndex);
    if (res.status !== 201) expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('OCI artifact (artifactType, empty config) round-trips', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-artifact');
    expect(sha256(EMPTY_JSON)).toBe(EMPTY_JSON_DIGEST);
    await c.pushBlob(repo, EMPTY_JSON);
    const payload = Buffer.from('{"sbom":"example"}');
    await c.pushBlob(repo, payload);
    const manifest = imageManifest({
      artifactType: 'application/vnd.example.sbom.v1+json',
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [descriptorOf('application/vnd.example.sbom.v1+json', payload)],
      annotations: { 'org.example.kind': 'sbom' },
    });
    const digest = await c.putManifest(repo, 'sbom', manifest, MT.ociManifest);
    await expectPulled(repo, digest, manifest, MT.ociManifest);
    const blob = await c.get(`/v2/${repo}/blobs/${EMPTY_JSON_DIGEST}`);
    expect(blob.status, explain(blob)).toBe(200);
    expect(blob.text).toBe('{}');
  });

  it('a manifest with subject answers 201 with OCI-Subject: <subject digest>', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-subject');
    const subject = await pushImage(c, repo, 'v1');
    await c.pushBlob(repo, EMPTY_JSON);
    const manifest = imageManifest({
      artifactType: 'application/vnd.example.signature.v1',
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [{ mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 }],
      subject: subject.descriptor,
    });
    const digest = sha256(manifest);
    const res = await c.pushManifest(repo, digest, manifest, MT.ociManifest);
    expect(res.status, explain(res)).toBe(201);
    expect(res.headers.get('oci-subject'), explain(res)).toBe(subject.digest);
    await expectPulled(repo, digest, manifest, MT.ociManifest);
  });

  it('a manifest whose subject does not exist (yet) is accepted, with OCI-Subject', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-subject-missing');
    await c.pushBlob(repo, EMPTY_JSON);
    const missing = descriptorOf(MT.ociManifest, randomBlob(300));
    const manifest = imageManifest({
      artifactType: 'application/vnd.example.signature.v1',
      config: { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
      layers: [{ mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 }],
      subject: missing,
    });
    const res = await c.pushManifest(repo, sha256(manifest), manifest, MT.ociManifest);
    expect(res.status, explain(res)).toBe(201);
    expect(res.headers.get('oci-subject'), explain(res)).toBe(missing.digest);
  });

  it('an OCI index with subject answers 201 with OCI-Subject', async () => {
    const c = reg.client;
    const repo = uniqueRepo('man-index-subject');
    const subject = await pushImage(c, repo, 'v1');
    const member = await pushImage(c, repo, 'member');
    const index = imageIndex([member.descriptor], {
      artifactType: 'application/vnd.example.bundle.v1',
      subject: subject.descriptor,
    });
    const res = await c.pushManifest(repo, sha256(index), index, MT.ociIndex);
    expect(res.status, explain(res)).toBe(201);
    expect(res.headers.get('oci-subject'), explain(res)).toBe(subject.digest);
  });
});
