// Manifests: stored as content-addressed blobs, described in the metadata index (media type, size,
// subject, artifact type, references) and pointed at by tags. Manifests are small (capped by
// limits.manifestMaxBytes), so they are the one thing read whole.
import { ObjectNotFoundError } from '../../storage-drivers/types.js';
import type { RegistryDeps } from './deps.js';
import {
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestTooLargeError,
  ManifestUnknownError,
  UnsupportedError,
} from './errors.js';
import { newHash } from './hashing.js';
import { blobKey } from './layout.js';
import { describeManifest } from './manifest-details.js';
import { parseManifest, type ParsedManifest, type Target } from './manifest-format.js';
import { createByteBudgetCache } from './byte-budget-cache.js';
import type { ManifestRecord } from './metadata-store.js';
import {
  digestAlgorithm,
  formatDigest,
  type Digest,
  type Reference,
  type RepoName,
  type Tag,
} from './references.js';

/** Every target must be in the repository (MANIFEST_BLOB_UNKNOWN) with the size its descriptor claims. */
async function assertPresent(
  targets: Target[],
  sizesOf: (digests: Digest[]) => Promise<Map<Digest, number>>,
): Promise<void> {
  const sizes = await sizesOf(targets.map((t) => t.digest));
  for (const { digest, size } of targets) {
    const stored = sizes.get(digest);
    if (stored === undefined) throw new ManifestBlobUnknownError(digest);
    if (stored !== size) {
      throw new ManifestInvalidError(
        `descriptor of ${digest} says ${size} bytes, the stored content has ${stored}`,
      );
    }
  }
}

function describe(reference: Reference): string {
  return reference.kind === 'tag' ? reference.tag : reference.digest;
}

/**
 * Writes a checked manifest's bytes under its digest (once) and records it, with what it references
 * and what the catalog shows of it (manifest-details.ts), in the index; `tag`, when given, then points
 * at it. Shared by pushes and the mirror's cache fills.
 */
export async function storeManifest(
  { driver, metadata }: Pick<RegistryDeps, 'driver' | 'metadata'>,
  repository: RepoName,
  manifest: { digest: Digest; bytes: Buffer; parsed: ParsedManifest },
  tag?: Tag,
): Promise<ManifestRecord> {
  const { digest, bytes, parsed } = manifest;
  if (!(await driver.stat(blobKey(digest)))) await driver.write(blobKey(digest), bytes);
  const record: ManifestRecord = {
    digest,
    mediaType: parsed.mediaType,
    size: bytes.length,
    artifactType: parsed.artifactType,
    subject: parsed.subject,
    annotations: parsed.annotations,
    details: await describeManifest(driver, bytes, parsed),
  };
  await metadata.putManifest(
    repository,
    record,
    { blobs: parsed.blobs.map((t) => t.digest), manifests: parsed.manifests.map((t) => t.digest) },
    tag,
  );
  return record;
}

export function createManifestService({
  driver,
  metadata,
  limits,
  deleteEnabled,
  upstream,
  guard,
  policy,
  pulls,
}: RegistryDeps) {
  // Content addressing makes cached bytes valid forever; only the memory budget evicts them.
  const cache = createByteBudgetCache<Digest>(limits.manifestCacheBytes);

  async function resolve(repository: RepoName, reference: Reference): Promise<ManifestRecord> {
    const fromUpstream = await upstream?.manifest(repository, reference);
    if (fromUpstream) return fromUpstream;
    const record = await (reference.kind === 'tag'
      ? metadata.resolveTag(repository, reference.tag)
      : metadata.findManifest(repository, reference.digest));
    if (!record) throw new ManifestUnknownError(describe(reference));
    return record;
  }

  async function readBytes(record: ManifestRecord): Promise<Buffer> {
    const cached = cache.get(record.digest);
    if (cached) return cached;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of await driver.read(blobKey(record.digest))) chunks.push(chunk as Buffer);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new ManifestUnknownError(record.digest, 'content missing');
      throw err;
    }
    const bytes = Buffer.concat(chunks);
    cache.set(record.digest, bytes);
    return bytes;
  }

  return {
    /** The index entry of a manifest (MANIFEST_UNKNOWN when the repository has none). */
    head: resolve,

    /** The exact bytes of a manifest found by head(). */
    read: readBytes,

    /** A GET answered with the manifest's bytes: counted for "last pulled" (no I/O here). */
    pulled(repository: RepoName, digest: Digest, reference: Reference): void {
      pulls?.count(repository, digest, reference.kind === 'tag' ? reference.tag : undefined);
    },

    /**
     * Stores a manifest after checking its format, its digest (when pushed by digest) and that
     * everything it references is in the repository (MANIFEST_BLOB_UNKNOWN otherwise).
     */
    async put(repository: RepoName, reference: Reference, contentType: string, bytes: Buffer) {
      await upstream?.assertWritable(repository);
      if (bytes.length > limits.manifestMaxBytes) throw new ManifestTooLargeError(limits.manifestMaxBytes);
      const parsed = parseManifest(contentType, bytes);
      const algorithm = reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256';
      const digest = formatDigest(algorithm, newHash(algorithm).update(bytes).digest('hex'));
      if (reference.kind === 'digest' && reference.digest !== digest) {
        throw new DigestInvalidError('manifest digest does not match the body', {
          expected: reference.digest,
          computed: digest,
        });
      }
      const tag = reference.kind === 'tag' ? reference.tag : undefined;
      await policy.checkManifest(repository, { digest, size: bytes.length }, tag);
      // Everything the manifest references, and its own bytes, are held against the garbage collector
      // from the check that they are present until the manifest's record references them; its
      // subject too, so that the collector never deletes a subject while a referrer of it is recorded.
      const held = [
        digest,
        ...parsed.blobs.map((t) => t.digest),
        ...parsed.manifests.map((t) => t.digest),
        ...(parsed.subject ? [parsed.subject] : []),
      ];
      const record = await guard.hold(held, async () => {
        await assertPresent(parsed.blobs, (digests) => metadata.repositoryBlobSizes(repository, digests));
        await assertPresent(parsed.manifests, (digests) =>
          metadata.repositoryManifestSizes(repository, digests),
        );
        return storeManifest({ driver, metadata }, repository, { digest, bytes, parsed }, tag);
      });
      cache.set(digest, bytes);
      return record;
    },

    /** By digest: the manifest and its tags. By tag: the tag only (OCI dist-spec "Deleting tags"). */
    async delete(repository: RepoName, reference: Reference): Promise<void> {
      if (!deleteEnabled) throw new UnsupportedError('deletes are disabled by configuration');
      await (reference.kind === 'tag'
        ? policy.checkTagRemoval(repository, reference.tag)
        : policy.checkManifestRemoval(repository, reference.digest));
      const deleted = await (reference.kind === 'tag'
        ? metadata.deleteTag(repository, reference.tag)
        : metadata.deleteManifest(repository, reference.digest));
      if (!deleted) throw new ManifestUnknownError(describe(reference));
    },
  };
}

export type ManifestService = ReturnType<typeof createManifestService>;
