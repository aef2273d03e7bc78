// `berth gc` as users run it (the built CLI) on a data directory that Berth's stores and filesystem
// storage fill: dry run, real run, the JSON report, the run history, waiting for another process's
// run, refusals.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { GC_RUN_JOB } from '../../src/gc/collector.js';
import type { GcReport } from '../../src/gc/report.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { createHarness, sqliteFileDatabase, type GcDatabase, type Harness } from './harness.js';

describe('berth gc', () => {
  let dataDir: string;
  let database: GcDatabase;
  let h: Harness;
  beforeAll(async () => {
    await ensureBuilt();
  }, 180_000);
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-gc-cli-'));
    database = await sqliteFileDatabase(join(dataDir, 'berth.db'));
    h = createHarness(database, { driver: createFilesystemDriver({ root: join(dataDir, 'storage') }) });
  });
  afterEach(async () => {
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const gc = (...args: string[]) => runBerth(['gc', '--data', dataDir, ...args]);

  it('reports in a dry run what it then deletes, as a summary line or as JSON', async () => {
    const kept = await h.pushImage('team/app', 'v2');
    const old = await h.pushImage('team/app', 'v1', { layers: kept.layers, newLayers: 1 });
    await h.deleteTag('team/app', 'v1');

    const dry = await gc('--dry-run', '--delay', '0', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const predicted = JSON.parse(dry.stdout) as GcReport;
    expect(predicted).toMatchObject({ dryRun: true, manifestsDeleted: 1, blobsDeleted: 3, linksRemoved: 2 });
    expect(predicted.bytesFreed).toBe(old.size + old.config.size + old.layers[1]!.size);
    expect(await h.stored(old.digest)).toBe(old.size);

    const run = await gc('--delay', '0');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^deleted 1 manifests, 2 blob links, 3 blobs \([\d.]+ KiB\), 0 orphaned objects \(0 B\), 0 abandoned uploads, 0 upload leftovers in [\d.]+s\n$/,
    );
    // Not a terminal: no progress bar on stderr.
    expect(run.stderr).toBe('');
    expect(await h.stored(old.digest)).toBeUndefined();
    expect(await h.stored(kept.layers[0]!.digest)).toBe(kept.layers[0]!.size);
  });

  it('records every run, dry or not, in the run history, and no refused attempt', async () => {
    await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const dry = await gc('--dry-run', '--delay', '0', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const run = await gc('--delay', '0', '--json');
    expect(run.code, run.stderr).toBe(0);
    const now = Date.now();
    expect(await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'server', now, until: now + 60_000 })).toBe(true);
    expect((await gc('--no-wait')).code).toBe(3);

    const runs = await database.gc.listGcRuns(10);
    const {
      dryRun: _dry,
      delayMs: _delay,
      startedAt: _started,
      durationMs: _took,
      ...counts
    } = JSON.parse(run.stdout) as GcReport;
    expect(runs).toMatchObject([
      { trigger: 'cli', dryRun: false, delayMs: 0, status: 'succeeded', error: null, counts },
      { trigger: 'cli', dryRun: true, status: 'succeeded', counts: { manifestsDeleted: 1 } },
    ]);
    expect(counts).toMatchObject({ manifestsDeleted: 1, blobsDeleted: 3 });
    expect(runs[0]?.finishedAt).toBeGreaterThanOrEqual(runs[0]?.startedAt ?? Infinity);
  });

  it('uses gc.delay from the configuration unless --delay is given', async () => {
    await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const waiting = await gc('--json');
    expect(JSON.parse(waiting.stdout)).toMatchObject({ delayMs: 86_400_000, manifestsDeleted: 0 });
    const now = await gc('--json', '--delay', '0s');
    expect(JSON.parse(now.stdout)).toMatchObject({ delayMs: 0, manifestsDeleted: 1 });
  });

  it("waits while another process's run holds the lease, or says so with --no-wait", async () => {
    await h.pushImage('team/app', 'v1');
    await h.deleteTag('team/app', 'v1');
    const now = Date.now();
    expect(await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'server', now, until: now + 60_000 })).toBe(true);
    const refused = await gc('--delay', '0', '--no-wait');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('another process is collecting');

    const waiting = gc('--delay', '0', '--json');
    await sleep(3_000);
    await h.metadata.leaseJob(GC_RUN_JOB, { holder: 'server', now, until: now });
    const run = await waiting;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('waiting for the run of another process');
    expect(JSON.parse(run.stdout)).toMatchObject({ manifestsDeleted: 1 });
  });

  it('refuses a delay that is not a duration', async () => {
    const run = await gc('--delay', 'soon');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('berth: --delay: not a duration: soon (e.g. 0, 30s, 15m, 24h, 7d)\n');
  });
});
