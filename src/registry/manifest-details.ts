// What the catalog shows of a manifest, worked out once when it is stored (storeManifest): its total
// size, the platforms of an index and the image's `created` time from its config. A config that
// cannot be read (not stored yet, as for a mirror filling a manifest before its blobs; too large;
// not JSON) leaves `created` unknown rather than failing the push.
import type { StorageDriver } from '../../storage-drivers/types.js';
import { blobKey } from './layout.js';
import { isIndexMediaType, type ParsedManifest } from './manifest-format.js';
import type { ManifestDetails } from './metadata-store.js';
import type { Digest } from './references.js';

/** Configs larger than this are not read for their `created` time (real ones are a few KiB). */
export const CONFIG_READ_MAX_BYTES = 256 * 1024;

/** OCI image-spec config.md and Docker Image Manifest V2 Schema 2: the configs that carry `created`. */
const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/** Longest `created` value kept: an RFC 3339 time is about 35 characters. */
const CREATED_MAX_LENGTH = 64;

interface Platform {
  os?: unknown;
  architecture?: unknown;
  variant?: unknown;
}

interface ManifestBody {
  config?: { mediaType?: unknown; digest?: unknown; size?: unknown };
  manifests?: Array<{ platform?: Platform } | null>;
}

/**
 * `os/arch[/variant]` of each child with a platform, distinct, in order. Children whose platform is
 * `unknown/unknown` (buildx attestation manifests) describe no platform and are left out.
 */
export function indexPlatforms(body: ManifestBody): string[] {
  const found: string[] = [];
  for (const child of body.manifests ?? []) {
    const platform = child?.platform;
    if (typeof platform?.os !== 'string' || typeof platform.architecture !== 'string') continue;
    if (platform.os === 'unknown' && platform.architecture === 'unknown') continue;
    const variant =
      typeof platform.variant === 'string' && platform.variant !== '' ? `/${platform.variant}` : '';
    const name = `${platform.os}/${platform.architecture}${variant}`;
    if (!found.includes(name)) found.push(name);
  }
  return found;
}

/** The manifest's bytes plus the descriptor size of each distinct digest it references. */
export function totalSize(bytes: Buffer, parsed: ParsedManifest): number {
  const sizes = new Map<Digest, number>();
  for (const target of [...parsed.blobs, ...parsed.manifests]) sizes.set(target.digest, target.size);
  let total = bytes.length;
  for (const size of sizes.values()) total += size;
  return total;
}

async function readCreated(driver: StorageDriver, digest: Digest): Promise<string | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of await driver.read(blobKey(digest))) {
    length += (chunk as Buffer).length;
    if (length > CONFIG_READ_MAX_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { created?: unknown } | null;
  const created = config?.created;
  return typeof created === 'string' && created.length <= CREATED_MAX_LENGTH ? created : null;
}

/** The details of a parsed manifest whose bytes are `bytes`; reads its config through `driver`. */
export async function describeManifest(
  driver: StorageDriver,
  bytes: Buffer,
  parsed: ParsedManifest,
): Promise<ManifestDetails> {
  // parseManifest has checked the shape; only the fields it does not keep are read here.
  const body = JSON.parse(bytes.toString('utf8')) as ManifestBody;
  const isIndex = isIndexMediaType(parsed.mediaType);
  const config = body.config;
  let imageCreated: string | null = null;
  if (
    !isIndex &&
    config &&
    typeof config.mediaType === 'string' &&
    IMAGE_CONFIG_TYPES.has(config.mediaType) &&
    typeof config.size === 'number' &&
    config.size <= CONFIG_READ_MAX_BYTES
  ) {
    const digest = parsed.blobs[0]?.digest;
    imageCreated = digest ? await readCreated(driver, digest).catch(() => null) : null;
  }
  return {
    totalSize: totalSize(bytes, parsed),
    platforms: isIndex ? indexPlatforms(body) : null,
    imageCreated,
  };
}
