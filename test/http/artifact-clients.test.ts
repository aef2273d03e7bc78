// What oras, helm and cosign send, reproduced request for request from their public code (none of the
// three can be installed here), so that the README claims only what these tests show. Each test keeps
// a log of the exchanges and checks it, so the order is part of what is tested (the clients send up to
// three blobs at once; the replays send them one at a time, in the order the clients start them):
// - oras-go v2 (registry/remote): `Exists` is a HEAD; a blob push is POST, then PUT ?digest= with the
//   whole body; `oras.Copy` pushes a manifest's successors (subject, config, layers) before the manifest
//   itself; `Resolve` is a HEAD with its Accept list and needs Content-Length and Docker-Content-Digest;
//   `Fetch` checks Content-Type; `Referrers` needs Content-Type to be the OCI index type and filters on
//   the client unless OCI-Filters-Applied names artifactType. `PackManifest` (v1.1) writes the empty
//   config descriptor, its `{}` inline as `data`, and `org.opencontainers.image.created`.
// - helm 3 (pkg/registry/client.go): the chart's Chart.yaml as the config, the chart (and its .prov)
//   as layers sorted by digest, OCI annotations, and no `mediaType` in the manifest body; the tag is the
//   version with `+` as `_`; `helm pull --version <range>` lists the tags first.
// - cosign 2 (go-containerregistry remote.Write): HEAD, then POST (Content-Type application/json, no
//   body), a streamed PATCH, and an empty PUT ?digest= per blob; the signature image under the tag
//   `sha256-<hex>.sig`, read back (404 first) and extended by each signature. With
//   `--registry-referrers-mode=oci-1-1` (WriteSignaturesExperimentalOCI) a manifest by digest whose
//   config.mediaType is the artifact type and which has a `subject` (no top-level artifactType before
//   2.6, sigstore/cosign#4995); `cosign verify --experimental-oci11` asks the referrers API with an
//   artifactType filter.
//   cosign 3 (WriteReferrer) adds bundle referrers: the empty config, and a top-level artifactType.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  descriptorOf,
  explain,
  json,
  pushImage,
  sha256,
  uniqueRepo,
  type Descriptor,
} from './conformance/support/client.js';
import {
  EMPTY_CONFIG,
  Exchange,
  GGCR_ACCEPT,
  discover,
  fetchBlob,
  ggcrPushBlob,
  orasFetchManifest,
  orasPushBlob,
  orasPushManifest,
  orasResolve,
  pushedBlob,
  streamedBlob,
} from './conformance/support/client-replays.js';
import { useRegistry } from './conformance/support/registry.js';

const reg = useRegistry();

const HELM = {
  config: 'application/vnd.cncf.helm.config.v1+json',
  chart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  prov: 'application/vnd.cncf.helm.chart.provenance.v1.prov',
};
const COSIGN = {
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  signatureAnnotation: 'dev.cosignproject.cosign/signature',
  sigArtifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  bundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
};

