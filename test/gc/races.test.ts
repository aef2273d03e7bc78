// Pushes racing garbage collection, interleaved deterministically: each test pauses one side at a
// chosen point (inside a push's hold, or between a sweep's record deletion and its object deletion),
// lets the other side run, then resumes. Whatever the order, no manifest ends up referencing content
// that is gone, and a push that lost the race fails with the error a client recovers from. On SQLite
// and, when available, on PostgreSQL.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import type { StorageDriver } from '../../storage-drivers/types.js';
import { ManifestBlobUnknownError } from '../../src/registry/errors.js';
import { blobKey } from '../../src/registry/layout.js';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import {
  createHarness,
  expectNothingDangling,
  postgresDatabase,
  repo,
  sqliteDatabase,
  type GcDatabase,
  type Image,
  type Pushed,
} from './harness.js';

/** A point where one side stops until the test lets it go on. */
function gate() {
  let open!: () => void;
  let reach!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return {
    reached,
    open,
    async pass() {
      reach();
      await opened;
    },
  };
}
type Gate = ReturnType<typeof gate>;

/** The memory driver, with deletions of chosen keys paused at a gate (once). */
function pausingDriver() {
  const inner = createMemoryDriver();
  const gates = new Map<string, Gate>();
  const driver: StorageDriver = {
    ...inner,
    name: inner.name,
    async delete(key) {
      const paused = gates.get(key);
      if (paused) {
        gates.delete(key);
        await paused.pass();
      }
      return inner.delete(key);
    },
  };
  return {
    driver,
    pauseDelete(key: string): Gate {
      const paused = gate();
      gates.set(key, paused);
      return paused;
    },
  };
}

/** Metadata whose next putManifest stops at a gate (a push between its checks and its record). */
function pausingPuts(inner: MetadataStore) {
  let next: Gate | undefined;
  const metadata: MetadataStore = {
    ...inner,
    async putManifest(...args) {
      const paused = next;
      next = undefined;
      if (paused) await paused.pass();
      return inner.putManifest(...args);
    },
  };
  return {
    metadata,
    pauseNextPut(): Gate {
      next = gate();
      return next;
    },
  };
}

/** Settled within `ms`, or still waiting. */
async function stateAfter(promise: Promise<unknown>, ms = 150): Promise<'settled' | 'waiting'> {
  return Promise.race([
    promise.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    sleep(ms).then(() => 'waiting' as const),
  ]);
}

const imageBody = (config: Pushed, layers: Pushed[], subject?: Pushed) => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
  layers: layers.map((l) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: l.digest,
    size: l.size,
  })),
  ...(subject
    ? { subject: { mediaType: MEDIA_TYPES.ociManifest, digest: subject.digest, size: subject.size } }
    : {}),
});

