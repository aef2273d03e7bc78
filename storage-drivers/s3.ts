// S3 driver (AWS SDK v3): one object per key below `prefix` in one bucket. Tested against a real Ceph
// RADOS Gateway (scripts/s3-test-server.sh); it needs only standard S3 calls.
//
// Writes stream through lib-storage's Upload: a body up to `partSize` is one PutObject, a longer one a
// multipart upload holding at most about `queueSize + 1` part buffers in memory. Both become visible
// only when complete, and a failed or aborted write aborts its multipart upload, so nothing new is
// left visible. Upload does not hand an abort signal to the requests it sends, so it gets a view of
// the client whose send() carries the call's signal (see `withSignal`). An abort that arrives while
// the final PutObject or CompleteMultipartUpload is already being answered cannot undo it: the call
// rejects, and the complete new value may be visible.
//
// Appends (upload sessions). S3 cannot append, and rewriting the object on every chunk would copy
// the whole upload each time. So an appended object is a base object plus parts stored beside it:
//
//   <key>                                   the first append, with the metadata
//                                           x-amz-meta-berth-append: <generation> (a written
//                                           object gets it by a copy onto itself when first
//                                           appended to)
//   <key>!<generation>.<16-digit offset>    each later append, named by the byte offset it starts at
//
// The object's bytes are the base followed by the parts of the base's generation, in offset order.
// '!' cannot occur in a key (keys.ts), so part names never collide with keys, and since it sorts
// before every character a key may contain, a key's parts are listed right after it. Parts of another
// generation are left over from a value that a write or move replaced: ignored, and deleted with the
// key. Costs: a plain object (no metadata) is read with one GET and stat'ed with one HEAD; an
// appended one adds a LIST of its parts; an append is HEAD + LIST + upload; list() issues a HEAD only
// for keys that have parts. Appends to one key must not run concurrently (the registry allows one
// writer per upload session): two would compute the same offset and one chunk would replace the other.
//
// Moves are copy-then-delete; only the destination's replacement is atomic. A plain object up to
// `multipartCopyThreshold` (5 GiB, the CopyObject limit) is one CopyObject; a larger one is a
// multipart upload of UploadPartCopy ranges of `copyPartSize`. An appended object is copied as one
// multipart upload in which every base or part of at least 5 MiB is copied server-side
// (UploadPartCopy with a byte range), while runs of smaller pieces, which S3 refuses as non-final
// parts, are read through the driver and sent as one 5 MiB UploadPart (a bounded buffer, so SDK
// retries can resend it). Worst case (every chunk under 5 MiB) the whole object passes through the
// driver once, 5 MiB at a time; an appended object under 5 MiB in total becomes one PutObject. A
// failed copy aborts its multipart upload; an upload that cannot be aborted (the server is gone) is
// left for the bucket's AbortIncompleteMultipartUpload lifecycle rule.
//
// Reads. A plain object is one GetObject whose response body is handed to the caller as it arrives
// (no buffering; the caller's pace pulls it through TCP flow control). GetObject requests go through
// a second client whose sockets read into one reusable buffer each (read-buffer-agent.ts): streaming
// a blob then allocates about half as much off-heap memory, and the V8 garbage collections that
// allocation caused were most of a streamed GET's CPU time. It has its own keep-alive pool of up to
// 50 connections, besides the one of the client that sends every other request. One GET per read is
// enough: on the benchmark's Ceph gateway one connection gave curl about 750 MB/s, and two or four
// ranged GETs in parallel no more in total, so parallel ranged reads would add only complexity.
//
// Limits: a key must leave room for the 30-character part suffix within S3's 1,024-byte key limit;
// requestTimeoutMs bounds each request up to its response headers, not a response body being
// streamed to a slow reader.
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomBytes } from 'node:crypto';
import { Readable, Transform, addAbortSignal, pipeline } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertValidKey } from './keys.js';
import { createReadBufferHttpAgent, createReadBufferHttpsAgent } from './read-buffer-agent.js';
import {
  InvalidKeyError,
  ObjectNotFoundError,
  StorageDriverError,
  type ObjectInfo,
  type StorageDriver,
} from './types.js';