describe('oras', () => {
  it('oras push: the empty config, a titled layer and artifactType; oras pull reads them back', async () => {
    const x = new Exchange(reg.client, uniqueRepo('oras'));
    const sbom = Buffer.from(
      JSON.stringify({ spdxVersion: 'SPDX-2.3', name: randomBytes(4).toString('hex') }),
    );
    x.name('empty', EMPTY_JSON_DIGEST);
    x.name('sbom', sha256(sbom));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: 'application/spdx+json',
        config: EMPTY_CONFIG,
        layers: [
          descriptorOf('application/spdx+json', sbom, {
            annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' },
          }),
        ],
        annotations: { 'org.opencontainers.image.created': '2026-12-02T00:00:00Z' },
      }),
    );
    const digest = x.name('manifest', sha256(manifest));
    await orasPushBlob(x, EMPTY_JSON);
    await orasPushBlob(x, sbom);
    await orasPushManifest(x, manifest, 'v1');

    const desc = await orasResolve(x, 'v1');
    expect(desc).toEqual({ mediaType: MT.ociManifest, digest, size: manifest.length });
    const got = await orasFetchManifest(x, desc);
    expect(got.body.equals(manifest)).toBe(true);
    expect((await fetchBlob(x, sha256(sbom))).equals(sbom)).toBe(true);
    expect(x.log).toEqual([
      ...pushedBlob('empty'),
      ...pushedBlob('sbom'),
      'HEAD /v2/<repo>/manifests/<manifest> 404',
      'PUT /v2/<repo>/manifests/v1 201',
      'HEAD /v2/<repo>/manifests/v1 200',
      'GET /v2/<repo>/manifests/<manifest> 200',
      'GET /v2/<repo>/blobs/<sbom> 200',
    ]);
  });

  it('oras attach pushes a referrer with subject; oras discover lists it, with and without a filter', async () => {
    const x = new Exchange(reg.client, uniqueRepo('oras-attach'));
    const image = await pushImage(reg.client, x.repo, 'v1');
    const signature = Buffer.from(`signature ${randomBytes(8).toString('hex')}`);
    x.name('image', image.digest);
    x.name('empty', EMPTY_JSON_DIGEST);
    x.name('signature', sha256(signature));
    const subject = await orasResolve(x, 'v1');
    const artifactType = 'application/vnd.example.signature';
    const annotations = { 'org.opencontainers.image.created': '2026-12-02T00:00:00Z' };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType,
        config: EMPTY_CONFIG,
        layers: [descriptorOf('application/vnd.example.signature', signature)],
        subject,
        annotations,
      }),
    );
    const digest = x.name('referrer', sha256(manifest));
    // oras.Copy: the subject is a successor too, found by its HEAD and not pushed again.
    const exists = await x.send('HEAD', `/v2/${x.repo}/manifests/${subject.digest}`, {
      headers: { Accept: MT.ociManifest },
    });
    expect(exists.status, explain(exists)).toBe(200);
    await orasPushBlob(x, EMPTY_JSON);
    await orasPushBlob(x, signature);
    const put = await orasPushManifest(x, manifest);
    // With OCI-Subject, oras-go knows the referrers API serves it and writes no `sha256-<hex>` index tag.
    expect(put.headers.get('oci-subject')).toBe(image.digest);

    const referrer = { mediaType: MT.ociManifest, digest, size: manifest.length, artifactType, annotations };
    expect((await discover(x, image.digest)).manifests).toEqual([referrer]);
    expect((await discover(x, image.digest, artifactType)).manifests).toEqual([referrer]);
    expect((await discover(x, image.digest, 'application/vnd.other')).manifests).toEqual([]);
    expect(x.log).toEqual([
      'HEAD /v2/<repo>/manifests/v1 200',
      'HEAD /v2/<repo>/manifests/<image> 200',
      ...pushedBlob('empty'),
      ...pushedBlob('signature'),
      'HEAD /v2/<repo>/manifests/<referrer> 404',
      'PUT /v2/<repo>/manifests/<referrer> 201',
      'GET /v2/<repo>/referrers/<image> 200',
      `GET /v2/<repo>/referrers/<image>?artifactType=${artifactType} 200`,
      'GET /v2/<repo>/referrers/<image>?artifactType=application/vnd.other 200',
    ]);
  });
});

// ---- helm 3 ---------------------------------------------------------------------------------------

