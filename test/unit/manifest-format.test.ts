import { describe, expect, it } from 'vitest';
import { ManifestInvalidError } from '../../src/registry/errors.js';
import { MEDIA_TYPES, parseManifest } from '../../src/registry/manifest-format.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const descriptor = (mediaType: string, c: string, extra: object = {}) => ({
  mediaType,
  digest: d(c),
  size: 10,
  ...extra,
});
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

const image = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: descriptor('application/vnd.oci.image.config.v1+json', 'c'),
  layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 'a')],
};

describe('parseManifest', () => {
  it('reads an OCI image manifest and the blobs it needs', () => {
    const parsed = parseManifest(MEDIA_TYPES.ociManifest, body(image));
    expect(parsed).toMatchObject({
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: 'application/vnd.oci.image.config.v1+json',
      subject: null,
      blobs: [
        { digest: d('c'), size: 10 },
        { digest: d('a'), size: 10 },
      ],
      manifests: [],
    });
  });

  it('reads an artifact with artifactType, subject and annotations', () => {
    const artifact = {
      ...image,
      artifactType: 'application/vnd.example.sbom',
      config: descriptor('application/vnd.oci.empty.v1+json', 'e'),
      subject: descriptor(MEDIA_TYPES.ociManifest, 'f'),
      annotations: { 'org.example': 'yes' },
    };
    expect(parseManifest(MEDIA_TYPES.ociManifest, body(artifact))).toMatchObject({
      artifactType: 'application/vnd.example.sbom',
      subject: d('f'),
      annotations: { 'org.example': 'yes' },
    });
  });

  it('reads an index and the manifests it needs', () => {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifestList,
      manifests: [descriptor(MEDIA_TYPES.dockerManifest, '1'), descriptor(MEDIA_TYPES.dockerManifest, '2')],
    };
    expect(parseManifest(MEDIA_TYPES.dockerManifestList, body(index))).toMatchObject({
      mediaType: MEDIA_TYPES.dockerManifestList,
      blobs: [],
      manifests: [
        { digest: d('1'), size: 10 },
        { digest: d('2'), size: 10 },
      ],
    });
  });

  it('takes the media type from the body when Content-Type is generic', () => {
    expect(parseManifest('application/json', body(image)).mediaType).toBe(MEDIA_TYPES.ociManifest);
    const { mediaType: _omitted, ...untyped } = image;
    expect(parseManifest('', body(untyped)).mediaType).toBe(MEDIA_TYPES.ociManifest);
  });

  it('does not require foreign layers that live at their urls', () => {
    const withForeign = {
      ...image,
      mediaType: MEDIA_TYPES.dockerManifest,
      layers: [
        descriptor('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'b', {
          urls: ['https://x/y'],
        }),
      ],
    };
    expect(parseManifest(MEDIA_TYPES.dockerManifest, body(withForeign)).blobs).toEqual([
      { digest: d('c'), size: 10 },
    ]);
  });

  it.each([
    ['not JSON', Buffer.from('{nope'), MEDIA_TYPES.ociManifest],
    ['a JSON array', body([1]), MEDIA_TYPES.ociManifest],
    ['schema 1', body({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/json'],
    ['schema 1 by content type', body(image), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['mismatched media types', body(image), MEDIA_TYPES.dockerManifest],
    ['an unknown media type', body({ ...image, mediaType: 'text/plain' }), 'text/plain'],
    ['a missing config', body({ ...image, config: undefined }), MEDIA_TYPES.ociManifest],
    ['a bad layer digest', body({ ...image, layers: [{ ...image.layers[0], digest: 'sha256:x' }] }), ''],
    ['a negative size', body({ ...image, layers: [{ ...image.layers[0], size: -1 }] }), ''],
  ])('rejects %s', (_label, bytes, contentType) => {
    expect(() => parseManifest(contentType, bytes)).toThrow(ManifestInvalidError);
  });
});
