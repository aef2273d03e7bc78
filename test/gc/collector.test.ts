// Garbage collection runs over the domain (memory driver; SQLite in memory, and PostgreSQL when it
// is available): what goes and what stays, the review delay, dry runs against real runs, orphans,
// uploads, and one run at a time.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GC_RUN_JOB, GcBusyError } from '../../src/gc/collector.js';
import { blobKey, uploadDataKey } from '../../src/registry/layout.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import {
  createHarness,
  expectNothingDangling,
  postgresDatabase,
  repo,
  sha256,
  sqliteDatabase,
  type GcDatabase,
  type Harness,
} from './harness.js';

const HOUR = 3_600_000;
const withPostgres = requirePostgres('garbage collection on PostgreSQL');
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
] as const)('garbage collection on %s', (name, open) => {
  if (name === 'postgres' && !withPostgres) return;
  let database: GcDatabase;
  let offset = 0;
  const setup = async (): Promise<Harness> => {
    database = await open();
    offset = 0;
    return createHarness(database, { clockOffsetMs: () => offset });
  };
  afterEach(async () => {
    await database?.close();
  });

  it('deletes an image whose tag went, keeping the layers another tagged image uses', async () => {
    const h = await setup();
    const base = await h.pushImage('team/app', 'v1', { newLayers: 2 });
    const next = await h.pushImage('team/app', 'v2', { layers: [base.layers[0]!], newLayers: 1 });
    await h.deleteTag('team/app', 'v1');
    const report = await h.collect();
    expect(report).toMatchObject({ manifestsDeleted: 1, blobsDeleted: 3, linksRemoved: 2, held: 0 });
    // The manifest's own bytes, its config and its unshared layer.
    expect(report.bytesFreed).toBe(base.size + base.config.size + base.layers[1]!.size);
    expect(await h.metadata.findManifest(repo('team/app'), base.digest)).toBeUndefined();
    for (const gone of [base.digest, base.config.digest, base.layers[1]!.digest]) {
      expect(await h.stored(gone)).toBeUndefined();
    }
    await expectNothingDangling(h, [{ repository: 'team/app', image: next }]);
    expect(await h.stored(base.layers[0]!.digest)).toBe(base.layers[0]!.size);
    // Nothing more to do.
    expect(await h.collect()).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0, linksRemoved: 0 });
  });

  it('keeps a blob that another repository uses, removing only the link of the repository that no longer does', async () => {
    const h = await setup();
    const a = await h.pushImage('a/app', 'v1');
    const b = await h.pushImage('b/app', 'v1', { layers: a.layers });
    await h.deleteManifest('a/app', a.digest);
    const report = await h.collect();
    expect(report.manifestsDeleted).toBe(0); // deleted by the API, not by the collector
    expect(report.blobsDeleted).toBe(2); // a's manifest bytes and config
    expect(await h.metadata.findRepositoryBlob(repo('a/app'), a.layers[0]!.digest)).toBeUndefined();
    await expectNothingDangling(h, [{ repository: 'b/app', image: b }]);
  });

  it('keeps the children of a tagged index, and collects them with it once its tag goes', async () => {
    const h = await setup();
    const amd = await h.pushImage('team/multi', undefined);
    const arm = await h.pushImage('team/multi', undefined);
    const index = await h.pushIndex('team/multi', 'latest', [amd, arm]);
    await h.pushImage('team/multi', 'other');
    await h.deleteTag('team/multi', 'other'); // something due, so the run reviews
    expect(await h.collect()).toMatchObject({ manifestsDeleted: 1 });
    await expectNothingDangling(h, [
      { repository: 'team/multi', image: amd },
      { repository: 'team/multi', image: arm },
    ]);
    await h.deleteTag('team/multi', 'latest');
    const report = await h.collect();
    // With a delay of 0, what the index's deletion queues (its children, then their blobs) goes too.
    expect(report.manifestsDeleted).toBe(3);
    for (const digest of [index.digest, amd.digest, arm.digest, ...amd.layers.map((l) => l.digest)]) {
      expect(await h.stored(digest)).toBeUndefined();
    }
  });

  it('keeps the referrers of a kept manifest and lets them go with their subject', async () => {
    const h = await setup();
    const image = await h.pushImage('team/app', 'v1');
    const signature = await h.pushImage('team/app', undefined, { subject: image });
    await h.pushImage('team/app', 'v2');
    await h.pushImage('team/app', 'v2'); // v2 moves: something due
    expect((await h.collect()).manifestsDeleted).toBe(1);
    expect(await h.metadata.listReferrers(repo('team/app'), image.digest)).toHaveLength(1);
    await expectNothingDangling(h, [{ repository: 'team/app', image: signature }]);
    await h.deleteTag('team/app', 'v1');
    expect((await h.collect()).manifestsDeleted).toBe(2);
    expect(await h.metadata.findManifest(repo('team/app'), signature.digest)).toBeUndefined();
    expect(await h.stored(signature.layers[0]!.digest)).toBeUndefined();
  });

  it('never collects a manifest pushed by digest that never had a tag', async () => {
    const h = await setup();
    const image = await h.pushImage('team/app', undefined);
    offset = 48 * HOUR;
    const report = await h.collect({ delayMs: 24 * HOUR });
    expect(report).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0, linksRemoved: 0 });
    await expectNothingDangling(h, [{ repository: 'team/app', image }]);
  });

  it('reviews a candidate only once the delay has passed since its latest event', async () => {
    const h = await setup();
    const image = await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const delayMs = 400; // queue times are the database's clock: real time passes here
    expect(await h.collect({ delayMs })).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
    expect(await h.metadata.findManifest(repo('team/app'), image.digest)).toBeDefined();
    await sleep(delayMs + 50);
    // The manifest goes; what its deletion queued (its blobs, its bytes) waits for the delay in turn.
    expect(await h.collect({ delayMs })).toMatchObject({ manifestsDeleted: 1, blobsDeleted: 0 });
    expect(await h.stored(image.config.digest)).toBe(image.config.size);
    await sleep(delayMs + 50);
    expect(await h.collect({ delayMs })).toMatchObject({ blobsDeleted: 3, linksRemoved: 2 });
  });

  it('keeps a blob pushed without a manifest for the delay, then removes it', async () => {
    const h = await setup();
    const blob = await h.pushBlob('team/app');
    expect(await h.collect({ delayMs: HOUR })).toMatchObject({ linksRemoved: 0, blobsDeleted: 0 });
    offset = HOUR + 1000;
    expect(await h.collect({ delayMs: HOUR })).toMatchObject({ linksRemoved: 1, blobsDeleted: 1 });
    expect(await h.stored(blob.digest)).toBeUndefined();
    expect(await h.metadata.findBlob(blob.digest)).toBeUndefined();
  });

  it.each([0, 400])('reports in a dry run what a real run then deletes (delay %i ms)', async (delayMs) => {
    const h = await setup();
    const shared = await h.pushImage('a/app', 'keep', { newLayers: 2 });
    const old = await h.pushImage('a/app', 'old', { layers: [shared.layers[0]!] });
    const child = await h.pushImage('a/multi', undefined);
    await h.pushIndex('a/multi', 'latest', [child]);
    await h.pushImage('a/app', undefined, { subject: old });
    await h.pushImage('b/app', 'x', { layers: old.layers });
    await h.pushBlob('c/loose');
    await h.deleteTag('a/app', 'old');
    await h.deleteTag('a/multi', 'latest');
    await h.deleteTag('b/app', 'x');
    await sleep(delayMs + 50);
    const before = [...(await listAll(h))];
    const dry = await h.collect({ delayMs, dryRun: true });
    expect([...(await listAll(h))]).toEqual(before);
    const real = await h.collect({ delayMs });
    expect(real.manifestsDeleted).toBeGreaterThan(0);
    const fields = [
      'manifestsDeleted',
      'linksRemoved',
      'blobsDeleted',
      'bytesFreed',
      'orphansDeleted',
    ] as const;
    expect(pick(dry, fields)).toEqual(pick(real, fields));
  });

  it('deletes storage objects that no record knows once they stay unknown for the grace period', async () => {
    const h = await setup();
    const lost = randomBytes(500);
    const digest = sha256(lost);
    await h.driver.write(blobKey(digest), lost); // a crash between a sweep's record and its bytes
    await h.driver.write(uploadDataKey('00000000-0000-4000-8000-00000000abcd'), randomBytes(10));
    const kept = await h.pushImage('team/app', 'v1');
    expect(await h.collect({ orphanGraceMs: HOUR })).toMatchObject({ orphansDeleted: 0 });
    expect(await h.collect({ orphanGraceMs: HOUR, dryRun: true })).toMatchObject({ orphansDeleted: 0 });
    offset = HOUR + 1000;
    expect(await h.collect({ orphanGraceMs: HOUR, dryRun: true })).toMatchObject({ orphansDeleted: 2 });
    expect(await h.collect({ orphanGraceMs: HOUR })).toMatchObject({ orphansDeleted: 2, orphanBytes: 510 });
    expect(await h.stored(digest)).toBeUndefined();
    const left = [];
    for await (const object of h.driver.list('uploads/')) left.push(object.key);
    expect(left).toEqual([]);
    await expectNothingDangling(h, [{ repository: 'team/app', image: kept }]);
  });

  it("leaves storage alone when most of it is unknown to the database (another registry's database)", async () => {
    const h = await setup();
    const images = [await h.pushImage('team/app', 'v1'), await h.pushImage('team/app', 'v2')];
    const other = await sqliteDatabase(); // an empty database, pointed at this storage
    try {
      const wrong = createHarness(other, { driver: h.driver });
      const report = await wrong.collect({ orphanGraceMs: 0 });
      expect(report).toMatchObject({ orphansDeleted: 0, orphansLeft: 6 });
      for (const image of images) await expectNothingDangling(h, [{ repository: 'team/app', image }]);
    } finally {
      await other.close();
    }
  });

  it('purges abandoned uploads and deletes what ended sessions left in storage', async () => {
    const h = await setup();
    const abandoned = await h.uploads.start(repo('team/app'));
    await h.driver.write(uploadDataKey(abandoned.id), randomBytes(100));
    const ended = await h.uploads.start(repo('team/app'));
    await h.metadata.deleteUpload(ended.id); // its bytes stay behind (a failed delete)
    await h.driver.write(uploadDataKey(ended.id), randomBytes(100));
    offset = 1000;
    const report = await h.collect({ uploadMaxAgeMs: 500, orphans: false });
    expect(report).toMatchObject({ uploadsPurged: 1, uploadLeftovers: 1 });
    expect(await h.driver.stat(uploadDataKey(abandoned.id))).toBeUndefined();
    expect(await h.driver.stat(uploadDataKey(ended.id))).toBeUndefined();
  });

  it('runs one collection at a time, across processes sharing the database', async () => {
    const h = await setup();
    await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const now = Date.now();
    // Another process's run holds the lease.
    expect(await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'replica-2', now, until: now + HOUR })).toBe(true);
    await expect(h.collect()).rejects.toBeInstanceOf(GcBusyError);
    await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'replica-2', now, until: now });
    expect((await h.collect()).manifestsDeleted).toBe(1);
    // A run gives the lease back when it ends.
    const later = Date.now();
    expect(
      await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'replica-2', now: later, until: later + HOUR }),
    ).toBe(true);
  });
});

async function listAll(h: Harness): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const object of h.driver.list('')) keys.add(object.key);
  return keys;
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Pick<T, K>;
}
