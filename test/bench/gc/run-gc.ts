// Garbage collection at scale: GC time and peak memory of `berth gc` (the built dist/, in a child
// process measured by /usr/bin/time) over a registry of BENCH_GC_BLOBS blobs (default 100,000) on
// the filesystem driver, with SQLite and, when PostgreSQL is available, PostgreSQL metadata; and the
// cost pushes pay for the content guard (one hold and its release per operation).
//
// The registry: BENCH_GC_BLOBS / 10 images of a config and 9 layers each, 10 images per repository,
// written through the stores (as pushes record them) and the driver; then half the images lose their
// tag. `berth gc --delay 0` then deletes those manifests, and their 5 x 10 blobs... = half of all
// blobs, reviewing every blob once (each was queued when it was linked). Measured: a dry run, the
// real run, and a run with nothing left to do (its cost is listing storage for orphans).
//
//   npm run build && node --import tsx test/bench/gc/run-gc.ts
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFilesystemDriver } from '../../../storage-drivers/filesystem.js';
import { createContentGuard } from '../../../src/gc/guard.js';
import type { GcStore } from '../../../src/gc/gc-store.js';
import type { GcReport } from '../../../src/gc/report.js';
import { formatBytes } from '../../../src/gc/report.js';
import { openDatabase } from '../../../src/metadata/db.js';
import { openPostgresMetadata } from '../../../src/metadata/postgres/postgres-store.js';
import { createSqliteGcStore } from '../../../src/metadata/sqlite-gc-store.js';
import { createSqliteMetadataStore } from '../../../src/metadata/sqlite-store.js';
import { blobKey } from '../../../src/registry/layout.js';
import type { MetadataStore } from '../../../src/registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../../../src/registry/references.js';
import { berthEntry } from '../../support/processes.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../../support/postgres.js';

const BLOBS = Number(process.env.BENCH_GC_BLOBS ?? 100_000);
const LAYERS = 9;
const IMAGES_PER_REPO = 10;
const BLOB_BYTES = 512;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;

interface Measured {
  report: GcReport;
  wallMs: number;
  peakRssBytes: number;
}

/** `berth gc` in a child process under /usr/bin/time: its report, wall time and peak RSS. */
function runGc(dataDir: string, env: Record<string, string>, args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(
      '/usr/bin/time',
      ['-f', 'peak-rss-kib=%M', process.execPath, berthEntry, 'gc', '--data', dataDir, '--json', ...args],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const peak = /peak-rss-kib=(\d+)/.exec(stderr);
      if (code !== 0 || !peak) return reject(new Error(`berth gc exited ${code}: ${stderr}`));
      resolve({
        report: JSON.parse(stdout) as GcReport,
        wallMs: performance.now() - started,
        peakRssBytes: Number(peak[1]) * 1024,
      });
    });
  });
}

/** The registry described in the header, through the stores and the filesystem driver. */
async function populate(metadata: MetadataStore, storageRoot: string): Promise<{ images: number }> {
  const driver = createFilesystemDriver({ root: storageRoot, fsync: false });
  const images = Math.floor(BLOBS / (LAYERS + 1));
  const writes: Promise<unknown>[] = [];
  const write = async (digest: Digest, bytes: Buffer) => {
    writes.push(driver.write(blobKey(digest), bytes));
    if (writes.length >= 64) await Promise.all(writes.splice(0));
  };
  for (let image = 0; image < images; image++) {
    const repository = `bench/repo-${Math.floor(image / IMAGES_PER_REPO)}` as RepoName;
    const blobs: Digest[] = [];
    for (let b = 0; b <= LAYERS; b++) {
      const content = Buffer.alloc(BLOB_BYTES, `${image}/${b}/`);
      const digest = digestOf(`${image}/${b}/${BLOB_BYTES}`);
      blobs.push(digest);
      await write(digest, content);
      await metadata.linkBlob(repository, digest, BLOB_BYTES);
    }
    const body = Buffer.from(JSON.stringify({ image, blobs }));
    const digest = digestOf(`manifest ${image}`);
    await write(digest, body);
    await metadata.putManifest(
      repository,
      {
        digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: body.length,
        artifactType: null,
        subject: null,
        annotations: null,
      },
      { blobs, manifests: [] },
      `v${image % IMAGES_PER_REPO}` as Tag,
    );
    if (image % 2 === 1) await metadata.deleteTag(repository, `v${image % IMAGES_PER_REPO}` as Tag);
  }
  await Promise.all(writes);
  return { images };
}