export interface S3DriverOptions {
  bucket: string;
  /** Key prefix inside the bucket, e.g. 'registry/' ('' for the whole bucket; a final '/' is added). */
  prefix?: string;
  /** Default 'us-east-1'. */
  region?: string;
  /** An S3-compatible server's URL (Ceph RGW, MinIO…); default: AWS. */
  endpoint?: string;
  /** Address buckets as <endpoint>/<bucket> instead of <bucket>.<host>; most non-AWS servers need it. */
  forcePathStyle?: boolean;
  /** Static keys; when absent, the SDK's default chain (environment, profile, instance role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Multipart upload part size in bytes: 5 MiB to 5 GiB, default 8 MiB. */
  partSize?: number;
  /** Parts uploaded or copied in parallel per call (memory: about (queueSize + 1) × partSize). Default 2. */
  queueSize?: number;
  /** Attempts per request, with the SDK's exponential backoff and jitter between them. Default 3. */
  maxAttempts?: number;
  /** Time for a request to be sent and answered (headers), in ms; 0 for none. Default 60,000. */
  requestTimeoutMs?: number;
  /** Plain objects above this size are copied part by part (UploadPartCopy). At most and default 5 GiB. */
  multipartCopyThreshold?: number;
  /** Size of a server-side copied part: 5 MiB to 5 GiB − 5 MiB, default 128 MiB. */
  copyPartSize?: number;
  /**
   * Endpoint that clients reach for readUrl() links, when it differs from `endpoint` (a public
   * host name or a proxy in front of the store). URLs are signed for this host (SigV4 signs it).
   */
  publicEndpoint?: string;
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** S3 multipart limits: parts but the last are at least 5 MiB, no part exceeds 5 GiB, 10,000 parts. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_SIZE = 5 * GiB;
const MAX_PARTS = 10_000;
const MAX_COPY_OBJECT_SIZE = 5 * GiB;
const DELETE_BATCH = 1000;
/** User metadata of an object that appends extend: the generation its parts are named with. */
const GENERATION_META = 'berth-append';
const PART_NAME = /^(.+)!([0-9a-f]{12})\.([0-9]{16})$/;
const OFFSET_DIGITS = 16;
/** Connections of the GetObject client; the SDK's default for its own agents. */
const READER_MAX_SOCKETS = 50;

/** An object, or the whole of one, taking part in an object's bytes. */
export interface Segment {
  objectKey: string;
  size: number;
}

/** Bytes [start, end) of an object. */
export interface Piece {
  objectKey: string;
  start: number;
  end: number;
}

/** One part of a multipart upload: a server-side copied range, or small pieces sent through the driver. */
export type PlannedPart = { kind: 'copy'; piece: Piece } | { kind: 'stream'; pieces: Piece[]; size: number };

interface Head {
  size: number;
  generation?: string;
}

interface Layout {
  /** The base object then the parts of its generation, in order. */
  segments: Segment[];
  size: number;
  /** Every part object of the key, of any generation. */
  partKeys: string[];
}

/**
 * The parts of a multipart upload that concatenates `segments`: ranges of at least 5 MiB are copied
 * server-side (up to `copyPartSize`, or a little more so no small tail is left), and smaller runs are
 * gathered into 5 MiB parts (the last one may be smaller).
 */
export function planMultipartCopy(segments: readonly Segment[], copyPartSize: number): PlannedPart[] {
  const parts: PlannedPart[] = [];
  let pending: Piece[] = [];
  let pendingSize = 0;
  for (const { objectKey, size } of segments) {
    let position = 0;
    while (position < size) {
      const remaining = size - position;
      if (pendingSize === 0 && remaining >= MIN_PART_SIZE) {
        const length = remaining <= copyPartSize + MIN_PART_SIZE ? remaining : copyPartSize;
        parts.push({ kind: 'copy', piece: { objectKey, start: position, end: position + length } });
        position += length;
        continue;
      }
      const length = Math.min(remaining, MIN_PART_SIZE - pendingSize);
      pending.push({ objectKey, start: position, end: position + length });
      pendingSize += length;
      position += length;
      if (pendingSize === MIN_PART_SIZE) {
        parts.push({ kind: 'stream', pieces: pending, size: pendingSize });
        pending = [];
        pendingSize = 0;
      }
    }
  }
  if (pendingSize > 0) parts.push({ kind: 'stream', pieces: pending, size: pendingSize });
  return parts;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`s3 driver: ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch (err) {
    if (err instanceof InvalidKeyError) return false;
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` at a time; on failure starts no more and waits for the rest. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

/**
 * The client as lib-storage's Upload should see it: every request carries `signal`, except
 * AbortMultipartUpload, which must still go out after the signal fired.
 */
function withSignal(client: S3Client, signal: AbortSignal | undefined): S3Client {
  if (!signal) return client;
  const send = client.send.bind(client) as (command: unknown, options?: object) => Promise<unknown>;
  const signalled = (command: unknown, options?: object) =>
    command instanceof AbortMultipartUploadCommand
      ? send(command, options)
      : send(command, { ...options, abortSignal: signal });
  return new Proxy(client, {
    get: (target, property, receiver) =>
      property === 'send' ? signalled : (Reflect.get(target, property, receiver) as unknown),
  });
}

export function createS3Driver(options: S3DriverOptions): StorageDriver {
  const { bucket, region = 'us-east-1', endpoint, forcePathStyle, credentials } = options;
  const partSize = checkRange('partSize', options.partSize ?? 8 * MiB, MIN_PART_SIZE, MAX_PART_SIZE);
  const queueSize = checkRange('queueSize', options.queueSize ?? 2, 1, 64);
  const maxAttempts = checkRange('maxAttempts', options.maxAttempts ?? 3, 1, 20);
  const requestTimeoutMs = checkRange('requestTimeoutMs', options.requestTimeoutMs ?? 60_000, 0, 3_600_000);
  const multipartCopyThreshold = checkRange(
    'multipartCopyThreshold',
    options.multipartCopyThreshold ?? MAX_COPY_OBJECT_SIZE,
    0,
    MAX_COPY_OBJECT_SIZE,
  );
  const copyPartSize = checkRange(
    'copyPartSize',
    options.copyPartSize ?? 128 * MiB,
    MIN_PART_SIZE,
    MAX_PART_SIZE - MIN_PART_SIZE,
  );
  if (!bucket) throw new RangeError('s3 driver: bucket is required');
  const root =
    !options.prefix || options.prefix.endsWith('/') ? (options.prefix ?? '') : `${options.prefix}/`;
  assertValidKey(root, { prefix: true });

  const clientConfig = {
    region,
    endpoint,
    forcePathStyle,
    credentials,
    maxAttempts,
    retryMode: 'standard',
    // Ceph 16 (and other S3 servers) reject the SDK's default trailing checksums on streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
  const requestHandler = {
    requestTimeout: requestTimeoutMs,
    connectionTimeout: requestTimeoutMs === 0 ? 0 : Math.min(requestTimeoutMs, 10_000),
    throwOnRequestTimeout: true,
  };
  const client = new S3Client({ ...clientConfig, requestHandler });
  // GetObject only (see the header comment): sockets that read into one reusable buffer each.
  const reader = new S3Client({
    ...clientConfig,
    requestHandler: {
      ...requestHandler,
      httpAgent: createReadBufferHttpAgent({ maxSockets: READER_MAX_SOCKETS }),
      httpsAgent: createReadBufferHttpsAgent({ maxSockets: READER_MAX_SOCKETS }),
    },
  });

  // Presigning is local computation: a second client only when links must name another host.
  const signer = options.publicEndpoint
    ? new S3Client({
        region,
        endpoint: options.publicEndpoint,
        forcePathStyle,
        credentials,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      })
    : client;

  const objectKey = (key: string) => `${root}${key}`;
  const partKey = (key: string, generation: string, offset: number) =>
    `${objectKey(key)}!${generation}.${String(offset).padStart(OFFSET_DIGITS, '0')}`;
  const newGeneration = () => randomBytes(6).toString('hex');
  const copySource = (key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signalled = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});

  function parsePart(name: string) {
    const match = PART_NAME.exec(name.slice(root.length));
    if (!match) return undefined;
    const [, key = '', generation = '', offset = ''] = match;
    return { key, generation, offset: Number(offset) };
  }

  async function* listObjects(s3Prefix: string): AsyncGenerator<{ name: string; size: number }> {
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: s3Prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { name: object.Key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async function deleteNames(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      const result = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const [first] = result.Errors ?? [];
      if (first) {
        throw new StorageDriverError(
          `could not delete ${result.Errors?.length} objects, e.g. ${first.Key}: ${first.Code} ${first.Message}`,
        );
      }
    }
  }

  /** Deletes `first` and every object whose name starts with `s3Prefix`, 1,000 per request. */
  async function deleteBelow(s3Prefix: string, first: string[] = []): Promise<void> {
    let batch = first;
    for await (const { name } of listObjects(s3Prefix)) {
      batch.push(name);
      if (batch.length === DELETE_BATCH) {
        await deleteNames(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await deleteNames(batch);
  }

  async function head(key: string): Promise<Head | undefined> {
    try {
      const result = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return { size: result.ContentLength ?? 0, generation: result.Metadata?.[GENERATION_META] };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function layout(key: string, base: Head): Promise<Layout> {
    const parts: Array<Segment & { generation: string; offset: number }> = [];
    for await (const { name, size } of listObjects(`${objectKey(key)}!`)) {
      const part = parsePart(name);
      if (part?.key === key)
        parts.push({ objectKey: name, size, generation: part.generation, offset: part.offset });
    }
    const segments: Segment[] = [{ objectKey: objectKey(key), size: base.size }];
    let size = base.size;
    const current = parts.filter((part) => part.generation === base.generation);
    for (const part of current.sort((a, b) => a.offset - b.offset)) {
      if (part.offset !== size) {
        throw new StorageDriverError(
          `appended parts of ${JSON.stringify(key)} do not continue at byte ${size}`,
        );
      }
      segments.push({ objectKey: part.objectKey, size: part.size });
      size += part.size;
    }
    return { segments, size, partKeys: parts.map((part) => part.objectKey) };
  }

  /** Streams a Readable or a Uint8Array into one object; nothing is visible unless it completes. */
  async function upload(
    target: string,
    body: Readable | Uint8Array,
    signal?: AbortSignal,
    metadata?: Record<string, string>,
  ): Promise<number> {
    signal?.throwIfAborted();
    if (body instanceof Uint8Array) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: target, Body: body, Metadata: metadata }),
        signalled(signal),
      );
      return body.byteLength;
    }
    let bytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    // A failing body destroys `counted`; an abort destroys `counted` and so the body. Either way
    // Upload's read fails, it aborts its multipart upload, and done() rejects.
    pipeline(body, counted, () => {});
    if (signal) addAbortSignal(signal, counted);
    const uploader = new Upload({
      client: withSignal(client, signal),
      params: { Bucket: bucket, Key: target, Body: counted, Metadata: metadata },
      partSize,
      queueSize,
      leavePartsOnError: false,
    });
    try {
      await uploader.done();
    } catch (err) {
      counted.destroy(); // when S3 failed first, release the caller's body (pipeline destroys it)
      throw err;
    }
    return bytes;
  }

  /** The bytes of one piece (a byte range of one stored object). */
  async function readPiece(piece: Piece, signal?: AbortSignal): Promise<Readable> {
    const response = await reader.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: piece.objectKey,
        Range: `bytes=${piece.start}-${piece.end - 1}`,
      }),
      signalled(signal),
    );
    return response.Body as Readable;
  }

  /** Reads pieces (each ≤ 5 MiB in total) into one buffer, so that retries can resend it. */
  async function gather(pieces: readonly Piece[], size: number, signal?: AbortSignal): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(size);
    let filled = 0;
    for (const piece of pieces) {
      const expectedEnd = filled + piece.end - piece.start;
      for await (const chunk of await readPiece(piece, signal)) {
        const bytes = chunk as Buffer;
        if (filled + bytes.length > expectedEnd) throw new StorageDriverError(`${piece.objectKey} changed`);
        bytes.copy(buffer, filled);
        filled += bytes.length;
      }
      if (filled !== expectedEnd) throw new StorageDriverError(`${piece.objectKey} changed during a copy`);
    }
    return buffer;
  }

