// Reading, linking and unlinking blobs. Which repository may read which blob comes from the
// metadata index; the bytes come from the driver.
import type { Readable } from 'node:stream';
import { ObjectNotFoundError } from '../../storage-drivers/types.js';
import type { RegistryDeps } from './deps.js';
import { BlobUnknownError, RangeNotSatisfiableError, UnsupportedError } from './errors.js';
import { blobKey } from './layout.js';
import type { Digest, RepoName } from './references.js';

/** A requested byte range before it is checked against the blob's size; suffix = the last N bytes. */
export type RequestedRange = { start: number; end?: number } | { suffix: number };

export type BlobContent = BlobStream | BlobRedirect;

export interface BlobRedirect {
  size: number;
  /** Where the client may fetch the bytes itself. */
  redirect: string;
}

export interface BlobStream {
  size: number;
  /** The range served, inclusive, when the request asked for one. */
  range?: { start: number; end: number };
  stream: Readable;
}

export function resolveRange(requested: RequestedRange, size: number): { start: number; end: number } {
  if ('suffix' in requested) {
    if (requested.suffix === 0 || size === 0) throw new RangeNotSatisfiableError('empty suffix range', size);
    return { start: Math.max(0, size - requested.suffix), end: size - 1 };
  }
  const end = Math.min(requested.end ?? size - 1, size - 1);
  if (requested.start >= size || end < requested.start) {
    throw new RangeNotSatisfiableError(`range starts beyond the blob's ${size} bytes`, size);
  }
  return { start: requested.start, end };
}

/** Repositories looked at per step when looking for one the caller may mount from. */
const MOUNT_SOURCE_BATCH = 500;

export function createBlobService({
  driver,
  metadata,
  deleteEnabled,
  blobRedirects,
  upstream,
  guard,
  policy,
}: RegistryDeps) {
  async function stat(repository: RepoName, digest: Digest): Promise<{ size: number }> {
    const found = await metadata.findRepositoryBlob(repository, digest);
    if (found) return found;
    const size = await upstream?.blobSize(repository, digest);
    if (size === undefined) throw new BlobUnknownError(digest);
    return { size };
  }

  /** A blob the index lacks (or whose bytes went missing): from the upstream of a proxied name. */
  async function openUpstream(repository: RepoName, digest: Digest, requested?: RequestedRange) {
    const fromUpstream = await upstream?.openBlob(repository, digest, requested);
    if (!fromUpstream) throw new BlobUnknownError(digest);
    return fromUpstream;
  }

  /** The blob's size when some repository that `readable` accepts holds it. */
  async function findReadable(
    digest: Digest,
    readable: (repository: RepoName) => boolean,
  ): Promise<{ size: number } | undefined> {
    for (let last: RepoName | undefined; ;) {
      const page = await metadata.listRepositoriesWithBlob(digest, { last, limit: MOUNT_SOURCE_BATCH });
      const source = page.find(readable);
      if (source) return metadata.findRepositoryBlob(source, digest);
      if (page.length < MOUNT_SOURCE_BATCH) return undefined;
      last = page.at(-1);
    }
  }

  return {
    stat,

    async open(
      repository: RepoName,
      digest: Digest,
      requested?: RequestedRange,
      signal?: AbortSignal,
    ): Promise<BlobContent> {
      const found = await metadata.findRepositoryBlob(repository, digest);
      if (!found) return openUpstream(repository, digest, requested);
      const { size } = found;
      if (blobRedirects.enabled && driver.readUrl) {
        const redirect = await driver.readUrl(blobKey(digest), {
          expiresInSeconds: blobRedirects.expiresInSeconds,
        });
        return { size, redirect };
      }
      const range = requested ? resolveRange(requested, size) : undefined;
      try {
        const stream = await driver.read(blobKey(digest), { range, signal });
        upstream?.servedBlob(repository, digest, range ? range.end - range.start + 1 : size);
        return { size, range, stream };
      } catch (err) {
        // Evicted between the lookup and the read: a proxied name fetches it again.
        if (err instanceof ObjectNotFoundError) return openUpstream(repository, digest, requested);
        throw err;
      }
    },

    /**
     * Lets `repository` read a blob stored for `from` (whose reading the caller was allowed). Without
     * `from` (OCI dist-spec: a registry MAY mount from any repository), the blob is taken from a
     * repository the caller may read: any one when `readable` is undefined (no access control), else
     * one that `readable` accepts. A caller learns nothing of blobs it may not read: false either way.
     */
    async mount(
      repository: RepoName,
      digest: Digest,
      from?: RepoName,
      readable?: (repository: RepoName) => boolean,
    ): Promise<boolean> {
      await upstream?.assertWritable(repository);
      const found = from
        ? await metadata.findRepositoryBlob(from, digest)
        : readable
          ? await findReadable(digest, readable)
          : await metadata.findBlob(digest);
      if (!found) return false;
      await policy.checkBlob(repository, digest, found.size);
      // Held from the check that the blob is still stored to its link (content-guard.ts).
      return guard.hold([digest], async () => {
        const stored = await metadata.findBlob(digest);
        if (!stored) return false;
        await metadata.linkBlob(repository, digest, stored.size);
        return true;
      });
    },

    /** Removes the repository's link; the bytes stay until garbage collection. */
    async delete(repository: RepoName, digest: Digest): Promise<void> {
      if (!deleteEnabled) throw new UnsupportedError('deletes are disabled by configuration');
      if (!(await metadata.unlinkBlob(repository, digest))) throw new BlobUnknownError(digest);
    },
  };
}

export type BlobService = ReturnType<typeof createBlobService>;
