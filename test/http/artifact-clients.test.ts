// What oras, helm and cosign send, reproduced request for request from their public docs and code
// (none of the three can be installed here), so the README claims only what is tested:
// - oras (oras-go v2): HEAD each blob, POST + PUT ?digest= the missing ones, an OCI manifest with
//   `artifactType` and the empty config descriptor (with its inline `data`), titled layers; `oras
//   attach` pushes a manifest with `subject` by digest, and `oras discover` lists the referrers.
// - helm (v3.8+ OCI support): a `application/vnd.cncf.helm.config.v1+json` config and a
//   `application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer, tagged with the chart version (`+`
//   becomes `_`), pulled back with helm's Accept header.
// - cosign: a signature as a `sha256-<hex>.sig` tag (simplesigning layer with the signature in an
//   annotation), and in OCI 1.1 mode as a referrer with `subject` and `artifactType`.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  descriptorOf,
  explain,
  imageManifest,
  json,
  pushImage,
  sha256,
  uniqueRepo,
  withQuery,
  type Client,
  type Descriptor,
} from './conformance/support/client.js';
import { useRegistry } from './conformance/support/registry.js';

const reg = useRegistry();

/** oras-go's copy: HEAD first (skip what exists), else POST a session and PUT the whole blob. */
async function orasPushBlob(client: Client, repo: string, data: Buffer): Promise<'pushed' | 'exists'> {
  const digest = sha256(data);
  const head = await client.head(`/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return 'exists';
  expect(head.status, explain(head)).toBe(404);
  const location = await client.startUpload(repo);
  const put = await client.request('PUT', withQuery(location, { digest }), {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
    body: data,
  });
  expect(put.status, explain(put)).toBe(201);
  expect(put.headers.get('docker-content-digest')).toBe(digest);
  return 'pushed';
}

/** The empty config descriptor oras-go writes for artifacts: `{}` with its bytes inline. */
const EMPTY_CONFIG: Descriptor & { data: string } = {
  mediaType: MT.ociEmpty,
  digest: EMPTY_JSON_DIGEST,
  size: 2,
  data: EMPTY_JSON.toString('base64'),
};

interface ReferrersIndex {
  mediaType: string;
  manifests: Array<Descriptor & { artifactType?: string }>;
}

describe('oras', () => {
  it('pushes an artifact with artifactType and the empty config, and pulls it back', async () => {
    const c = reg.client;
    const repo = uniqueRepo('oras');
    const sbom = Buffer.from(
      JSON.stringify({ bomFormat: 'CycloneDX', serial: randomBytes(4).toString('hex') }),
    );
    expect(await orasPushBlob(c, repo, EMPTY_JSON)).toBe('pushed');
    expect(await orasPushBlob(c, repo, sbom)).toBe('pushed');
    expect(await orasPushBlob(c, repo, EMPTY_JSON)).toBe('exists');
    const layer = descriptorOf('application/vnd.oci.image.layer.v1.tar', sbom, {
      annotations: { 'org.opencontainers.image.title': 'sbom.json' },
    });
    const manifest = imageManifest({
      artifactType: 'application/vnd.example.sbom.v1+json',
      config: EMPTY_CONFIG,
      layers: [layer],
      annotations: { 'org.opencontainers.image.created': '2026-12-02T00:00:00Z' },
    });
    const digest = await c.putManifest(repo, 'v1', manifest, MT.ociManifest);

    // oras pull: the manifest (oras-go's Accept), then every layer by digest.
    const got = await c.get(`/v2/${repo}/manifests/v1`, {
      Accept: [
        MT.ociManifest,
        MT.ociIndex,
        MT.dockerManifest,
        MT.dockerList,
        'application/vnd.oci.artifact.manifest.v1+json',
      ].join(', '),
    });
    expect(got.status, explain(got)).toBe(200);
    expect(got.headers.get('docker-content-digest')).toBe(digest);
    expect(got.body.equals(manifest)).toBe(true);
    const blob = await c.get(`/v2/${repo}/blobs/${layer.digest}`);
    expect(blob.body.equals(sbom)).toBe(true);
  });

  it('attaches an artifact to an image (subject) and discovers it through the referrers API', async () => {
    const c = reg.client;
    const repo = uniqueRepo('oras-attach');
    const image = await pushImage(c, repo, 'v1');
    const signature = Buffer.from(`signature ${randomBytes(8).toString('hex')}`);
    await orasPushBlob(c, repo, EMPTY_JSON);
    await orasPushBlob(c, repo, signature);
    const attached = imageManifest({
      artifactType: 'application/vnd.example.signature',
      config: EMPTY_CONFIG,
      layers: [descriptorOf('application/vnd.oci.image.layer.v1.tar', signature)],
      subject: image.descriptor,
    });
    const put = await c.pushManifest(repo, sha256(attached), attached, MT.ociManifest);
    expect(put.status, explain(put)).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(image.digest);

    const all = await c.get(`/v2/${repo}/referrers/${image.digest}`);
    expect(all.status, explain(all)).toBe(200);
    expect(all.headers.get('content-type')).toBe(MT.ociIndex);
    expect(json<ReferrersIndex>(all).manifests).toEqual([
      expect.objectContaining({
        digest: sha256(attached),
        artifactType: 'application/vnd.example.signature',
      }),
    ]);
    const filtered = await c.get(`/v2/${repo}/referrers/${image.digest}?artifactType=application/vnd.other`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(json<ReferrersIndex>(filtered).manifests).toEqual([]);
  });
});

describe('helm', () => {
  it('pushes a chart (helm config and chart layer) under its version and pulls it back', async () => {
    const c = reg.client;
    const repo = uniqueRepo('charts');
    const chartConfig = Buffer.from(
      JSON.stringify({ apiVersion: 'v2', name: 'berth-demo', version: '1.2.3+build.7', type: 'application' }),
    );
    const chart = randomBytes(2048); // the chart's .tgz, opaque to the registry
    await orasPushBlob(c, repo, chartConfig);
    await orasPushBlob(c, repo, chart);
    const manifest = imageManifest({
      config: descriptorOf('application/vnd.cncf.helm.config.v1+json', chartConfig),
      layers: [descriptorOf('application/vnd.cncf.helm.chart.content.v1.tar+gzip', chart)],
      annotations: {
        'org.opencontainers.image.title': 'berth-demo',
        'org.opencontainers.image.version': '1.2.3+build.7',
      },
    });
    // Tags cannot hold '+': helm pushes 1.2.3+build.7 as 1.2.3_build.7.
    const digest = await c.putManifest(repo, '1.2.3_build.7', manifest, MT.ociManifest);
    const tags = json<{ tags: string[] }>(await c.get(`/v2/${repo}/tags/list`)).tags;
    expect(tags).toEqual(['1.2.3_build.7']);
    const got = await c.get(`/v2/${repo}/manifests/1.2.3_build.7`, { Accept: MT.ociManifest });
    expect(got.status, explain(got)).toBe(200);
    expect(got.headers.get('docker-content-digest')).toBe(digest);
    const config = json<{ config: Descriptor; layers: Descriptor[] }>(got);
    expect(config.config.mediaType).toBe('application/vnd.cncf.helm.config.v1+json');
    const layer = await c.get(`/v2/${repo}/blobs/${config.layers[0]?.digest}`);
    expect(layer.body.equals(chart)).toBe(true);
  });
});

describe('cosign', () => {
  /** The simplesigning payload cosign signs, and its signature in the layer's annotation. */
  function signatureLayer(imageDigest: string): { payload: Buffer; layer: Descriptor } {
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'example/app' },
          image: { 'docker-manifest-digest': imageDigest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    const layer = descriptorOf('application/vnd.dev.cosign.simplesigning.v1+json', payload, {
      annotations: { 'dev.cosignproject.cosign/signature': randomBytes(64).toString('base64') },
    });
    return { payload, layer };
  }

  it('stores a signature under the sha256-<hex>.sig tag and serves it to cosign verify', async () => {
    const c = reg.client;
    const repo = uniqueRepo('signed');
    const image = await pushImage(c, repo, 'v1');
    const { payload, layer } = signatureLayer(image.digest);
    const configBytes = Buffer.from(
      JSON.stringify({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    );
    await orasPushBlob(c, repo, configBytes);
    await orasPushBlob(c, repo, payload);
    const manifest = imageManifest({ config: descriptorOf(MT.ociConfig, configBytes), layers: [layer] });
    const tag = `${image.digest.replace(':', '-')}.sig`;
    await c.putManifest(repo, tag, manifest, MT.ociManifest);
    // cosign verify: GET the .sig tag, then the simplesigning payload.
    const got = await c.get(`/v2/${repo}/manifests/${tag}`, { Accept: MT.ociManifest });
    expect(got.status, explain(got)).toBe(200);
    const annotations = json<{ layers: Descriptor[] }>(got).layers[0]?.annotations;
    expect(annotations?.['dev.cosignproject.cosign/signature']).toBe(
      layer.annotations?.['dev.cosignproject.cosign/signature'],
    );
    expect((await c.get(`/v2/${repo}/blobs/${layer.digest}`)).body.equals(payload)).toBe(true);
  });

  it('stores an OCI 1.1 signature as a referrer of the image (--registry-referrers-mode=oci-1-1)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('signed-oci11');
    const image = await pushImage(c, repo, 'v1');
    const { payload, layer } = signatureLayer(image.digest);
    await orasPushBlob(c, repo, EMPTY_JSON);
    await orasPushBlob(c, repo, payload);
    const artifactType = 'application/vnd.dev.cosign.artifact.sig.v1+json';
    const manifest = imageManifest({
      artifactType,
      config: EMPTY_CONFIG,
      layers: [layer],
      subject: image.descriptor,
    });
    const put = await c.pushManifest(repo, sha256(manifest), manifest, MT.ociManifest);
    expect(put.status, explain(put)).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(image.digest);
    const referrers = await c.get(
      `/v2/${repo}/referrers/${image.digest}?artifactType=${encodeURIComponent(artifactType)}`,
    );
    expect(json<ReferrersIndex>(referrers).manifests).toEqual([
      expect.objectContaining({ digest: sha256(manifest), artifactType, size: manifest.length }),
    ]);
  });
});
