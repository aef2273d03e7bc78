// Domain tests of upload sessions on the memory driver and an in-memory SQLite index.
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import type { StorageDriver } from '../../storage-drivers/types.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  ChunkOutOfOrderError,
  DigestInvalidError,
} from '../../src/registry/errors.js';
import { UPLOAD_LEASE_MS } from '../../src/registry/uploads.js';
import type { Digest, RepoName } from '../../src/registry/references.js';
import { unguarded } from '../../src/registry/content-guard.js';
import { noPushPolicy } from '../../src/registry/push-policy.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { BlobContent } from '../../src/registry/blobs.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const repo = 'team/app' as RepoName;
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;

function registryOver(driver: StorageDriver, metadata: MetadataStore, now = () => 1_000) {
  let id = 0;
  return createRegistry({
    driver,
    metadata,
    log: silent,
    limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestCacheBytes: 1024 * 1024 },
    deleteEnabled: true,
    blobRedirects: { enabled: false, expiresInSeconds: 60 },
    clock: now,
    newId: () => `00000000-0000-4000-8000-${String(++id).padStart(12, '0')}`,
    guard: unguarded,
    policy: noPushPolicy,
  });
}

async function streamOf(opening: Promise<BlobContent>): Promise<Readable> {
  const content = await opening;
  if ('redirect' in content) throw new Error('memory driver never redirects');
  return content.stream;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('upload sessions', () => {
  const setup = () => {
    const driver = createMemoryDriver();
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    return { driver, metadata, registry: registryOver(driver, metadata) };
  };

  it('publishes a chunked upload only after its digest is verified', async () => {
    const { registry, driver } = setup();
    const data = randomBytes(3000);
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([data.subarray(0, 1000)]), {
      start: 0,
      end: 999,
    });
    await expect(registry.blobs.stat(repo, sha256(data))).rejects.toThrow();
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([data.subarray(1000)]), {
      start: 1000,
      end: 2999,
    });
    await registry.uploads.complete(repo, upload.id, sha256(data));
    expect(await registry.blobs.stat(repo, sha256(data))).toEqual({ size: 3000 });
    expect((await readAll(await streamOf(registry.blobs.open(repo, sha256(data))))).equals(data)).toBe(true);
    const leftovers = [];
    for await (const o of driver.list('uploads/')) leftovers.push(o);
    expect(leftovers).toEqual([]);
  });

  it('resumes an upload after a restart by re-hashing the stored bytes', async () => {
    const { driver, metadata, registry } = setup();
    const data = randomBytes(5000);
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([data.subarray(0, 2000)]));
    const restarted = registryOver(driver, metadata);
    expect((await restarted.uploads.status(repo, upload.id)).size).toBe(2000);
    await restarted.uploads.complete(repo, upload.id, sha256(data), Readable.from([data.subarray(2000)]));
    expect(await restarted.blobs.stat(repo, sha256(data))).toEqual({ size: 5000 });
  });

  it('refuses a chunk that does not start at the current offset, and keeps the session', async () => {
    const { registry } = setup();
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abcd')]), {
      start: 0,
      end: 3,
    });
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('xy')]), { start: 2, end: 3 }),
    ).rejects.toBeInstanceOf(ChunkOutOfOrderError);
    expect((await registry.uploads.status(repo, upload.id)).size).toBe(4);
  });

  it('drops the session and publishes nothing when the digest does not match', async () => {
    const { registry, driver } = setup();
    const upload = await registry.uploads.start(repo);
    const wrong = sha256(Buffer.from('something else'));
    await expect(
      registry.uploads.complete(repo, upload.id, wrong, Readable.from([Buffer.from('payload')])),
    ).rejects.toBeInstanceOf(DigestInvalidError);
    await expect(registry.uploads.status(repo, upload.id)).rejects.toThrow();
    await expect(registry.blobs.stat(repo, sha256(Buffer.from('payload')))).rejects.toThrow();
    const keys = [];
    for await (const o of driver.list('')) keys.push(o.key);
    expect(keys).toEqual([]);
  });

  it('purges sessions idle for longer than the cut-off', async () => {
    let now = 1_000;
    const driver = createMemoryDriver();
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    const registry = registryOver(driver, metadata, () => now);
    const stale = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, stale.id, Readable.from([Buffer.from('old')]));
    now = 5_000;
    const fresh = await registry.uploads.start(repo);
    expect(await registry.uploads.purgeStale(2_000)).toBe(1);
    await expect(registry.uploads.status(repo, stale.id)).rejects.toThrow();
    expect((await registry.uploads.status(repo, fresh.id)).size).toBe(0);
    expect(await driver.stat(`uploads/${stale.id}/data`)).toBeUndefined();
  });
});

