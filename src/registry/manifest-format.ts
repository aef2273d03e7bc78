// Parses and checks manifest bodies: Docker Image Manifest V2 Schema 2 and manifest lists, OCI image
// manifests and indexes (image-spec v1.1, including artifacts and `subject`). Schema 1 is refused.
import { z } from 'zod';
import { ManifestInvalidError } from './errors.js';
import { parseDigest, type Digest } from './references.js';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const SCHEMA1_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** Content types that say nothing about which manifest format the body is. */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'application/octet-stream']);

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

const annotations = z.record(z.string(), z.string());

const descriptor = z.object({
  mediaType: z.string().min(1),
  digest: z.string(),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  artifactType: z.string().optional(),
});

const imageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptor,
  layers: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

const imageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

type Descriptor = z.infer<typeof descriptor>;

/** A referenced digest with the size its descriptor claims. */
export interface Target {
  digest: Digest;
  size: number;
}

export interface ParsedManifest {
  mediaType: string;
  artifactType: string | null;
  subject: Digest | null;
  annotations: Record<string, string> | null;
  /** Blobs that must be readable in the repository (config and distributable layers). */
  blobs: Target[];
  /** Manifests that must exist in the repository (index children). */
  manifests: Target[];
}

// Docker foreign layers and OCI non-distributable layers live elsewhere (their `urls`), so the
// registry need not hold them.
function isExternalLayer(layer: Descriptor): boolean {
  return (
    (layer.urls?.length ?? 0) > 0 &&
    (layer.mediaType.startsWith('application/vnd.docker.image.rootfs.foreign.') ||
      layer.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.'))
  );
}

function target(d: Descriptor, where: string): Target {
  return { digest: descriptorDigest(d, where), size: d.size };
}

function descriptorDigest(d: Descriptor, where: string): Digest {
  try {
    return parseDigest(d.digest);
  } catch {
    throw new ManifestInvalidError(`${where} has an invalid digest ${JSON.stringify(d.digest)}`);
  }
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || 'manifest'}: ${issue.message}` : 'invalid manifest';
}

function decide(contentType: string, body: Record<string, unknown>): string {
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  const header = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (
    SCHEMA1_MEDIA_TYPES.has(header) ||
    (declared && SCHEMA1_MEDIA_TYPES.has(declared)) ||
    body.schemaVersion === 1
  ) {
    throw new ManifestInvalidError('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  const fromHeader = GENERIC_CONTENT_TYPES.has(header) ? undefined : header;
  if (fromHeader && declared && fromHeader !== declared) {
    throw new ManifestInvalidError(`Content-Type ${fromHeader} does not match mediaType ${declared}`);
  }
  const mediaType =
    fromHeader ?? declared ?? ('manifests' in body ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
  if (!IMAGE_TYPES.has(mediaType) && !INDEX_TYPES.has(mediaType)) {
    throw new ManifestInvalidError(`unsupported manifest media type ${mediaType}`);
  }
  return mediaType;
}

export function parseManifest(contentType: string, bytes: Buffer): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ManifestInvalidError('body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ManifestInvalidError('body is not a JSON object');
  }
  const mediaType = decide(contentType, body as Record<string, unknown>);

  if (INDEX_TYPES.has(mediaType)) {
    const parsed = imageIndex.safeParse(body);
    if (!parsed.success) throw new ManifestInvalidError(firstIssue(parsed.error));
    const index = parsed.data;
    return {
      mediaType,
      artifactType: index.artifactType ?? null,
      subject: index.subject ? descriptorDigest(index.subject, 'subject') : null,
      annotations: index.annotations ?? null,
      blobs: [],
      manifests: index.manifests.map((m, i) => target(m, `manifests[${i}]`)),
    };
  }

  const parsed = imageManifest.safeParse(body);
  if (!parsed.success) throw new ManifestInvalidError(firstIssue(parsed.error));
  const manifest = parsed.data;
  // OCI image-spec v1.1: artifactType, else the config media type, identifies an artifact.
  const artifactType = manifest.artifactType ?? manifest.config.mediaType;
  const blobs = [target(manifest.config, 'config')];
  manifest.layers.forEach((layer, i) => {
    const layerTarget = target(layer, `layers[${i}]`);
    if (!isExternalLayer(layer)) blobs.push(layerTarget);
  });
  return {
    mediaType,
    artifactType,
    subject: manifest.subject ? descriptorDigest(manifest.subject, 'subject') : null,
    annotations: manifest.annotations ?? null,
    blobs,
    manifests: [],
  };
}