  /** Makes `target` the concatenation of `segments`, server-side where S3 allows it. */
  async function copyInto(
    target: string,
    segments: readonly Segment[],
    metadata: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<void> {
    const nonEmpty = segments.filter((segment) => segment.size > 0);
    const only = nonEmpty.length === 1 ? nonEmpty[0] : undefined;
    if (nonEmpty.length === 0) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: target, Body: new Uint8Array(0), Metadata: metadata }),
        signalled(signal),
      );
      return;
    }
    if (only && only.size <= multipartCopyThreshold) {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: target,
          CopySource: copySource(only.objectKey),
          MetadataDirective: 'REPLACE',
          Metadata: metadata,
        }),
        signalled(signal),
      );
      return;
    }
    const plan = planMultipartCopy(nonEmpty, copyPartSize);
    if (plan.length > MAX_PARTS) {
      throw new StorageDriverError(
        `copying ${target} would need ${plan.length} parts (S3 allows ${MAX_PARTS})`,
      );
    }
    const [single] = plan;
    if (plan.length === 1 && single?.kind === 'stream') {
      const body = await gather(single.pieces, single.size, signal);
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: target, Body: body, Metadata: metadata }),
        signalled(signal),
      );
      return;
    }
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: target, Metadata: metadata }),
      signalled(signal),
    );
    try {
      const parts = await mapLimit(plan, queueSize, async (part, index): Promise<CompletedPart> => {
        const PartNumber = index + 1;
        if (part.kind === 'copy') {
          const { start, end } = part.piece;
          const result = await client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: target,
              UploadId,
              PartNumber,
              CopySource: copySource(part.piece.objectKey),
              CopySourceRange: `bytes=${start}-${end - 1}`,
            }),
            signalled(signal),
          );
          return { PartNumber, ETag: result.CopyPartResult?.ETag };
        }
        const body = await gather(part.pieces, part.size, signal);
        const result = await client.send(
          new UploadPartCommand({ Bucket: bucket, Key: target, UploadId, PartNumber, Body: body }),
          signalled(signal),
        );
        return { PartNumber, ETag: result.ETag };
      });
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: target,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
        signalled(signal),
      );
    } catch (err) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId }))
        .catch(() => {});
      throw err;
    }
  }

  /** Streams the bytes [start, end] of the concatenation of `segments`, one ranged GET at a time. */
  function concatenate(
    segments: readonly Segment[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Readable {
    const pieces: Piece[] = [];
    let offset = 0;
    for (const segment of segments) {
      const from = Math.max(start, offset);
      const to = Math.min(end + 1, offset + segment.size);
      if (to > from) pieces.push({ objectKey: segment.objectKey, start: from - offset, end: to - offset });
      offset += segment.size;
    }
    async function* bytes(): AsyncGenerator<Buffer> {
      for (const piece of pieces) {
        yield* (await readPiece(piece, signal)) as AsyncIterable<Buffer>;
      }
    }
    const stream = Readable.from(bytes(), { objectMode: false });
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  return {
    name: 's3',

    async stat(key) {
      assertValidKey(key);
      const base = await head(key);
      if (!base) return undefined;
      return { key, size: base.generation ? (await layout(key, base)).size : base.size };
    },

    async read(key, { range, signal } = {}) {
      assertValidKey(key);
      const start = range?.start ?? 0;
      let response: GetObjectCommandOutput | undefined;
      try {
        response = await reader.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: objectKey(key),
            Range: range ? `bytes=${start}-${range.end ?? ''}` : undefined,
          }),
          signalled(signal),
        );
      } catch (err) {
        if (statusOf(err) === 404) throw new ObjectNotFoundError(key);
        // 416: the range starts at or past the end of the stored object (or of an appended base).
        if (statusOf(err) !== 416) throw err;
      }
      const body = response?.Body as Readable | undefined;
      const generation = response?.Metadata?.[GENERATION_META];
      if (body && !generation) return signal ? addAbortSignal(signal, body) : body;
      body?.destroy();
      const base = await head(key);
      if (!base) throw new ObjectNotFoundError(key);
      const segments = base.generation
        ? (await layout(key, base)).segments
        : [{ objectKey: objectKey(key), size: base.size }];
      const size = segments.reduce((sum, segment) => sum + segment.size, 0);
      return concatenate(segments, start, Math.min(range?.end ?? size - 1, size - 1), signal);
    },

    async write(key, body, { signal } = {}) {
      assertValidKey(key);
      return upload(objectKey(key), body, signal);
    },

    async append(key, body, { signal } = {}) {
      assertValidKey(key);
      const base = await head(key);
      if (!base) return upload(objectKey(key), body, signal, { [GENERATION_META]: newGeneration() });
      let { generation } = base;
      let size = base.size;
      if (generation) {
        size = (await layout(key, base)).size;
      } else {
        // A written object becomes appendable: the same bytes, now with a generation.
        generation = newGeneration();
        const segment = { objectKey: objectKey(key), size: base.size };
        await copyInto(objectKey(key), [segment], { [GENERATION_META]: generation }, signal);
      }
      return size + (await upload(partKey(key, generation, size), body, signal));
    },

    async move(from, to) {
      assertValidKey(from);
      assertValidKey(to);
      const base = await head(from);
      if (!base) throw new ObjectNotFoundError(from);
      if (from === to) return;
      const { segments, partKeys } = await layout(from, base);
      try {
        await copyInto(objectKey(to), segments);
      } catch (err) {
        if (statusOf(err) === 404) throw new ObjectNotFoundError(from);
        throw err;
      }
      await deleteNames([objectKey(from), ...partKeys]);
    },

    async delete(keyOrPrefix) {
      assertValidKey(keyOrPrefix, { prefix: true });
      if (keyOrPrefix === '' || keyOrPrefix.endsWith('/')) return deleteBelow(objectKey(keyOrPrefix));
      return deleteBelow(`${objectKey(keyOrPrefix)}!`, [objectKey(keyOrPrefix)]);
    },

    async *list(prefix): AsyncIterable<ObjectInfo> {
      assertValidKey(prefix, { prefix: true });
      // Listed in byte order, so a key's parts come right after it ('!' sorts before key characters).
      let pending: { key: string; size: number; hasParts: boolean } | undefined;
      const finish = async (entry: { key: string; size: number; hasParts: boolean }) => {
        if (!entry.hasParts) return { key: entry.key, size: entry.size };
        const base = await head(entry.key);
        if (!base) return undefined;
        return { key: entry.key, size: base.generation ? (await layout(entry.key, base)).size : base.size };
      };
      for await (const { name, size } of listObjects(objectKey(prefix))) {
        const part = parsePart(name);
        if (part) {
          if (pending?.key === part.key) pending.hasParts = true;
          continue;
        }
        const key = name.slice(root.length);
        if (!isValidKey(key)) continue;
        if (pending) {
          const info = await finish(pending);
          if (info) yield info;
        }
        pending = { key, size, hasParts: false };
      }
      if (pending) {
        const info = await finish(pending);
        if (info) yield info;
      }
    },

    async readUrl(key, { expiresInSeconds }) {
      assertValidKey(key);
      return getSignedUrl(signer, new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }), {
        expiresIn: expiresInSeconds,
      });
    },

    async close() {
      client.destroy();
      reader.destroy();
      if (signer !== client) signer.destroy();
    },
  };
}
