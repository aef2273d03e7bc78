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

export interface ManifestBody {
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

/**
 * The image config a manifest names, parsed, when it is an image config (not an artifact's) of at most
 * CONFIG_READ_MAX_BYTES stored here; null otherwise (an index, an artifact, too large, not stored, not
 * JSON). Shared by the details worked out at push and the management API's manifest view.
 */
export async function readImageConfig(driver: StorageDriver, body: ManifestBody): Promise<object | null> {
  const config = body.config;
  if (
    !config ||
    typeof config.mediaType !== 'string' ||
    !IMAGE_CONFIG_TYPES.has(config.mediaType) ||
    typeof config.size !== 'number' ||
    config.size > CONFIG_READ_MAX_BYTES ||
    typeof config.digest !== 'string'
  ) {
    return null;
  }
  try {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of await driver.read(blobKey(config.digest as Digest))) {
      length += (chunk as Buffer).length;
      if (length > CONFIG_READ_MAX_BYTES) return null;
      chunks.push(chunk as Buffer);
    }
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : null;
  } catch {
    return null;
  }
}

function createdOf(config: object | null): string | null {
  const created = (config as { created?: unknown } | null)?.created;
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
  // The config's digest was checked by parseManifest: it is parsed.blobs[0] of an image manifest.
  const imageCreated = isIndex ? null : createdOf(await readImageConfig(driver, body));
  return {
    totalSize: totalSize(bytes, parsed),
    platforms: isIndex ? indexPlatforms(body) : null,
    imageCreated,
  };
}
