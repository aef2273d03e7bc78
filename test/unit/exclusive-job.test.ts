// Background jobs run in one replica at a time, handed over when the holder stops renewing.
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { startExclusiveJob, type ExclusiveJob } from '../../src/registry/exclusive-job.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('exclusive background jobs', () => {
  const jobs: ExclusiveJob[] = [];
  afterEach(() => jobs.splice(0).forEach((job) => job.stop()));

  function replicas(count: number, clock: () => number) {
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    const runs: string[] = [];
    const started = Array.from({ length: count }, (_, i) => {
      const job = startExclusiveJob({
        name: 'purge',
        intervalMs: 60_000,
        metadata,
        holder: `replica-${i}`,
        clock,
        log: silent,
        work: async () => void runs.push(`replica-${i}`),
      });
      jobs.push(job);
      return job;
    });
    return { started, runs };
  }

  it('runs the work in one replica only, tick after tick', async () => {
    let now = 1_000;
    const { started, runs } = replicas(3, () => now);
    await new Promise((resolve) => setImmediate(resolve)); // the first ticks at start
    for (let round = 0; round < 3; round += 1) {
      now += 60_000;
      await Promise.all(started.map((job) => job.tick()));
    }
    expect(new Set(runs).size).toBe(1);
    expect(runs.length).toBeGreaterThanOrEqual(4);
  });

  it('hands the job to another replica once the holder stops renewing', async () => {
    let now = 1_000;
    const { started, runs } = replicas(2, () => now);
    const [first, second] = started as [ExclusiveJob, ExclusiveJob];
    await new Promise((resolve) => setImmediate(resolve));
    const holder = runs[0];
    const [holderJob, otherJob] = holder === 'replica-0' ? [first, second] : [second, first];
    void holderJob; // the holder dies: it ticks no more (its timer would not fire within this test)
    now += 60_000;
    expect(await otherJob.tick()).toBe(false); // the lease lasts two intervals
    now += 60_001;
    expect(await otherJob.tick()).toBe(true);
    expect(runs.at(-1)).not.toBe(holder);
  });

  it('gives the lease up on stop, after the run in progress, so another replica takes over at once', async () => {
    const now = 1_000;
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    let finishRun = () => {};
    const order: string[] = [];
    const holder = startExclusiveJob({
      name: 'purge',
      intervalMs: 60_000,
      metadata,
      holder: 'a',
      clock: () => now,
      log: silent,
      work: () =>
        new Promise<void>((resolve) => {
          order.push('run started');
          finishRun = () => {
            order.push('run finished');
            resolve();
          };
        }),
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['run started']);
    const other = startExclusiveJob({
      name: 'purge',
      intervalMs: 60_000,
      metadata,
      holder: 'b',
      clock: () => now,
      log: silent,
      work: async () => void order.push('b ran'),
    });
    jobs.push(other);
    expect(await other.tick()).toBe(false);
    const stopped = holder.stop().then(() => order.push('stopped'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['run started']); // stop waits for the run
    finishRun();
    await stopped;
    expect(await other.tick()).toBe(true); // no wait of two intervals
    expect(order).toEqual(['run started', 'run finished', 'stopped', 'b ran']);
  });

  it('keeps ticking after a failed run', async () => {
    const metadata = createSqliteMetadataStore(openDatabase(':memory:'));
    let calls = 0;
    const job = startExclusiveJob({
      name: 'flaky',
      intervalMs: 60_000,
      metadata,
      holder: 'only',
      clock: () => 1,
      log: silent,
      work: async () => {
        calls += 1;
        if (calls === 1) throw new Error('storage down');
      },
    });
    jobs.push(job);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await job.tick()).toBe(true);
    expect(calls).toBe(2);
  });
});
