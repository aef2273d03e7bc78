// The content guard and the sweeper over a real SQLite GcStore: holds wait for sweeps (bounded),
// outlive their lifetime while the work runs, end with it; a sweep whose marker expired leaves the
// bytes alone.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { createContentGuard } from '../../src/gc/guard.js';
import { createSweeper } from '../../src/gc/sweep.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteGcStore } from '../../src/metadata/sqlite-gc-store.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import { blobKey } from '../../src/registry/layout.js';
import type { Digest } from '../../src/registry/references.js';
import { silent } from './harness.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

describe('content guard', () => {
  let db: SqliteDatabase;
  afterEach(() => db?.close());
  const setup = (options: { ttlMs?: number; waitMs?: number } = {}) => {
    db = openDatabase(':memory:');
    const store = createSqliteGcStore(db);
    const guard = createContentGuard({ store, clock: Date.now, newId: randomUUID, log: silent, ...options });
    const lease = (holder = 'sweeper', ms = 60_000) => ({ holder, now: Date.now(), until: Date.now() + ms });
    return { store, guard, lease };
  };

  it('holds its digests while the work runs and releases them after, also when the work fails', async () => {
    const { store, guard, lease } = setup();
    await guard.hold([digest('a'), digest('a'), digest('b')], async () => {
      expect(await store.beginSweep(digest('a'), lease())).toEqual({ sweeping: false, reason: 'held' });
      expect(await store.beginSweep(digest('b'), lease())).toEqual({ sweeping: false, reason: 'held' });
    });
    await expect(guard.hold([digest('c')], () => Promise.reject(new Error('push failed')))).rejects.toThrow(
      'push failed',
    );
    for (const d of ['a', 'b', 'c'])
      expect((await store.beginSweep(digest(d), lease(d))).sweeping).toBe(true);
  });

  it('waits while one of its digests is being swept and goes on once the sweep ends', async () => {
    const { store, guard, lease } = setup();
    await store.beginSweep(digest('a'), lease());
    let ran = false;
    const held = guard.hold([digest('b'), digest('a')], async () => void (ran = true));
    await sleep(100);
    expect(ran).toBe(false);
    await store.endSweep(digest('a'), 'sweeper');
    await held;
    expect(ran).toBe(true);
  });

  it('gives up after its bounded wait with 503 UNAVAILABLE', async () => {
    const { store, guard, lease } = setup({ waitMs: 200 });
    await store.beginSweep(digest('a'), lease());
    const started = Date.now();
    const refused = await guard.hold([digest('a')], async () => 'ran').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('renews a hold that outlives its lifetime while the work runs', async () => {
    const { store, guard, lease } = setup({ ttlMs: 90 });
    await guard.hold([digest('a')], async () => {
      await sleep(300);
      expect(await store.beginSweep(digest('a'), lease())).toEqual({ sweeping: false, reason: 'held' });
    });
  });

  it('never fails a change whose hold cannot be released: the hold expires instead', async () => {
    const { store } = setup();
    const guard = createContentGuard({
      store: { ...store, releaseHold: () => Promise.reject(new Error('database gone')) },
      clock: Date.now,
      newId: randomUUID,
      log: silent,
    });
    expect(await guard.hold([digest('a')], async () => 'done')).toBe('done');
  });
});

describe('sweeper', () => {
  let db: SqliteDatabase;
  afterEach(() => db?.close());

  it('leaves the bytes alone when its marker expired before it could delete them', async () => {
    db = openDatabase(':memory:');
    const store = createSqliteGcStore(db);
    const driver = createMemoryDriver();
    let now = Date.now();
    const sweeper = createSweeper({
      store,
      driver,
      clock: () => now,
      newId: randomUUID,
      log: silent,
      ttlMs: 1_000,
    });
    await driver.write(blobKey(digest('a')), Buffer.from('bytes'));
    const lease = sweeper.lease();
    expect(await store.beginSweep(digest('a'), lease)).toEqual({ sweeping: true, size: null });
    now += 2_000; // stalled past the marker's end: a writer may have stored and linked it meanwhile
    expect(await sweeper.finish(digest('a'), lease, null)).toEqual({ swept: false, reason: 'lost' });
    expect(await driver.stat(blobKey(digest('a')))).toBeDefined();
    // A fresh sweep deletes them, and reports their size.
    expect(await sweeper.sweepUnused(digest('a'))).toEqual({ swept: true, bytes: 5 });
    expect(await driver.stat(blobKey(digest('a')))).toBeUndefined();
  });
});
