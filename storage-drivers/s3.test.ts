// The S3 driver against a real Ceph RADOS Gateway, started by scripts/s3-test-server.sh (and stopped
// again if this file started it). Without the Ceph binaries these tests are skipped with a warning,
// except in CI (CI=true), where that is a failure.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDriverConformance } from './conformance.js';
import { createS3Driver, planMultipartCopy, type S3DriverOptions } from './s3.js';
import type { StorageDriver } from './types.js';

const MiB = 1024 * 1024;
const SCRIPT = fileURLToPath(new URL('../scripts/s3-test-server.sh', import.meta.url));
const BUCKET = 'berth-test';
const REQUIRED = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'curl'];
const missing = REQUIRED.filter(
  (binary) => !(process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, binary))),
);
const inCi = process.env.CI === 'true';

if (missing.length > 0 && !inCi) {
  console.warn(
    `\n*** SKIPPING the S3 driver tests: ${missing.join(', ')} not found. ` +
      'Install them with: apt-get install -y ceph-mon ceph-osd radosgw ceph-common curl ***\n',
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `size` random bytes in 1 MiB chunks, then optionally an error; `digest()` hashes what was produced. */
function generated(size: number, { failAfter }: { failAfter?: number } = {}) {
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && produced >= failAfter) {
        this.destroy(new Error('client went away'));
        return;
      }
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(MiB, size - produced));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

async function streamSha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A local TCP server that accepts connections and never answers. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('planMultipartCopy', () => {
  it('copies large ranges server-side and gathers small runs into 5 MiB parts', () => {
    const plan = planMultipartCopy(
      [
        { objectKey: 'a', size: 3 * MiB },
        { objectKey: 'b', size: 4 * MiB },
        { objectKey: 'c', size: 12 * MiB },
        { objectKey: 'd', size: 1 },
      ],
      5 * MiB,
    );
    expect(plan).toEqual([
      {
        kind: 'stream',
        size: 5 * MiB,
        pieces: [
          { objectKey: 'a', start: 0, end: 3 * MiB },
          { objectKey: 'b', start: 0, end: 2 * MiB },
        ],
      },
      {
        kind: 'stream',
        size: 5 * MiB,
        pieces: [
          { objectKey: 'b', start: 2 * MiB, end: 4 * MiB },
          { objectKey: 'c', start: 0, end: 3 * MiB },
        ],
      },
      { kind: 'copy', piece: { objectKey: 'c', start: 3 * MiB, end: 12 * MiB } },
      { kind: 'stream', size: 1, pieces: [{ objectKey: 'd', start: 0, end: 1 }] },
    ]);
  });

  it('keeps every part but the last at 5 MiB or more, covering every byte once', () => {
    for (let round = 0; round < 200; round++) {
      const segments = Array.from({ length: 1 + (round % 9) }, (_, i) => ({
        objectKey: `s${i}`,
        size: Math.floor(Math.random() * (round % 2 ? 14 : 3) * MiB),
      }));
      const plan = planMultipartCopy(segments, 5 * MiB + (round % 3) * MiB);
      const covered = plan.flatMap((part) => (part.kind === 'copy' ? [part.piece] : part.pieces));
      const sizes = plan.map((part) =>
        part.kind === 'copy' ? part.piece.end - part.piece.start : part.size,
      );
      sizes.slice(0, -1).forEach((size) => expect(size).toBeGreaterThanOrEqual(5 * MiB));
      sizes.forEach((size) => expect(size).toBeLessThanOrEqual(5 * 1024 * MiB));
      const expected = segments.filter((s) => s.size > 0).map((s) => `${s.objectKey}:0`);
      const starts = covered.filter((piece) => piece.start === 0).map((piece) => `${piece.objectKey}:0`);
      expect(starts).toEqual(expected);
      for (let i = 1; i < covered.length; i++) {
        const [previous, piece] = [covered[i - 1], covered[i]];
        if (piece && previous && piece.start !== 0) {
          expect([piece.objectKey, piece.start]).toEqual([previous.objectKey, previous.end]);
        }
      }
      const total = segments.reduce((sum, s) => sum + s.size, 0);
      expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(total);
    }
  });
});

describe('createS3Driver options', () => {
  it('rejects out-of-range sizes, naming the option', () => {
    expect(() => createS3Driver({ bucket: 'b', partSize: MiB })).toThrow(/partSize/);
    expect(() => createS3Driver({ bucket: 'b', multipartCopyThreshold: 6 * 1024 * MiB })).toThrow(
      /multipartCopyThreshold/,
    );
    expect(() => createS3Driver({ bucket: '' })).toThrow(/bucket/);
  });
});

describe.runIf(missing.length > 0 && inCi)('S3 test server', () => {
  it('has the Ceph binaries in CI', () => {
    expect(missing, 'apt-get install -y ceph-mon ceph-osd radosgw ceph-common curl').toEqual([]);
  });
});

describe.skipIf(missing.length > 0)('s3 driver against Ceph RADOS Gateway', () => {
  let server: Record<string, string> = {};
  let base: S3DriverOptions = { bucket: BUCKET };
  let raw: S3Client;

  beforeAll(async () => {
    const started = Date.now();
    const { stdout } = await promisify(execFile)('bash', [SCRIPT, 'up'], { timeout: 170_000 });
    server = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
    console.info(
      `S3 test server ${server.BERTH_S3_STARTED === '1' ? 'started' : 'found running'} in ${Date.now() - started} ms`,
    );
    base = {
      bucket: BUCKET,
      endpoint: server.BERTH_S3_ENDPOINT,
      region: server.BERTH_S3_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: server.BERTH_S3_ACCESS_KEY ?? '',
        secretAccessKey: server.BERTH_S3_SECRET_KEY ?? '',
      },
    };
    raw = new S3Client({
      endpoint: base.endpoint,
      region: base.region,
      forcePathStyle: true,
      credentials: base.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await raw.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((err: unknown) => {
      if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
    });
  });

  afterAll(async () => {
    raw?.destroy();
    if (server.BERTH_S3_STARTED === '1') {
      await promisify(execFile)('bash', [SCRIPT, 'down'], { timeout: 60_000 });
    }
  });

  const freshPrefix = (label: string) => `${label}/${randomUUID()}/`;

  async function rawKeys(prefix: string): Promise<string[]> {
    const page = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (page.Contents ?? []).map((object) => (object.Key ?? '').slice(prefix.length));
  }

  async function etag(key: string): Promise<string> {
    return (await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ETag ?? '';
  }

  async function openUploads(prefix: string): Promise<number> {
    const result = await raw.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
    return result.Uploads?.length ?? 0;
  }

  /** A driver on a fresh prefix, closed and emptied after `body`. */
  async function withDriver(
    label: string,
    extra: Partial<S3DriverOptions>,
    body: (driver: StorageDriver, prefix: string) => Promise<void>,
  ) {
    const prefix = freshPrefix(label);
    const driver = createS3Driver({ ...base, ...extra, prefix });
    try {
      await body(driver, prefix);
    } finally {
      await driver.delete('');
      await driver.close?.();
    }
  }

  describeDriverConformance('s3', async () => {
    const driver = createS3Driver({ ...base, prefix: freshPrefix('conformance') });
    return { driver, cleanup: async () => driver.close?.() };
  });

  it('gives a presigned URL that serves the object, and refuses a tampered one', async () => {
    await withDriver('presign', {}, async (driver) => {
      const data = randomBytes(4096);
      await driver.write('blob/data', data);
      const url = await driver.readUrl!('blob/data', { expiresInSeconds: 60 });
      const served = await fetch(url);
      expect(served.status).toBe(200);
      expect(Buffer.from(await served.arrayBuffer()).equals(data)).toBe(true);
      const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } });
      expect(ranged.status).toBe(206);
      expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
      const tampered = new URL(url);
      tampered.pathname = tampered.pathname.replace('blob/data', 'blob/other');
      expect((await fetch(tampered)).status).toBe(403);
    });
  });

  it('signs links for the public endpoint when one is given', async () => {
    const publicEndpoint = base.endpoint?.replace('127.0.0.1', 'localhost') ?? '';
    await withDriver('presign-public', { publicEndpoint }, async (driver) => {
      await driver.write('blob/data', Buffer.from('public'));
      const url = await driver.readUrl!('blob/data', { expiresInSeconds: 60 });
      expect(new URL(url).host).toBe(new URL(publicEndpoint).host);
      const served = await fetch(url);
      expect(served.status).toBe(200);
      expect(await served.text()).toBe('public');
    });
  });

  it('round-trips 40 MiB in 5 MiB parts with its sha256', { timeout: 120_000 }, async () => {
    await withDriver('large', { partSize: 5 * MiB, queueSize: 2 }, async (driver, prefix) => {
      const body = generated(40 * MiB);
      expect(await driver.write('big/data', body.stream)).toBe(40 * MiB);
      expect(await driver.stat('big/data')).toEqual({ key: 'big/data', size: 40 * MiB });
      expect(await streamSha256(await driver.read('big/data'))).toBe(body.digest());
      expect(await etag(`${prefix}big/data`)).toMatch(/-8"$/);
    });
  });

  it('copies an object above the threshold part by part (UploadPartCopy)', { timeout: 60_000 }, async () => {
    const options = { multipartCopyThreshold: 5 * MiB, copyPartSize: 5 * MiB };
    await withDriver('copy', options, async (driver, prefix) => {
      const data = randomBytes(12 * MiB + 3);
      await driver.write('from/data', Readable.from([data]));
      await driver.move('from/data', 'to/data');
      expect(await driver.stat('from/data')).toBeUndefined();
      expect(sha256(await readAll(await driver.read('to/data')))).toBe(sha256(data));
      expect(await etag(`${prefix}to/data`)).toMatch(/-2"$/);
      expect(await rawKeys(prefix)).toEqual(['to/data']);
    });
  });

  it('assembles appended chunks for stat, ranged reads, list and move', { timeout: 60_000 }, async () => {
    await withDriver('append', {}, async (driver, prefix) => {
      const chunks = [3 * MiB, 6 * MiB, 100, 0, 2 * MiB + 1].map((size) => randomBytes(size));
      const whole = Buffer.concat(chunks);
      let size = 0;
      for (const chunk of chunks) {
        size += chunk.length;
        expect(await driver.append('up/data', Readable.from([chunk]))).toBe(size);
      }
      expect(await driver.stat('up/data')).toEqual({ key: 'up/data', size: whole.length });
      expect(sha256(await readAll(await driver.read('up/data')))).toBe(sha256(whole));
      const read = async (start: number, end?: number) =>
        readAll(await driver.read('up/data', { range: { start, end } }));
      expect(
        (await read(3 * MiB - 10, 9 * MiB + 50)).equals(whole.subarray(3 * MiB - 10, 9 * MiB + 51)),
      ).toBe(true);
      expect((await read(9 * MiB + 20)).equals(whole.subarray(9 * MiB + 20))).toBe(true);
      expect((await read(whole.length + 5)).length).toBe(0);
      await driver.write('up/other', Buffer.from('x'));
      const listed = [];
      for await (const info of driver.list('up/')) listed.push(info);
      expect(listed).toEqual([
        { key: 'up/data', size: whole.length },
        { key: 'up/other', size: 1 },
      ]);
      // The base, a part per non-empty later chunk (the empty one's part was replaced by the next), 'other'.
      expect((await rawKeys(prefix)).length).toBe(chunks.length);

      await driver.move('up/data', 'blob/data');
      expect(await driver.stat('up/data')).toBeUndefined();
      expect(sha256(await readAll(await driver.read('blob/data')))).toBe(sha256(whole));
      expect(await rawKeys(prefix)).toEqual(['blob/data', 'up/other']);
      expect(await openUploads(prefix)).toBe(0);
    });
  });

  it('deletes the parts of every generation of an appended key with the key', async () => {
    await withDriver('generations', {}, async (driver, prefix) => {
      await driver.write('k', Buffer.from('abc'));
      await driver.append('k', Readable.from([Buffer.from('def')]));
      await driver.write('k', Buffer.from('xyz'));
      await driver.append('k', Readable.from([Buffer.from('w')]));
      expect((await readAll(await driver.read('k'))).toString()).toBe('xyzw');
      expect((await rawKeys(prefix)).length).toBe(3); // the base and one part of each generation
      await driver.delete('k');
      expect(await rawKeys(prefix)).toEqual([]);
    });
  });

  it('moves a small appended object through one PutObject', async () => {
    await withDriver('small-move', {}, async (driver, prefix) => {
      for (const part of ['one ', 'two ', 'three'])
        await driver.append('u', Readable.from([Buffer.from(part)]));
      await driver.move('u', 'v');
      expect((await readAll(await driver.read('v'))).toString()).toBe('one two three');
      expect(await etag(`${prefix}v`)).not.toMatch(/-\d+"$/);
      expect(await rawKeys(prefix)).toEqual(['v']);
    });
  });

  it('aborts the multipart upload of a write that fails or is aborted', { timeout: 60_000 }, async () => {
    await withDriver('abort', { partSize: 5 * MiB, queueSize: 1 }, async (driver, prefix) => {
      const failing = generated(20 * MiB, { failAfter: 12 * MiB });
      await expect(driver.write('failed', failing.stream)).rejects.toThrow('client went away');
      expect(await driver.stat('failed')).toBeUndefined();
      expect(await openUploads(prefix)).toBe(0);

      const controller = new AbortController();
      const stalled = new Readable({ read() {} });
      stalled.push(randomBytes(11 * MiB));
      const pending = driver.write('aborted', stalled, { signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      await expect(pending).rejects.toThrow();
      expect(await driver.stat('aborted')).toBeUndefined();
      expect(await openUploads(prefix)).toBe(0);
      expect(await rawKeys(prefix)).toEqual([]);
    });
  });

  it('accepts retry and timeout options, and gives up on a silent server in bounded time', async () => {
    await withDriver(
      'options',
      { maxAttempts: 5, requestTimeoutMs: 10_000, queueSize: 2 },
      async (driver) => {
        await driver.write('k', Buffer.from('ok'));
        expect(await driver.stat('k')).toEqual({ key: 'k', size: 2 });
      },
    );
    const silent = await silentServer();
    const driver = createS3Driver({
      ...base,
      endpoint: `http://127.0.0.1:${silent.port}`,
      maxAttempts: 2,
      requestTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      await expect(driver.stat('k')).rejects.toThrow(/timeout|exceeded/i);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await driver.close?.();
      await silent.close();
    }
  });
});
