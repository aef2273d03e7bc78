// Blob upload sessions (OCI dist-spec "Pushing blobs"): monolithic, chunked and streamed.
//
// Bytes are appended to the session's object under uploads/ while being hashed in the same pass.
// The running sha256 state is kept in memory per session so chunked uploads never re-read data;
// when it is missing (restart, eviction, a failed chunk) it is rebuilt from the stored bytes.
// A blob becomes visible only after its digest is verified: the upload object is moved to its
// content-addressed key and then linked to the repository in the index.
import type { Hash } from 'node:crypto';
import { ObjectNotFoundError } from '../../storage-drivers/types.js';
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
import { blobKey, uploadDataKey, uploadPrefix, uploadPublishedKey } from './layout.js';
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
/**
 * How long an upload's lease lasts without renewal. A holder renews it every third of that while it
 * works, so only a holder that died (a killed replica) or stalled that long loses it to another.
 */
export const UPLOAD_LEASE_MS = 30_000;
/** How soon a lease that could not be released (the store unreachable) is released again. */
const RELEASE_RETRY_MS = 100;

/** Reads and drops a request body that is not needed (so the connection stays usable). */
async function drain(body: Readable): Promise<void> {
  for await (const _chunk of body) {
    // discarded
  }
}

export function createUploadService({
  driver,
  metadata,
  clock,
  newId,
  log,
  upstream,
  guard,
  policy,
}: RegistryDeps) {
  const progress = new Map<string, HashProgress>();
  /** Leases of ended requests of this process that the store could not release yet: upload id → holder. */
  const unreleasedLeases = new Map<string, string>();

  async function find(repository: RepoName, id: string): Promise<UploadRecord> {
    const upload = UPLOAD_ID.test(id) ? await metadata.findUpload(id) : undefined;
    if (!upload || upload.repository !== repository) throw new BlobUploadUnknownError(id);
    return upload;
  }

  /**
   * Runs `work` as the upload's only writer (MetadataStore.leaseUpload): appends, completion,
   * cancellation and the purge of one session exclude each other, in this process and in others
   * sharing the store. The lease is renewed while `work` runs; if it is lost anyway, `work`'s signal
   * aborts so it stops writing. Another holder's live lease is BLOB_UPLOAD_INVALID; an upload that is
   * gone (or belongs to another repository) is BLOB_UPLOAD_UNKNOWN.
   */
  async function withLease<T>(
    repository: RepoName,
    id: string,
    signal: AbortSignal | undefined,
    work: (upload: UploadRecord, holder: string, signal: AbortSignal, ended: () => void) => Promise<T>,
  ): Promise<T> {
    const holder = newId();
    let leasedUntil = 0;
    let sessionEnded = false;
    const lease = async () => {
      const now = clock();
      const leased = await metadata.leaseUpload(id, { holder, now, until: now + UPLOAD_LEASE_MS });
      if (typeof leased === 'object') leasedUntil = now + UPLOAD_LEASE_MS;
      return leased;
    };
    let upload = UPLOAD_ID.test(id) ? await lease() : undefined;
    const unreleased = unreleasedLeases.get(id);
    if (upload === 'busy' && unreleased !== undefined) {
      // Held by a request of this process that has ended but could not release it: release it now.
      await metadata.releaseUpload(id, unreleased);
      unreleasedLeases.delete(id);
      upload = await lease();
    }
    if (upload === 'busy') throw new BlobUploadInvalidError('another request is using this upload session');
    if (!upload) throw new BlobUploadUnknownError(id);
    // Aborts `work` when the request's signal does or when the lease is lost.
    const stop = new AbortController();
    const forward = () => stop.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    if (signal?.aborted) forward();
    const renewal = setInterval(() => {
      lease().then(
        (renewed) => {
          if (typeof renewed !== 'object') {
            stop.abort(new BlobUploadInvalidError('the upload session was taken over'));
          }
        },
        // The store is unreachable for now: keep writing while the lease lasts, try again next time.
        (err: unknown) => log.warn({ err, upload: id }, 'could not renew an upload lease'),
      );
    }, UPLOAD_LEASE_MS / 3);
    renewal.unref();
    try {
      if (upload.repository !== repository) throw new BlobUploadUnknownError(id);
      return await work(upload, holder, stop.signal, () => (sessionEnded = true));
    } finally {
      clearInterval(renewal);
      signal?.removeEventListener('abort', forward);
      // A failed release never changes the outcome of `work` (a published blob stays published).
      // A session that `work` ended (published or cancelled) has no lease left to release.
      if (!sessionEnded) await releaseEventually(id, holder, leasedUntil);
    }
  }

  /**
   * Ends a lease before the response goes out (so the client's next request finds the session free).
   * While the store is unreachable (a database restarting) it keeps trying in the background until
   * it succeeds or the lease has run out anyway: the session is free as soon as the store is back,
   * not only when a lease that outlived the outage ends. Never rejects.
   */
  async function releaseEventually(id: string, holder: string, leasedUntil: number): Promise<void> {
    try {
      await metadata.releaseUpload(id, holder);
      if (unreleasedLeases.get(id) === holder) unreleasedLeases.delete(id);
    } catch (err) {
      if (clock() >= leasedUntil) {
        if (unreleasedLeases.get(id) === holder) unreleasedLeases.delete(id);
        return;
      }
      unreleasedLeases.set(id, holder);
      log.warn({ err, upload: id }, 'could not release an upload lease; retrying');
      setTimeout(() => void releaseEventually(id, holder, leasedUntil), RELEASE_RETRY_MS).unref();
    }
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

  /** Records a leased upload's size; a holder that lost its lease must stop. */
  async function recordSize(upload: UploadRecord, holder: string, size: number): Promise<void> {
    if (!(await metadata.updateUploadSize(upload.id, holder, size, clock()))) {
      throw new BlobUploadInvalidError('the upload session was taken over');
    }
  }

  /**
   * The leased upload as stored. A holder that died mid-append (a killed replica) leaves bytes past
   * the recorded size; they are the client's bytes all the same, so the record adopts them (the client
   * learns the size from GET's Range or a 416) rather than letting the next append land after them.
   */
  async function reconcile(upload: UploadRecord, holder: string): Promise<UploadRecord> {
    const stored = (await driver.stat(uploadDataKey(upload.id)))?.size ?? 0;
    if (stored === upload.size) return upload;
    progress.delete(upload.id);
    await recordSize(upload, holder, stored);
    return { ...upload, size: stored };
  }

  /**
   * Appends `body` to a leased, reconciled upload; returns the upload with its new size. The size is
   * recorded unless `recordProgress` is false (a last chunk about to be published: should publishing
   * fail, the next request's reconcile() adopts the stored size anyway).
   */
  async function append(
    upload: UploadRecord,
    holder: string,
    body: Readable,
    range: ChunkRange | undefined,
    signal: AbortSignal,
    recordProgress = true,
  ): Promise<UploadRecord> {
    if (range && range.start !== upload.size) {
      throw new ChunkOutOfOrderError(`chunk starts at ${range.start}, upload is at ${upload.size}`);
    }
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
      await recordSize(upload, holder, stored?.size ?? upload.size);
      throw sizeError ?? err;
    }
    remember(upload.id, { hash, size });
    if (recordProgress) await recordSize(upload, holder, size);
    if (expected !== undefined && counter.bytes !== expected) {
      throw new SizeInvalidError(`Content-Range declared ${expected} bytes, body had ${counter.bytes}`);
    }
    return { ...upload, size };
  }

  /** Bytes first, record last: if storage is unreachable the record stays for the purge to retry. */
  async function discard(id: string): Promise<void> {
    progress.delete(id);
    await driver.delete(uploadPrefix(id));
    await metadata.deleteUpload(id);
  }

  /**
   * Moves verified upload bytes to the blob's key (unless already stored) and links the blob, holding
   * the digest against the garbage collector from the check of the key to the link (content-guard.ts).
   */
  async function publish(upload: UploadRecord, digest: Digest): Promise<void> {
    await policy.checkBlob(upload.repository, digest, upload.size);
    await guard.hold([digest], () => publishHeld(upload, digest));
  }

  async function publishHeld(upload: UploadRecord, digest: Digest): Promise<void> {
    const key = blobKey(digest);
    if (await driver.stat(key)) {
      await driver.delete(uploadPrefix(upload.id));
    } else if (upload.size === 0 && !(await driver.stat(uploadDataKey(upload.id)))) {
      await driver.write(key, new Uint8Array(0));
    } else {
      await driver.move(uploadDataKey(upload.id), key);
      await driver.delete(uploadPrefix(upload.id));
    }
    try {
      await metadata.linkBlob(upload.repository, digest, upload.size);
      await metadata.deleteUpload(upload.id);
    } catch (err) {
      // The verified bytes are at their blob key and no longer in the session: remember that this
      // session verified them, so a retried PUT can finish (see complete) instead of failing.
      await driver.write(uploadPublishedKey(upload.id), Buffer.from(digest)).catch(() => {});
      throw err;
    }
    progress.delete(upload.id);
  }

  /** The digest this session verified and moved to its blob key before its record failed, if any. */
  async function publishedDigest(id: string): Promise<string | undefined> {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await driver.read(uploadPublishedKey(id))) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString();
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  /** The hex digest of the upload's stored bytes, with `digest`'s algorithm. */
  async function storedDigestHex(upload: UploadRecord, digest: Digest): Promise<string> {
    const algorithm = digestAlgorithm(digest);
    if (algorithm === 'sha256') return (await hashAfterStoredBytes(upload)).copy().digest('hex');
    if (upload.size === 0) return newHash(algorithm).digest('hex');
    return hashStream(await driver.read(uploadDataKey(upload.id)), algorithm);
  }

  async function verify(upload: UploadRecord, digest: Digest): Promise<void> {
    const algorithm = digestAlgorithm(digest);
    const computed = await storedDigestHex(upload, digest);
    if (computed !== digestHex(digest)) {
      await discard(upload.id);
      throw new DigestInvalidError('digest does not match the uploaded content', {
        expected: digest,
        computed: `${algorithm}:${computed}`,
      });
    }
  }

  const service = {
    async start(repository: RepoName): Promise<UploadRecord> {
      await upstream?.assertWritable(repository);
      const now = clock();
      const upload = { id: newId(), repository, size: 0, startedAt: now, updatedAt: now };
      await metadata.createUpload(upload);
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
    ): Promise<UploadRecord> {
      return withLease(repository, id, signal, async (leased, holder, leasedSignal) =>
        append(await reconcile(leased, holder), holder, body, range, leasedSignal),
      );
    },

    /**
     * PUT ?digest=: appends an optional last chunk (at its Content-Range, when given: 416 out of
     * order, as for PATCH), verifies the digest and publishes the blob.
     */
    async complete(
      repository: RepoName,
      id: string,
      digest: Digest,
      body?: Readable,
      signal?: AbortSignal,
      range?: ChunkRange,
    ): Promise<{ digest: Digest; size: number }> {
      return withLease(repository, id, signal, async (leased, holder, leasedSignal, ended) => {
        const stored = await reconcile(leased, holder);
        // Bytes gone from a session that had some: an earlier PUT verified and moved them, then the
        // database failed. The same digest, now at its blob key, finishes the session.
        if (stored.size < leased.size && (await publishedDigest(id)) === digest) {
          const blob = await driver.stat(blobKey(digest));
          if (blob) {
            if (body) await drain(body);
            await publish({ ...stored, size: blob.size }, digest);
            ended();
            return { digest, size: blob.size };
          }
        }
        // A retried PUT whose first attempt stored and verified its body but failed to publish (the
        // database went away): the stored bytes already are the blob, so the repeated body is not
        // appended after them again (which could only end in DIGEST_INVALID).
        const repeated =
          body !== undefined &&
          stored.size > 0 &&
          (await storedDigestHex(stored, digest)) === digestHex(digest);
        if (repeated) await drain(body);
        const upload =
          body && !repeated ? await append(stored, holder, body, range, leasedSignal, false) : stored;
        await verify(upload, digest);
        await publish(upload, digest);
        ended();
        return { digest, size: upload.size };
      });
    },

    /** POST ?digest=: the whole blob in one request. */
    async uploadWhole(repository: RepoName, digest: Digest, body: Readable, signal?: AbortSignal) {
      const upload = await service.start(repository);
      try {
        return await service.complete(repository, upload.id, digest, body, signal);
      } catch (err) {
        await service.cancel(repository, upload.id).catch(() => {});
        throw err;
      }
    },

    async cancel(repository: RepoName, id: string): Promise<void> {
      await withLease(repository, id, undefined, async (_upload, _holder, _signal, ended) => {
        await discard(id);
        ended();
      });
    },

    /** Deletes sessions idle since before `olderThan`, with their bytes; skips those in use. */
    async purgeStale(olderThan: number): Promise<number> {
      let purged = 0;
      for (const upload of await metadata.listUploadsUpdatedBefore(olderThan)) {
        const done = await withLease(upload.repository, upload.id, undefined, async (current) => {
          if (current.updatedAt >= olderThan) return false;
          await discard(upload.id);
          return true;
        }).catch((err: unknown) => {
          if (err instanceof BlobUploadInvalidError || err instanceof BlobUploadUnknownError) return false;
          throw err;
        });
        if (done) purged += 1;
      }
      if (purged > 0) log.info({ purged }, 'purged stale uploads');
      return purged;
    },
  };
  return service;
}

export type UploadService = ReturnType<typeof createUploadService>;
