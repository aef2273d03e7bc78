// The test images the upstream holds: an OCI config and random layers, each image with blobs of its
// own, so that no pull finds another image's blobs in a mirror's cache.
import { randomBytes } from 'node:crypto';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256Digest, type RegistryClient } from '../lib/http.js';
import type { Descriptor } from './pull-client.js';

export interface TestImage {
  repo: string;
  tag: string;
  manifest: Buffer;
  manifestDigest: string;
  /** The config first, then the layers. */
  blobs: Array<Descriptor & { data: Buffer }>;
  /** Manifest and blobs: what one pull transfers. */
  bytes: number;
}

export function makeImage(repo: string, tag: string, layerSizes: readonly number[]): TestImage {
  const layers = layerSizes.map((size) => {
    const data = randomBytes(size);
    return { digest: sha256Digest(data), size, data };
  });
  const configData = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'berth.bench': `${repo}:${tag}` } },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
    }),
  );
  const config = { digest: sha256Digest(configData), size: configData.length, data: configData };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: layer.digest, size: layer.size })),
    }),
  );
  const blobs = [config, ...layers];
  return {
    repo,
    tag,
    manifest,
    manifestDigest: sha256Digest(manifest),
    blobs,
    bytes: manifest.length + blobs.reduce((sum, blob) => sum + blob.size, 0),
  };
}

/** Pushes `image` as `repo` (its own name by default): every blob, then the manifest by tag. */
export async function pushImage(client: RegistryClient, image: TestImage, repo = image.repo): Promise<void> {
  await Promise.all(image.blobs.map((blob) => client.uploadBlob(repo, blob.digest, blob.size, blob.data)));
  await client.putManifest(repo, image.tag, image.manifest);
}