describe('helm', () => {
  /** `helm push demo-<version>.tgz oci://…`: what helm's registry client builds, copied by oras-go. */
  async function helmPush(x: Exchange, version: string, withProv: boolean) {
    // Chart.yaml as json.Marshal(chart.Metadata) writes it.
    const config = Buffer.from(
      JSON.stringify({
        name: 'demo',
        version,
        description: 'A demo chart',
        apiVersion: 'v2',
        type: 'application',
      }),
    );
    const chart = randomBytes(2048); // the .tgz: opaque to the registry
    const prov = Buffer.from(`-----BEGIN PGP SIGNED MESSAGE-----\nname: demo\nversion: ${version}\n`);
    const blobs = new Map([[x.name('chart', sha256(chart)), chart]]);
    if (withProv) blobs.set(x.name('prov', sha256(prov)), prov);
    const layers = [...blobs.keys()].sort().map((digest) => {
      const data = blobs.get(digest) as Buffer;
      return descriptorOf(data === chart ? HELM.chart : HELM.prov, data);
    });
    // An ocispec.Manifest without MediaType: no `mediaType` in the body; the PUT's Content-Type says it.
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: descriptorOf(HELM.config, config),
        layers,
        annotations: {
          'org.opencontainers.image.created': '2026-12-02T00:00:00Z',
          'org.opencontainers.image.description': 'A demo chart',
          'org.opencontainers.image.title': 'demo',
          'org.opencontainers.image.version': version,
        },
      }),
    );
    x.name('config', sha256(config));
    x.name('manifest', sha256(manifest));
    await orasPushBlob(x, config);
    for (const layer of layers) await orasPushBlob(x, blobs.get(layer.digest) as Buffer);
    await orasPushManifest(x, manifest, version.replace('+', '_'));
    const layerLabels = layers.map((l) => (l.mediaType === HELM.chart ? 'chart' : 'prov'));
    return { chart, manifest, layerLabels };
  }

  it('helm push: the chart config, the chart and its .prov sorted by digest, tagged with the version (`+` as `_`)', async () => {
    const x = new Exchange(reg.client, uniqueRepo('charts/demo'));
    const { layerLabels } = await helmPush(x, '1.2.3+build.7', true);
    expect(x.log).toEqual([
      ...pushedBlob('config'),
      ...layerLabels.flatMap(pushedBlob),
      'HEAD /v2/<repo>/manifests/<manifest> 404',
      'PUT /v2/<repo>/manifests/1.2.3_build.7 201',
    ]);
  });

  it('helm pull --version <range>: lists the tags, resolves the chosen one, reads config and chart', async () => {
    const x = new Exchange(reg.client, uniqueRepo('charts/demo'));
    await helmPush(x, '1.2.3+build.7', false);
    const latest = await helmPush(x, '1.3.0', true);
    x.log.length = 0;
    // helm's Tags(): every tag, `_` read back as `+`; the highest version in the range wins.
    const tags = await x.send('GET', `/v2/${x.repo}/tags/list`);
    expect(tags.status, explain(tags)).toBe(200);
    expect(json(tags)).toEqual({ name: x.repo, tags: ['1.2.3_build.7', '1.3.0'] });
    const desc = await orasResolve(x, '1.3.0');
    expect(desc).toEqual({
      mediaType: MT.ociManifest,
      digest: sha256(latest.manifest),
      size: latest.manifest.length,
    });
    const got = await orasFetchManifest(x, desc);
    expect(got.body.equals(latest.manifest)).toBe(true);
    const manifest = json<{ config: Descriptor; layers: Descriptor[] }>(got);
    expect(JSON.parse((await fetchBlob(x, manifest.config.digest)).toString())).toMatchObject({
      version: '1.3.0',
    });
    const chart = manifest.layers.find((l) => l.mediaType === HELM.chart);
    expect((await fetchBlob(x, chart?.digest ?? '')).equals(latest.chart)).toBe(true);
    expect(x.log).toEqual([
      'GET /v2/<repo>/tags/list 200',
      'HEAD /v2/<repo>/manifests/1.3.0 200',
      'GET /v2/<repo>/manifests/<manifest> 200',
      'GET /v2/<repo>/blobs/<config> 200',
      'GET /v2/<repo>/blobs/<chart> 200',
    ]);
  });
});

// ---- cosign 2 (go-containerregistry) and cosign 3 bundles -------------------------------------------

/** The simplesigning payload cosign signs for an image, and its layer carrying the signature. */
function signatureLayer(repo: string, imageDigest: string): { payload: Buffer; layer: Descriptor } {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repo },
        image: { 'docker-manifest-digest': imageDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  const signature = randomBytes(64).toString('base64');
  const layer = descriptorOf(COSIGN.simpleSigning, payload, {
    annotations: { [COSIGN.signatureAnnotation]: signature },
  });
  return { payload, layer };
}

