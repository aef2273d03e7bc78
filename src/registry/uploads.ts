// Blob upload sessions (OCI dist-spec "Pushing blobs"): monolithic, chunked and streamed.
//
// Bytes are appended to the session's object under uploads/ while being hashed in the same pass.
// The running sha256 state is kept in memory per session so chunked uploads never re-read data;
// when it is missing (restart, eviction, a failed chunk) it is rebuilt from the stored bytes.
// A blob becomes visible only after its digest is verified: the upload object is moved to its
// content-addressed key and then linked to the repository in the index.
import type { Hash } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { RegistryDeps } from './deps.js';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  DigestInvalidError,
  ChunkOutOfOrderError,
  SizeInvalidError,
} from './errors.js';
import { HashingCounter, hashStream, newHash } from './hashing.js';
import { blobKey, uploadDataKey, uploadPrefix } from './layout.js';
import type { UploadRecord } from './metadata-store.js';
import { digestAlgorithm, digestHex, type Digest, type RepoName } from './references.js';

/** A chunk's declared position, from Content-Range (inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

interface HashProgress {
  hash: Hash;
  size: number;
}

const MAX_TRACKED_HASHES = 10_000;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function createUploadService({ driver, metadata, clock, newId, log }: RegistryDeps) {
  const progress = new Map<string, HashProgress>();
  const writing = new Set<string>();

  function find(repository: RepoName, id: string): UploadRecord {
    const upload = UPLOAD_ID.test(id) ? metadata.findUpload(id) : undefined;
    if (!upload || upload.repository !== repository) throw new BlobUploadUnknownError(id);
    return upload;
  }

  function remember(id: string, entry: HashProgress): void {
    progress.delete(id);
    progress.set(id, entry);
    if (progress.size > MAX_TRACKED_HASHES) progress.delete(progress.keys().next().value as string);
  }

  /** The sha256 state after the upload's stored bytes, rebuilt from storage when not tracked. */
  async function hashAfterStoredBytes(upload: UploadRecord): Promise<Hash> {
    const tracked = progress.get(upload.id);
    if (tracked && tracked.size === upload.size) return tracked.hash;
    const hash = newHash('sha256');
    if (upload.size > 0) {
      for await (const chunk of await driver.read(uploadDataKey(upload.id))) hash.update(chunk as Buffer);
    }
    remember(upload.id, { hash, size: upload.size });
    return hash;
  }

  async function append(upload: UploadRecord, body: Readable, range?: ChunkRange, signal?: AbortSignal) {
    if (range && range.start !== upload.size) {
      throw new ChunkOutOfOrderError(`chunk starts at ${range.start}, upload is at ${upload.size}`);
    }
    if (writing.has(upload.id)) throw new BlobUploadInvalidError('another request is writing to this upload');
    writing.add(upload.id);
    try {
      const hash = await hashAfterStoredBytes(upload);
      const expected = range ? range.end - range.start + 1 : undefined;
      const counter = new HashingCounter(hash, expected);
      // A body longer than its Content-Range destroys the request, which also aborts the driver:
      // report the size problem, not the abort it caused.
      let sizeError: unknown;
      counter.once('error', (err) => (sizeError = err));
      let size: number;
      try {
        size = await driver.append(
          uploadDataKey(upload.id),
          pipeline(body, counter, () => {}),
          { signal },
        );
      } catch (err) {
        // The hash saw bytes the object may not hold: forget it and record what was stored.
        progress.delete(upload.id);
        const stored = await driver.stat(uploadDataKey(upload.id)).catch(() => undefined);
        metadata.updateUploadSize(upload.id, stored?.size ?? upload.size, clock());
        throw sizeError ?? err;
      }
      remember(upload.id, { hash, size });
      metadata.updateUploadSize(upload.id, size, clock());
      if (expected !== undefined && counter.bytes !== expected) {
        throw new SizeInvalidError(`Content-Range declared ${expected} bytes, body had ${counter.bytes}`);
      }
      return { ...upload, size };
    } finally {
      writing.delete(upload.id);
    }
  }

  /** Bytes first, record last: if storage is unreachable the record stays for the purge to retry. */
  async function discard(id: string): Promise<void> {
    progress.delete(id);
    await driver.delete(uploadPrefix(id));
    metadata.deleteUpload(id);
  }

  /** Moves verified upload bytes to the blob's key (unless already stored) and links the blob. */
  async function publish(upload: UploadRecord, digest: Digest): Promise<void> {
    const key = blobKey(digest);
    if (await driver.stat(key)) {
      await driver.delete(uploadPrefix(upload.id));
    } else if (upload.size === 0 && !(await driver.stat(uploadDataKey(upload.id)))) {
      await driver.write(key, new Uint8Array(0));
    } else {
      await driver.move(uploadDataKey(upload.id), key);
      await driver.delete(uploadPrefix(upload.id));
    }
    metadata.linkBlob(upload.repository, digest, upload.size);
    metadata.deleteUpload(upload.id);
    progress.delete(upload.id);
  }

  async function verify(upload: UploadRecord, digest: Digest): Promise<void> {
    const algorithm = digestAlgorithm(digest);
    const computed =
      algorithm === 'sha256'
        ? (await hashAfterStoredBytes(upload)).copy().digest('hex')
        : upload.size === 0
          ? newHash(algorithm).digest('hex')
          : await hashStream(await driver.read(uploadDataKey(upload.id)), algorithm);
    if (computed !== digestHex(digest)) {
      await discard(upload.id);
      throw new DigestInvalidError('digest does not match the uploaded content', {
        expected: digest,
        computed: `${algorithm}:${computed}`,
      });
    }
  }

  const service = {
    start(repository: RepoName): UploadRecord {
      const now = clock();
      const upload = { id: newId(), repository, size: 0, startedAt: now, updatedAt: now };
      metadata.createUpload(upload);
      return upload;
    },

    status: find,

    /** PATCH: appends one chunk (with Content-Range) or a streamed body (without). */
    async appendChunk(
      repository: RepoName,
      id: string,
      body: Readable,
      range?: ChunkRange,
      signal?: AbortSignal,
    ) {
      return append(find(repository, id), body, range, signal);
    },

    /** PUT ?digest=: appends an optional last chunk, verifies the digest and publishes the blob. */
    async complete(
      repository: RepoName,
      id: string,
      digest: Digest,
      body?: Readable,
      signal?: AbortSignal,
    ): Promise<{ digest: Digest; size: number }> {
      let upload = find(repository, id);
      if (body) upload = await append(upload, body, undefined, signal);
      if (writing.has(id)) throw new BlobUploadInvalidError('another request is writing to this upload');
      writing.add(id);
      try {
        await verify(upload, digest);
        await publish(upload, digest);
      } finally {
        writing.delete(id);
      }
      return { digest, size: upload.size };
    },

    /** POST ?digest=: the whole blob in one request. */
    async uploadWhole(repository: RepoName, digest: Digest, body: Readable, signal?: AbortSignal) {
      const upload = service.start(repository);
      try {
        return await service.complete(repository, upload.id, digest, body, signal);
      } catch (err) {
        await discard(upload.id).catch(() => {});
        throw err;
      }
    },

    async cancel(repository: RepoName, id: string): Promise<void> {
      find(repository, id);
      await discard(id);
    },

    /** Deletes sessions idle since before `olderThan`, with their bytes. */
    async purgeStale(olderThan: number): Promise<number> {
      const stale = metadata.listUploadsUpdatedBefore(olderThan).filter((u) => !writing.has(u.id));
      for (const upload of stale) await discard(upload.id);
      if (stale.length > 0) log.info({ purged: stale.length }, 'purged stale uploads');
      return stale.length;
    },
  };
  return service;
}

export type UploadService = ReturnType<typeof createUploadService>;
