// What the catalog shows of a manifest, worked out at push time (src/registry/manifest-details.ts):
// total size, platforms of an index, and the image config's created time read through the driver.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import type { StorageDriver } from '../../storage-drivers/types.js';
import { blobKey } from '../../src/registry/layout.js';
import { CONFIG_READ_MAX_BYTES, describeManifest } from '../../src/registry/manifest-details.js';
import { MEDIA_TYPES, parseManifest } from '../../src/registry/manifest-format.js';
import type { Digest } from '../../src/registry/references.js';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
const fake = (c: string) => `sha256:${c.repeat(64)}` as Digest;

async function stored(driver: StorageDriver, data: string | Buffer) {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = sha256(bytes);
  await driver.write(blobKey(digest), bytes);
  return { digest, size: bytes.length };
}

function describeBody(driver: StorageDriver, body: object, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify(body));
  return { bytes, details: describeManifest(driver, bytes, parseManifest(mediaType, bytes)) };
}

const imageManifest = (
  config: object,
  layers: Array<{ digest: Digest; size: number }>,
  extra: object = {},
) => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config,
  layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  ...extra,
});

describe('manifest details', () => {
  it("reads an image's created time from its config and sums each distinct referenced digest once", async () => {
    const driver = createMemoryDriver();
    const config = await stored(
      driver,
      JSON.stringify({ created: '2024-03-04T05:06:07.123456789Z', os: 'linux' }),
    );
    const layer = { digest: fake('a'), size: 1000 };
    const { bytes, details } = describeBody(
      driver,
      imageManifest({ mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, [layer, layer]),
      MEDIA_TYPES.ociManifest,
    );
    expect(await details).toEqual({
      totalSize: bytes.length + config.size + 1000,
      platforms: null,
      imageCreated: '2024-03-04T05:06:07.123456789Z',
    });
  });

  it('reads Docker image configs too, and leaves created unknown when it cannot be read or is not there', async () => {
    const driver = createMemoryDriver();
    const docker = await stored(driver, JSON.stringify({ created: '2020-01-01T00:00:00Z' }));
    const dockerManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...docker },
      layers: [],
    };
    expect(
      (await describeBody(driver, dockerManifest, MEDIA_TYPES.dockerManifest).details).imageCreated,
    ).toBe('2020-01-01T00:00:00Z');

    const cases: Array<[string, { digest: Digest; size: number }, string?]> = [
      ['not stored (a mirror fill before its blobs)', { digest: fake('b'), size: 10 }],
      ['not JSON', await stored(driver, 'not json')],
      ['without created', await stored(driver, JSON.stringify({ os: 'linux' }))],
      ['created not a string', await stored(driver, JSON.stringify({ created: 12 }))],
      [
        'an artifact config',
        await stored(driver, JSON.stringify({ created: 'x' })),
        'application/vnd.cncf.helm.config.v1+json',
      ],
    ];
    for (const [, config, mediaType] of cases) {
      const body = imageManifest(
        { mediaType: mediaType ?? 'application/vnd.oci.image.config.v1+json', ...config },
        [],
      );
      expect((await describeBody(driver, body, MEDIA_TYPES.ociManifest).details).imageCreated).toBeNull();
    }
  });

  it('does not read a config larger than the cap', async () => {
    const driver = createMemoryDriver();
    const big = await stored(
      driver,
      JSON.stringify({ created: '2024-01-01T00:00:00Z', pad: 'x'.repeat(CONFIG_READ_MAX_BYTES) }),
    );
    let reads = 0;
    const counting: StorageDriver = {
      ...driver,
      read: (...args) => {
        reads += 1;
        return driver.read(...args);
      },
    };
    const body = imageManifest({ mediaType: 'application/vnd.oci.image.config.v1+json', ...big }, []);
    expect((await describeBody(counting, body, MEDIA_TYPES.ociManifest).details).imageCreated).toBeNull();
    expect(reads).toBe(0);
    // One whose descriptor understates its size is cut off while reading.
    const lying = imageManifest(
      { mediaType: 'application/vnd.oci.image.config.v1+json', digest: big.digest, size: 100 },
      [],
    );
    expect((await describeBody(counting, lying, MEDIA_TYPES.ociManifest).details).imageCreated).toBeNull();
  });

  it("lists an index's platforms once each, in order, leaving out attestation manifests", async () => {
    const driver = createMemoryDriver();
    const child = (c: string, platform?: object) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: fake(c),
      size: 500,
      ...(platform && { platform }),
    });
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        child('1', { os: 'linux', architecture: 'amd64' }),
        child('2', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
        child('3', { os: 'unknown', architecture: 'unknown' }),
        child('4', { os: 'linux', architecture: 'amd64' }),
        child('5'),
        child('1', { os: 'linux', architecture: 'amd64' }),
      ],
    };
    const { bytes, details } = describeBody(driver, index, MEDIA_TYPES.ociIndex);
    expect(await details).toEqual({
      totalSize: bytes.length + 5 * 500,
      platforms: ['linux/amd64', 'linux/arm64/v8'],
      imageCreated: null,
    });
    const empty = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };
    expect((await describeBody(driver, empty, MEDIA_TYPES.ociIndex).details).platforms).toEqual([]);
  });
});
