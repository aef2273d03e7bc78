// The run history's one recorder (src/gc/runs.ts) around a stand-in collector, on in-memory SQLite:
// a run is recorded once it holds the lease, with its outcome; an attempt refused as busy leaves no
// record; start() answers with the running record and records the outcome of the run it let go on.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GcBusyError, type Collector, type GcRunOptions } from '../../src/gc/collector.js';
import type { GcStore } from '../../src/gc/gc-store.js';
import { emptyReport, type GcReport } from '../../src/gc/report.js';
import { createGcRuns } from '../../src/gc/runs.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteGcStore } from '../../src/metadata/sqlite-gc-store.js';
import { silent } from './harness.js';

const OPTIONS: GcRunOptions = { delayMs: 5_000, orphans: false, orphanGraceMs: 0, uploadMaxAgeMs: 0 };

/** A collector that takes the lease (onStart), then does what `work` says. */
const collectorDoing = (work: (options: GcRunOptions) => Promise<GcReport>): Collector => ({
  async run(options) {
    await options.onStart?.();
    return work(options);
  },
});

describe('gc run recording', () => {
  let db: SqliteDatabase;
  let store: GcStore;
  let now: number;
  const runsWith = (collector: Collector) =>
    createGcRuns({ store, collector, host: 'node-1', clock: () => now, log: silent });

  beforeEach(() => {
    db = openDatabase(':memory:');
    store = createSqliteGcStore(db);
    now = 1_000;
  });
  afterEach(() => db.close());

  it('records a run with what its report counts', async () => {
    const collector = collectorDoing(async (options) => {
      now = 4_000;
      return {
        ...emptyReport(options.dryRun ?? false, options.delayMs, 1_000),
        blobsDeleted: 2,
        bytesFreed: 99,
      };
    });
    await runsWith(collector)
      .recorded('scheduled')
      .run({ ...OPTIONS, dryRun: true });
    expect(await store.listGcRuns(10)).toMatchObject([
      {
        trigger: 'scheduled',
        dryRun: true,
        delayMs: 5_000,
        host: 'node-1',
        startedAt: 1_000,
        finishedAt: 4_000,
        status: 'succeeded',
        counts: { blobsDeleted: 2, bytesFreed: 99, manifestsDeleted: 0 },
      },
    ]);
  });

  it('records a run that throws as failed with the message, and throws it on', async () => {
    const collector = collectorDoing(async () => {
      throw new Error('storage said no');
    });
    await expect(runsWith(collector).recorded('cli').run(OPTIONS)).rejects.toThrow('storage said no');
    expect(await store.listGcRuns(10)).toMatchObject([
      { trigger: 'cli', status: 'failed', error: 'storage said no', counts: null, finishedAt: 1_000 },
    ]);
  });

  it('records nothing for an attempt refused while another run holds the lease', async () => {
    const busy: Collector = {
      run: async () => {
        throw new GcBusyError();
      },
    };
    await expect(runsWith(busy).recorded('cli').run(OPTIONS)).rejects.toBeInstanceOf(GcBusyError);
    await expect(runsWith(busy).start('api', OPTIONS)).rejects.toBeInstanceOf(GcBusyError);
    expect(await store.listGcRuns(10)).toEqual([]);
  });

  it('answers start() with the running record, then records the outcome of the run it let go on', async () => {
    let finish: (report: GcReport) => void = () => {};
    const collector = collectorDoing(
      (options) =>
        new Promise<GcReport>((resolve) => {
          finish = resolve;
          options.signal?.addEventListener('abort', () => resolve(emptyReport(false, 0, 0)));
        }),
    );
    const runs = runsWith(collector);
    const started = await runs.start('api', OPTIONS);
    expect(started).toMatchObject({ trigger: 'api', status: 'running', finishedAt: null });
    expect(await store.getGcRun(started.id)).toEqual(started);
    finish({ ...emptyReport(false, 5_000, 1_000), manifestsDeleted: 3 });
    await runs.stop();
    expect(await store.getGcRun(started.id)).toMatchObject({
      status: 'succeeded',
      counts: { manifestsDeleted: 3 },
    });
  });

  it('cancels the runs start() began when stopped, and records them as failed', async () => {
    const collector = collectorDoing(
      (options) =>
        new Promise<GcReport>((_resolve, reject) => {
          // As the collector's steps check it: stopped before the work began, or during it.
          if (options.signal?.aborted) reject(options.signal.reason);
          options.signal?.addEventListener('abort', () => reject(options.signal?.reason));
        }),
    );
    const runs = runsWith(collector);
    const started = await runs.start('api', OPTIONS);
    await runs.stop();
    expect(await store.getGcRun(started.id)).toMatchObject({ status: 'failed', error: 'the server stopped' });
  });
});