/** p50 and p99 (ms) of one hold and its release, with `holders` operations at a time. */
async function guardCost(gc: GcStore, holders: number, operations = 4000) {
  const guard = createContentGuard({ store: gc, clock: Date.now, newId: randomUUID, log: silent });
  const times: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: holders }, async () => {
      while (next < operations) {
        const n = next++;
        const digests = [digestOf(`layer ${n % 50}`), digestOf(`config ${n}`), digestOf(`manifest ${n}`)];
        const started = performance.now();
        await guard.hold(digests, async () => {});
        times.push(performance.now() - started);
      }
    }),
  );
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

async function bench(
  name: string,
  open: () => Promise<{
    metadata: MetadataStore;
    gc: GcStore;
    env: Record<string, string>;
    close(): Promise<void>;
  }>,
) {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-gc-'));
  const stores = await open();
  try {
    const started = performance.now();
    const { images } = await populate(stores.metadata, join(dataDir, 'storage'));
    console.error(
      `${name}: ${images} images, ${images * (LAYERS + 1)} blobs written in ${Math.round(performance.now() - started)} ms`,
    );
    const guard1 = await guardCost(stores.gc, 1);
    const guard16 = await guardCost(stores.gc, 16);
    await stores.close();
    const dry = await runGc(dataDir, stores.env, ['--delay', '0', '--dry-run']);
    const real = await runGc(dataDir, stores.env, ['--delay', '0']);
    const idle = await runGc(dataDir, stores.env, ['--delay', '0']);
    const row = (label: string, m: Measured) =>
      `| ${name} | ${label} | ${(m.report.durationMs / 1000).toFixed(1)} s | ${formatBytes(m.peakRssBytes)} | ` +
      `${m.report.manifestsDeleted} | ${m.report.blobsDeleted} | ${formatBytes(m.report.bytesFreed)} |`;
    return [
      row('dry run', dry),
      row('run', real),
      row('nothing to do', idle),
      `| ${name} | guard hold+release, 1 at a time | p50 ${guard1.p50.toFixed(2)} ms, p99 ${guard1.p99.toFixed(2)} ms | | | | |`,
      `| ${name} | guard hold+release, 16 at a time | p50 ${guard16.p50.toFixed(2)} ms, p99 ${guard16.p99.toFixed(2)} ms | | | | |`,
    ];
  } finally {
    await stores.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  if (!existsSync(berthEntry)) throw new Error(`${berthEntry} is missing: npm run build first`);
  const rows: string[] = [];
  let dir: string | undefined;
  rows.push(
    ...(await bench('SQLite', async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-bench-gc-db-'));
      const path = join(dir, 'berth.db');
      const db = openDatabase(path);
      let closed = false;
      return {
        metadata: createSqliteMetadataStore(db),
        gc: createSqliteGcStore(db),
        env: { BERTH_METADATA_PATH: path },
        close: async () => {
          if (!closed) db.close();
          closed = true;
        },
      };
    })),
  );
  if (dir) await rm(dir, { recursive: true, force: true });
  let server: PostgresServer | undefined;
  if (requirePostgres('the PostgreSQL GC benchmark')) {
    server = await startPostgres();
    const database = await server.createDatabase();
    try {
      rows.push(
        ...(await bench('PostgreSQL', async () => {
          const opened = await openPostgresMetadata({ url: database.url, poolSize: 16 });
          let closed: Promise<void> | undefined;
          return {
            metadata: opened.store,
            gc: opened.gc,
            env: { BERTH_METADATA_DRIVER: 'postgres', BERTH_METADATA_POSTGRES_URL: database.url },
            close: () => (closed ??= opened.close()),
          };
        })),
      );
    } finally {
      await database.drop();
      await server.stop();
    }
  }
  console.log(`\nGarbage collection over ${BLOBS} blobs (filesystem storage, ${BLOB_BYTES}-byte blobs)\n`);
  console.log('| metadata | run | GC time | peak RSS | manifests deleted | blobs deleted | freed |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

await main();