describe('one writer per upload session', () => {
  const setup = (now = () => 1_000) => {
    const driver = createMemoryDriver();
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    return { driver, metadata, registry: registryOver(driver, metadata, now) };
  };
  /** A registry whose store fails `method` like an unreachable database while `outage.down`. */
  const withOutageIn = (method: 'releaseUpload' | 'linkBlob') => {
    const driver = createMemoryDriver();
    const inner = createSqliteMetadataStore(openDatabase(':memory:'));
    const outage = { down: false };
    const call = inner[method] as (...args: unknown[]) => Promise<unknown>;
    const metadata: MetadataStore = {
      ...inner,
      [method]: async (...args: unknown[]) => {
        if (outage.down) throw new Error('connect ECONNREFUSED');
        return call(...args);
      },
    };
    return { driver, registry: registryOver(driver, metadata, () => Date.now()), outage };
  };
  const uploadKeys = async (driver: StorageDriver) => {
    const keys = [];
    for await (const o of driver.list('uploads/')) keys.push(o.key);
    return keys;
  };

  it('refuses to cancel, complete or append while a PATCH is still writing, then lets the next one in', async () => {
    const { registry, driver } = setup();
    const upload = await registry.uploads.start(repo);
    const body = new PassThrough();
    const patching = registry.uploads.appendChunk(repo, upload.id, body);
    body.write(Buffer.from('first half,'));
    const data = Buffer.from('first half, second half');
    await expect(registry.uploads.cancel(repo, upload.id)).rejects.toBeInstanceOf(BlobUploadInvalidError);
    await expect(registry.uploads.complete(repo, upload.id, sha256(data))).rejects.toBeInstanceOf(
      BlobUploadInvalidError,
    );
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('x')])),
    ).rejects.toBeInstanceOf(BlobUploadInvalidError);
    body.end(Buffer.from(' second half'));
    expect((await patching).size).toBe(data.length);
    await registry.uploads.complete(repo, upload.id, sha256(data));
    expect((await readAll(await streamOf(registry.blobs.open(repo, sha256(data))))).equals(data)).toBe(true);
    expect(await uploadKeys(driver)).toEqual([]);
  });

  it('leaves neither a record nor bytes when a cancel wins, and a later PATCH finds no session', async () => {
    const { registry, driver, metadata } = setup();
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abc')]));
    await registry.uploads.cancel(repo, upload.id);
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('def')])),
    ).rejects.toBeInstanceOf(BlobUploadUnknownError);
    expect(await metadata.findUpload(upload.id)).toBeUndefined();
    expect(await uploadKeys(driver)).toEqual([]);
  });

  it('waits out the lease of a holder that died, then takes over', async () => {
    let now = 1_000;
    const { registry, metadata } = setup(() => now);
    const upload = await registry.uploads.start(repo);
    await metadata.leaseUpload(upload.id, { holder: 'killed-replica', now, until: now + UPLOAD_LEASE_MS });
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abc')])),
    ).rejects.toBeInstanceOf(BlobUploadInvalidError);
    now += UPLOAD_LEASE_MS;
    expect(
      (await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abc')]))).size,
    ).toBe(3);
  });

  it('adopts bytes a dead holder stored past the recorded size instead of appending after them', async () => {
    const { registry, driver } = setup();
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abc')]));
    // A replica killed mid-append: its bytes reached storage, its size never reached the record.
    await driver.append(`uploads/${upload.id}/data`, Readable.from([Buffer.from('de')]));
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('f')]), { start: 3, end: 3 }),
    ).rejects.toBeInstanceOf(ChunkOutOfOrderError);
    expect((await registry.uploads.status(repo, upload.id)).size).toBe(5);
    // Publishing 'abc' + tail under the digest of 'abc' alone would be a corrupt blob.
    const wrong = sha256(Buffer.from('abcf'));
    const right = sha256(Buffer.from('abcdef'));
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('f')]), {
      start: 5,
      end: 5,
    });
    await expect(registry.uploads.complete(repo, upload.id, wrong)).rejects.toBeInstanceOf(
      DigestInvalidError,
    );
    const again = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, again.id, Readable.from([Buffer.from('abc')]));
    await driver.append(`uploads/${again.id}/data`, Readable.from([Buffer.from('de')]));
    await registry.uploads.complete(repo, again.id, right, Readable.from([Buffer.from('f')]));
    const stored = await readAll(await streamOf(registry.blobs.open(repo, right)));
    expect(stored.toString()).toBe('abcdef');
  });

  it('does not purge a session that a request is writing to', async () => {
    let now = 1_000;
    const { registry, driver } = setup(() => now);
    const upload = await registry.uploads.start(repo);
    const body = new PassThrough();
    const patching = registry.uploads.appendChunk(repo, upload.id, body);
    body.write(Buffer.from('slow client'));
    now += UPLOAD_LEASE_MS - 1; // idle past the cut-off, but its lease is live
    expect(await registry.uploads.purgeStale(now)).toBe(0);
    body.end();
    expect((await patching).size).toBe(11);
    now += UPLOAD_LEASE_MS;
    expect(await registry.uploads.purgeStale(now)).toBe(1);
    expect(await uploadKeys(driver)).toEqual([]);
  });

  it('frees a session whose lease could not be released (store down) as soon as the store is back', async () => {
    const { registry, outage } = withOutageIn('releaseUpload');
    const upload = await registry.uploads.start(repo);
    outage.down = true; // the database goes away while the PATCH is being answered
    const patched = await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('abc')]));
    expect(patched.size).toBe(3); // the outcome stands
    await expect(
      registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('def')])),
    ).rejects.toThrow(/ECONNREFUSED/); // the store is still down: not "another request"
    outage.down = false;
    // At once (no wait for the background retry): the lease was this process's own.
    const resumed = await registry.uploads.appendChunk(repo, upload.id, Readable.from([Buffer.from('def')]));
    expect(resumed.size).toBe(6);
  });

  it('completes a retried PUT whose first attempt stored its body but could not publish it', async () => {
    const { registry, outage } = withOutageIn('linkBlob');
    const data = randomBytes(4096);
    const upload = await registry.uploads.start(repo);
    outage.down = true;
    await expect(
      registry.uploads.complete(repo, upload.id, sha256(data), Readable.from([data])),
    ).rejects.toThrow(/ECONNREFUSED/);
    outage.down = false;
    // The client sends the same PUT again, body and all.
    await registry.uploads.complete(repo, upload.id, sha256(data), Readable.from([data]));
    expect((await readAll(await streamOf(registry.blobs.open(repo, sha256(data))))).equals(data)).toBe(true);
  });

  it('completes a retried PUT after a chunked session was verified and moved but not recorded', async () => {
    const { driver, registry, outage } = withOutageIn('linkBlob');
    const data = Buffer.from('chunked, then published during an outage');
    const upload = await registry.uploads.start(repo);
    await registry.uploads.appendChunk(repo, upload.id, Readable.from([data.subarray(0, 10)]), {
      start: 0,
      end: 9,
    });
    outage.down = true;
    const last = () => Readable.from([data.subarray(10)]);
    await expect(registry.uploads.complete(repo, upload.id, sha256(data), last())).rejects.toThrow(
      /ECONNREFUSED/,
    );
    outage.down = false;
    await registry.uploads.complete(repo, upload.id, sha256(data), last());
    expect((await readAll(await streamOf(registry.blobs.open(repo, sha256(data))))).equals(data)).toBe(true);
    const left = [];
    for await (const o of driver.list('uploads/')) left.push(o.key);
    expect(left).toEqual([]);
    // Another session cannot claim that blob by its digest alone.
    const other = await registry.uploads.start(repo);
    await expect(registry.uploads.complete(repo, other.id, sha256(data))).rejects.toBeInstanceOf(
      DigestInvalidError,
    );
  });
});