/** The config go-containerregistry writes for cosign's signature image (layers on empty.Image). */
function signatureConfig(layers: Descriptor[]): Buffer {
  const created = '0001-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created,
      history: layers.map(() => ({ created })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
}

/** `cosign sign <image>:<tag>` (tag mode): returns the signature tag and the new layer. */
async function cosignSign(x: Exchange, tag: string): Promise<{ sigTag: string; layer: Descriptor }> {
  const head = await x.send('HEAD', `/v2/${x.repo}/manifests/${tag}`, { headers: { Accept: GGCR_ACCEPT } });
  expect(head.status, explain(head)).toBe(200);
  const imageDigest = head.headers.get('docker-content-digest') ?? '';
  const sigTag = `${imageDigest.replace(':', '-')}.sig`;
  // The signatures so far: cosign takes exactly a 404 (MANIFEST_UNKNOWN) as "none yet".
  const existing = await x.send('GET', `/v2/${x.repo}/manifests/${sigTag}`, {
    headers: { Accept: GGCR_ACCEPT },
  });
  const earlier = existing.status === 200 ? json<{ layers: Descriptor[] }>(existing).layers : [];
  if (existing.status !== 200) expect(existing.status, explain(existing)).toBe(404);
  const { payload, layer } = signatureLayer(x.repo, imageDigest);
  const layers = [...earlier, layer];
  const config = signatureConfig(layers);
  x.name('payload', layer.digest);
  x.name(`config${layers.length}`, sha256(config));
  // One upload per digest: the payload is the same for every signature of the image.
  for (const digest of new Set(layers.map((l) => l.digest))) {
    await ggcrPushBlob(x, digest, digest === layer.digest ? payload : undefined);
  }
  await ggcrPushBlob(x, sha256(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: descriptorOf(MT.ociConfig, config),
      layers,
    }),
  );
  const put = await x.send('PUT', `/v2/${x.repo}/manifests/${sigTag}`, {
    headers: { 'Content-Type': MT.ociManifest },
    body: manifest,
  });
  expect(put.status, explain(put)).toBe(201);
  return { sigTag, layer };
}