const withPostgres = requirePostgres('garbage collection races on PostgreSQL');
let server: PostgresServer | undefined;
beforeAll(async () => {
  if (withPostgres) server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe.each([
  ['sqlite', () => sqliteDatabase()],
  ['postgres', () => postgresDatabase(server as PostgresServer)],
] as const)('pushes racing garbage collection on %s', (name, open) => {
  if (name === 'postgres' && !withPostgres) return;
  let database: GcDatabase;
  afterEach(async () => {
    await database?.close();
  });
  const setup = async () => {
    database = await open();
    const storage = pausingDriver();
    let puts!: ReturnType<typeof pausingPuts>;
    const h = createHarness(database, {
      driver: storage.driver,
      wrap: { metadata: (m) => (puts = pausingPuts(m)).metadata },
    });
    return { h, storage, puts };
  };

  it('keeps the blobs a manifest put has checked until it records them (the put first)', async () => {
    const { h, puts } = await setup();
    const config = await h.pushBlob('team/app');
    const layer = await h.pushBlob('team/app');
    const paused = puts.pauseNextPut();
    const put = h.putManifest('team/app', 'v1', imageBody(config, [layer]));
    await paused.reached; // checked, held, not yet recorded
    const report = await h.collect();
    expect(report).toMatchObject({ linksRemoved: 0, blobsDeleted: 0 });
    expect(report.held).toBeGreaterThanOrEqual(2);
    paused.open();
    const manifest = await put;
    expect(await h.collect()).toMatchObject({ linksRemoved: 0, blobsDeleted: 0 });
    await expectNothingDangling(h, [
      { repository: 'team/app', image: { ...manifest, config, layers: [layer] } },
    ]);
  });

  it('makes a manifest put wait for a sweep under way, which it then sees (the sweep first)', async () => {
    const { h, storage } = await setup();
    const config = await h.pushBlob('team/app');
    const layer = await h.pushBlob('team/app');
    const paused = storage.pauseDelete(blobKey(layer.digest));
    const run = h.collect();
    await paused.reached; // the record is deleted, the bytes not yet
    expect(await h.metadata.findBlob(layer.digest)).toBeUndefined();
    const put = h.putManifest('team/app', 'v1', imageBody(config, [layer]));
    expect(await stateAfter(put)).toBe('waiting');
    paused.open();
    await expect(put).rejects.toBeInstanceOf(ManifestBlobUnknownError);
    expect((await run).blobsDeleted).toBe(2);
    // The client pushes the blobs it was told are unknown, then the manifest again.
    await h.pushBlob('team/app', config.bytes);
    await h.pushBlob('team/app', layer.bytes);
    const manifest = await h.putManifest('team/app', 'v1', imageBody(config, [layer]));
    await expectNothingDangling(h, [
      { repository: 'team/app', image: { ...manifest, config, layers: [layer] } },
    ]);
  });

  it('makes a blob commit wait for the sweep of its digest, then stores the bytes again', async () => {
    const { h, storage } = await setup();
    const blob = await h.pushBlob('a/app');
    const paused = storage.pauseDelete(blobKey(blob.digest));
    const run = h.collect();
    await paused.reached;
    const commit = h.uploads.uploadWhole(repo('b/app'), blob.digest, Readable.from([blob.bytes]));
    expect(await stateAfter(commit)).toBe('waiting');
    paused.open();
    await commit;
    expect((await run).blobsDeleted).toBe(1);
    expect(await h.stored(blob.digest)).toBe(blob.size);
    expect(await h.metadata.findRepositoryBlob(repo('b/app'), blob.digest)).toEqual({ size: blob.size });
  });

  it('refuses a mount of a blob whose record the sweep has deleted (the client uploads instead)', async () => {
    const { h, storage } = await setup();
    const blob = await h.pushBlob('a/app');
    const paused = storage.pauseDelete(blobKey(blob.digest));
    const run = h.collect();
    await paused.reached;
    expect(await h.blobs.mount(repo('b/app'), blob.digest)).toBe(false);
    paused.open();
    await run;
    expect(await h.metadata.findRepositoryBlob(repo('b/app'), blob.digest)).toBeUndefined();
  });

  it('keeps an untagged manifest that a put is tagging again', async () => {
    const { h, puts } = await setup();
    const image = await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const paused = puts.pauseNextPut();
    const retag = h.putManifest('team/app', 'v2', JSON.parse(image.bytes.toString()) as object);
    await paused.reached;
    const report = await h.collect();
    expect(report).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
    expect(report.held).toBeGreaterThanOrEqual(1); // the manifest (and its blobs, due since pushed)
    paused.open();
    await retag;
    expect(await h.collect()).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
    await expectNothingDangling(h, [{ repository: 'team/app', image }]);
  });

  it('keeps a subject while a referrer of it is being recorded, and collects both once untagged', async () => {
    const { h, puts } = await setup();
    const subject = await h.pushImage('team/app', 'v1');
    const config = await h.pushBlob('team/app');
    await h.deleteTag('team/app', 'v1');
    const paused = puts.pauseNextPut();
    const referrer = h.putManifest('team/app', undefined, imageBody(config, [], subject));
    await paused.reached;
    expect(await h.collect()).toMatchObject({ manifestsDeleted: 0 });
    paused.open();
    const signature = await referrer;
    expect(await h.metadata.listReferrers(repo('team/app'), subject.digest)).toHaveLength(1);
    // Untagged, the subject goes at the next review; its referrer with it: none is left dangling.
    expect(await h.collect()).toMatchObject({ manifestsDeleted: 2 });
    expect(await h.metadata.findManifest(repo('team/app'), signature.digest)).toBeUndefined();
  });

  it('leaves at worst an orphan when the sweeper dies between the record and the bytes', async () => {
    const { h } = await setup();
    const blob = await h.pushBlob('a/app');
    const failing: StorageDriver = {
      ...h.driver,
      name: 'failing',
      delete: () => Promise.reject(new Error('killed')),
    };
    const dying = createHarness(database, { driver: failing });
    await expect(dying.collect({ orphans: false })).rejects.toThrow('killed');
    expect(await h.metadata.findBlob(blob.digest)).toBeUndefined(); // no record...
    expect(await h.stored(blob.digest)).toBe(blob.size); // ...and the bytes, unknown: an orphan
    // A push of the same blob meanwhile finds the bytes and records them again.
    await h.pushBlob('b/app', blob.bytes);
    expect(await h.metadata.findRepositoryBlob(repo('b/app'), blob.digest)).toEqual({ size: blob.size });
    expect(await h.collect({ delayMs: 60_000 })).toMatchObject({ orphansDeleted: 0 });
    expect(await h.stored(blob.digest)).toBe(blob.size);
  });

  it('deletes what a dead sweeper left, once its grace period is over', async () => {
    const { h } = await setup();
    const image: Image = await h.pushImage('team/app', 'v1');
    const blob = await h.pushBlob('a/app');
    const failing: StorageDriver = {
      ...h.driver,
      name: 'failing',
      delete: () => Promise.reject(new Error('killed')),
    };
    await expect(createHarness(database, { driver: failing }).collect({ orphans: false })).rejects.toThrow();
    expect(await h.collect({ orphanGraceMs: 0 })).toMatchObject({
      orphansDeleted: 1,
      orphanBytes: blob.size,
    });
    expect(await h.stored(blob.digest)).toBeUndefined();
    await expectNothingDangling(h, [{ repository: 'team/app', image }]);
  });
});