describe('cosign', () => {
  it('cosign sign (tag mode) writes and extends the sha256-<hex>.sig image; cosign verify reads it back', async () => {
    const x = new Exchange(reg.client, uniqueRepo('signed'));
    const image = await pushImage(reg.client, x.repo, 'v1');
    const sigTag = `${image.digest.replace(':', '-')}.sig`;
    const first = await cosignSign(x, 'v1');
    expect(first.sigTag).toBe(sigTag);
    expect(x.log).toEqual([
      'HEAD /v2/<repo>/manifests/v1 200',
      `GET /v2/<repo>/manifests/${sigTag} 404`,
      ...streamedBlob('payload'),
      ...streamedBlob('config1'),
      `PUT /v2/<repo>/manifests/${sigTag} 201`,
    ]);
    x.log.length = 0;
    const second = await cosignSign(x, 'v1');
    expect(x.log).toEqual([
      'HEAD /v2/<repo>/manifests/v1 200',
      `GET /v2/<repo>/manifests/${sigTag} 200`,
      'HEAD /v2/<repo>/blobs/<payload> 200',
      ...streamedBlob('config2'),
      `PUT /v2/<repo>/manifests/${sigTag} 201`,
    ]);

    // cosign verify: the image's digest, its signature image, then each signed payload.
    x.log.length = 0;
    const digest = (
      await x.send('HEAD', `/v2/${x.repo}/manifests/v1`, { headers: { Accept: GGCR_ACCEPT } })
    ).headers.get('docker-content-digest');
    expect(digest).toBe(image.digest);
    const sigs = await x.send('GET', `/v2/${x.repo}/manifests/${sigTag}`, {
      headers: { Accept: GGCR_ACCEPT },
    });
    expect(sigs.headers.get('content-type'), explain(sigs)).toBe(MT.ociManifest);
    // Two signatures of one payload: one blob, two layers that differ in their signature annotation.
    const layers = json<{ layers: Descriptor[] }>(sigs).layers;
    expect(layers).toEqual([first.layer, second.layer]);
    expect(second.layer.digest).toBe(first.layer.digest);
    for (const layer of layers) {
      const payload = JSON.parse((await fetchBlob(x, layer.digest)).toString()) as {
        critical: { image: { 'docker-manifest-digest': string } };
      };
      expect(payload.critical.image['docker-manifest-digest']).toBe(image.digest);
    }
    // The .sig tag is an ordinary tag; without `subject` it is no referrer of the image.
    expect(json(await x.send('GET', `/v2/${x.repo}/tags/list`))).toEqual({
      name: x.repo,
      tags: [sigTag, 'v1'],
    });
    expect((await discover(x, image.digest)).manifests).toEqual([]);
  });

  it('cosign sign --registry-referrers-mode=oci-1-1 and cosign 3 bundles: referrers with subject, found by artifactType', async () => {
    const x = new Exchange(reg.client, uniqueRepo('signed-oci11'));
    const image = await pushImage(reg.client, x.repo, 'v1');
    x.name('image', image.digest);
    // cosign 2, WriteSignaturesExperimentalOCI: the subject by HEAD, the payload and config blobs, then
    // the signature image's manifest with config.mediaType set to the artifact type, and a subject.
    const head = await x.send('HEAD', `/v2/${x.repo}/manifests/${image.digest}`, {
      headers: { Accept: GGCR_ACCEPT },
    });
    const subject = {
      mediaType: head.headers.get('content-type') ?? '',
      digest: head.headers.get('docker-content-digest') ?? '',
      size: Number(head.headers.get('content-length')),
    };
    expect(subject).toEqual(image.descriptor);
    const { payload, layer } = signatureLayer(x.repo, image.digest);
    const config = signatureConfig([layer]);
    await ggcrPushBlob(x, x.name('payload', layer.digest), payload);
    await ggcrPushBlob(x, x.name('config', sha256(config)), config);
    const signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: COSIGN.sigArtifactType, size: config.length, digest: sha256(config) },
        layers: [layer],
        subject,
      }),
    );
    const sigDigest = x.name('signature', sha256(signature));
    const put = await x.send('PUT', `/v2/${x.repo}/manifests/${sigDigest}`, {
      headers: { 'Content-Type': MT.ociManifest },
      body: signature,
    });
    expect(put.status, explain(put)).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(image.digest);
    expect(x.log).toEqual([
      'HEAD /v2/<repo>/manifests/<image> 200',
      ...streamedBlob('payload'),
      ...streamedBlob('config'),
      'PUT /v2/<repo>/manifests/<signature> 201',
    ]);

    // cosign 3, WriteReferrer (an attestation bundle): the empty config and a top-level artifactType.
    const bundle = Buffer.from(
      JSON.stringify({ mediaType: COSIGN.bundle, dsseEnvelope: { payload: 'e30=' } }),
    );
    const bundleLayer = descriptorOf(COSIGN.bundle, bundle, {
      annotations: { 'org.opencontainers.image.title': `${sha256(bundle).replace(':', '-')}.sigstore.json` },
    });
    const annotations = {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1',
      'org.opencontainers.image.created': '2026-12-02T00:00:00Z',
    };
    await ggcrPushBlob(x, EMPTY_JSON_DIGEST, EMPTY_JSON);
    await ggcrPushBlob(x, bundleLayer.digest, bundle);
    const attestation = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociEmpty, artifactType: COSIGN.bundle, size: 2, digest: EMPTY_JSON_DIGEST },
        layers: [bundleLayer],
        subject,
        annotations,
        artifactType: COSIGN.bundle,
      }),
    );
    const put3 = await x.send('PUT', `/v2/${x.repo}/manifests/${sha256(attestation)}`, {
      headers: { 'Content-Type': MT.ociManifest },
      body: attestation,
    });
    expect(put3.status, explain(put3)).toBe(201);

    // Without a top-level artifactType (cosign before 2.6), config.mediaType is the artifactType.
    const sigReferrer = {
      mediaType: MT.ociManifest,
      digest: sigDigest,
      size: signature.length,
      artifactType: COSIGN.sigArtifactType,
    };
    const bundleReferrer = {
      mediaType: MT.ociManifest,
      digest: sha256(attestation),
      size: attestation.length,
      artifactType: COSIGN.bundle,
      annotations,
    };
    const all = (await discover(x, image.digest)).manifests;
    expect([...all].sort((a, b) => (a.digest < b.digest ? -1 : 1))).toEqual(
      [sigReferrer, bundleReferrer].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
    );
    expect((await discover(x, image.digest, COSIGN.bundle)).manifests).toEqual([bundleReferrer]);

    // cosign verify --experimental-oci11: the signature referrers, then each one and its payload.
    x.log.length = 0;
    expect((await discover(x, image.digest, COSIGN.sigArtifactType)).manifests).toEqual([sigReferrer]);
    const got = await x.send('GET', `/v2/${x.repo}/manifests/${sigDigest}`, {
      headers: { Accept: MT.ociManifest },
    });
    expect(got.body.equals(signature), explain(got)).toBe(true);
    expect((await fetchBlob(x, layer.digest)).equals(payload)).toBe(true);
    expect(x.log).toEqual([
      `GET /v2/<repo>/referrers/<image>?artifactType=${COSIGN.sigArtifactType} 200`,
      'GET /v2/<repo>/manifests/<signature> 200',
      'GET /v2/<repo>/blobs/<payload> 200',
    ]);
  });
});
