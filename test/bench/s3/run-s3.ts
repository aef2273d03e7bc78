// Side-by-side S3 benchmark: Berth (BERTH_STORAGE_DRIVER=s3) against CNCF Distribution 2.8 (`s3` driver),
// both on one Ceph RADOS Gateway started for the run (one bucket each).
//
//   npm run build && node --import tsx test/bench/s3/run-s3.ts
//
// Environment: BENCH_ROUNDS (default 3), BENCH_QUICK=1 (256 MiB blob, 1 round), BENCH_BLOB_MIB (override
// the blob size), BENCH_WRITE=1 (write docs/benchmarks-s3.md), BENCH_S3_PORT (gateway port, default 7780;
// the monitor and OSD use the ten ports below it), BENCH_CEPH_DIR (default /tmp/berth-ceph-bench),
// BENCH_CEPH_STORE_GIB (memstore capacity in RAM, default 8), BENCH_KEEP=1 (keep the work directory),
// BENCH_QUIET_MAX_WAIT (seconds to wait before each round for the CPUs to be < 25% busy, default 60).
//
// Every round, for each registry (alternating which goes first), on a freshly emptied bucket:
//  1. start it with redirects off, push a tiny image (warm-up), then time a monolithic upload of the
//     random blob (POST, then PUT ?digest= streaming the file) while sampling its VmRSS every 50 ms;
//  2. GET the blob with curl (the registry streams it from S3);
//  3. restart it on the same bucket with redirects on, and GET the blob with `curl -L` (307 to a
//     presigned URL, then the body straight from the gateway);
//  4. stop it, delete the bucket's objects and run the gateway's garbage collection (the memstore OSD
//     keeps deleted data in RAM until then).
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { repoRoot } from '../../support/processes.js';
import { run, runOk } from '../../support/tools.js';
import {
  createBucket,
  deleteBucket,
  requireCephTools,
  startS3Gateway,
  type S3Gateway,
} from '../../e2e/fixtures/s3-gateway.js';
import { cleanupAll, installSignalHandlers, track } from '../lib/cleanup.js';
import { writeRandomBlob, type RandomBlob } from '../lib/context.js';
import { makeSmallImage, pushSmallImage, RegistryClient } from '../lib/http.js';
import { cpuSeconds, watchRss } from '../lib/proc.js';
import { waitForQuiet } from '../lib/quiet.js';
import { formatLoad, machineInfo, median, type MachineInfo } from '../lib/report.js';
import { startS3Registry, type S3Registry, type S3Target } from './servers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MB = 1e6;
const TARGETS: S3Target[] = ['berth', 'distribution'];
const RSS_TARGET_MB = 200;

interface Options {
  rounds: number;
  blobBytes: number;
  quick: boolean;
  write: boolean;
  keep: boolean;
  port: number;
  cephDir: string;
  storeBytes: number;
  /** Before each registry round, wait up to quietMaxWait s until the CPUs are less than quietBusy busy. */
  quietBusy: number;
  quietMaxWait: number;
}

function readOptions(): Options {
  const env = process.env;
  const quick = env.BENCH_QUICK === '1';
  const int = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}=${raw}: want a positive integer`);
    return value;
  };
  return {
    rounds: int('BENCH_ROUNDS', quick ? 1 : 3),
    blobBytes: int('BENCH_BLOB_MIB', quick ? 256 : 1024) * MiB,
    quick,
    write: env.BENCH_WRITE === '1',
    keep: env.BENCH_KEEP === '1',
    port: int('BENCH_S3_PORT', 7780),
    cephDir: env.BENCH_CEPH_DIR ?? '/tmp/berth-ceph-bench',
    storeBytes: int('BENCH_CEPH_STORE_GIB', 8) * GiB,
    quietBusy: 0.25,
    quietMaxWait: int('BENCH_QUIET_MAX_WAIT', 60),
  };
}

function sizeLabel(bytes: number): string {
  return bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
}

interface Row {
  key: string;
  label: string;
  unit: 'MB/s' | 'MB' | 'ms' | 's';
  better: 'higher' | 'lower';
}

function rows(options: Options): Row[] {
  const size = sizeLabel(options.blobBytes);
  return [
    {
      key: 'upload.mbps',
      label: `${size} monolithic upload (POST, then PUT ?digest= streaming the file)`,
      unit: 'MB/s',
      better: 'higher',
    },
    { key: 'upload.rss', label: `Peak registry RSS during the ${size} upload`, unit: 'MB', better: 'lower' },
    {
      key: 'upload.tail',
      label: 'Upload: last body byte sent to the 201 (complete, verify, publish)',
      unit: 'ms',
      better: 'lower',
    },
    {
      key: 'upload.cpu',
      label: 'Registry CPU time per GiB uploaded (user + system)',
      unit: 's',
      better: 'lower',
    },
    {
      key: 'upload.cephcpu',
      label: 'Ceph CPU time (radosgw + OSD) per GiB uploaded',
      unit: 's',
      better: 'lower',
    },
    {
      key: 'get.mbps',
      label: `${size} blob GET, redirect off (registry streams from S3), curl`,
      unit: 'MB/s',
      better: 'higher',
    },
    { key: 'get.rss', label: 'Peak registry RSS during the streamed GET', unit: 'MB', better: 'lower' },
    { key: 'get.cpu', label: 'Registry CPU time per GiB streamed', unit: 's', better: 'lower' },
    {
      key: 'redirect.mbps',
      label: `${size} blob GET, redirect on (curl -L follows the 307 to S3)`,
      unit: 'MB/s',
      better: 'higher',
    },
    {
      key: 'redirect.ms',
      label: 'Redirect on: time until the 307 is answered (curl time_redirect)',
      unit: 'ms',
      better: 'lower',
    },
  ];
}

type Values = Record<string, number>;

interface Measurement {
  target: S3Target;
  round: number;
  values?: Values;
  error?: string;
  busyBefore: number;
}

/** PIDs of the gateway and the OSD, from the PID files of scripts/s3-test-server.sh. */
function cephPids(cephDir: string): number[] {
  const pids: number[] = [];
  for (const name of ['client.rgw.a', 'osd.0']) {
    try {
      const pid = Number(readFileSync(join(cephDir, 'run', `${name}.pid`), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0) pids.push(pid);
    } catch {
      // not there: no Ceph CPU figures
    }
  }
  return pids;
}

function cephCpu(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

interface CurlResult {
  status: number;
  bytes: number;
  seconds: number;
  redirects: number;
  redirectSeconds: number;
}

async function curlGet(url: string, follow: boolean): Promise<CurlResult> {
  const format = '%{http_code} %{size_download} %{time_total} %{num_redirects} %{time_redirect}';
  const args = ['-sS', '-o', '/dev/null', '--max-time', '600', '-w', format];
  if (follow) args.push('-L');
  const res = await run('curl', [...args, url], { timeoutMs: 610_000 });
  if (res.code !== 0) throw new Error(`curl ${follow ? '-L ' : ''}${url} exited ${res.code}: ${res.stderr}`);
  const [status, bytes, seconds, redirects, redirectSeconds] = res.stdout.trim().split(' ').map(Number);
  return {
    status: status ?? 0,
    bytes: bytes ?? 0,
    seconds: seconds ?? Number.NaN,
    redirects: redirects ?? 0,
    redirectSeconds: redirectSeconds ?? Number.NaN,
  };
}

function checkGet(what: string, url: string, got: CurlResult, blob: RandomBlob): void {
  if (got.status !== 200 || got.bytes !== blob.size) {
    throw new Error(
      `${what}: GET ${url} answered ${got.status} with ${got.bytes} bytes, want 200 and ${blob.size}`,
    );
  }
}

interface RoundContext {
  options: Options;
  gateway: S3Gateway;
  blob: RandomBlob;
  workDir: string;
  cephPids: number[];
}

async function emptyBucket(ctx: RoundContext, bucket: string): Promise<void> {
  try {
    await deleteBucket(ctx.gateway.client, bucket);
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
  }
  // Deleted objects stay in the memstore OSD (RAM) until the gateway's garbage collection runs.
  await run('radosgw-admin', ['gc', 'process', '--include-all'], {
    env: { ...process.env, CEPH_CONF: join(ctx.options.cephDir, 'ceph.conf') },
    timeoutMs: 120_000,
  });
  await createBucket(ctx.gateway.client, bucket);
}

async function withRegistry<R>(
  ctx: RoundContext,
  target: S3Target,
  bucket: string,
  dir: string,
  redirect: boolean,
  body: (server: S3Registry) => Promise<R>,
): Promise<R> {
  const server = await startS3Registry({ target, s3: ctx.gateway, bucket, redirect, dir });
  try {
    return await body(server);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${target} output tail:\n${server.output().slice(-2000)}`);
  } finally {
    await server.stop();
  }
}

async function measure(ctx: RoundContext, target: S3Target, round: number): Promise<Values> {
  const { blob } = ctx;
  const bucket = `bench-${target}`;
  const dir = join(ctx.workDir, `${target}-r${round}`);
  const repo = `bench-s3/r${round}-blob`;
  const values: Values = {};
  await emptyBucket(ctx, bucket);
  try {
    await withRegistry(ctx, target, bucket, dir, false, async (server) => {
      const client = new RegistryClient(server.url, 4);
      try {
        await pushSmallImage(client, `bench-s3/r${round}-warmup`, 'latest', makeSmallImage(`r${round}`));
        const rss = watchRss(server.pid);
        const cpuBefore = cpuSeconds(server.pid);
        const cephBefore = cephCpu(ctx.cephPids);
        const start = performance.now();
        const outcome = await client
          .uploadBlob(repo, blob.digest, blob.size, () => createReadStream(blob.path, { highWaterMark: MiB }))
          .then(
            (res) => ({ res }),
            (err: unknown) => ({ err }),
          );
        const seconds = (performance.now() - start) / 1000;
        const cpu = cpuSeconds(server.pid) - cpuBefore;
        const ceph = cephCpu(ctx.cephPids) - cephBefore;
        const peak = rss.stop();
        if ('err' in outcome) throw outcome.err;
        const head = await client.request('HEAD', `/v2/${repo}/blobs/${blob.digest}`, { expect: [200] });
        if (head.headers['content-length'] !== String(blob.size)) {
          throw new Error(
            `HEAD after upload: Content-Length ${head.headers['content-length']}, want ${blob.size}`,
          );
        }
        const gib = blob.size / GiB;
        values['upload.mbps'] = blob.size / MB / seconds;
        values['upload.rss'] = peak.peak / MB;
        values['upload.tail'] = outcome.res.respondedAt - outcome.res.bodySentAt;
        values['upload.cpu'] = cpu / gib;
        if (ctx.cephPids.length > 0) values['upload.cephcpu'] = ceph / gib;

        const url = `${server.url}/v2/${repo}/blobs/${blob.digest}`;
        const getRss = watchRss(server.pid);
        const getCpuBefore = cpuSeconds(server.pid);
        const got = await curlGet(url, false);
        const getCpu = cpuSeconds(server.pid) - getCpuBefore;
        const getPeak = getRss.stop();
        checkGet('redirect off', url, got, blob);
        if (got.redirects !== 0) throw new Error(`redirect off: GET ${url} was redirected`);
        values['get.mbps'] = blob.size / MB / got.seconds;
        values['get.rss'] = getPeak.peak / MB;
        values['get.cpu'] = getCpu / gib;
      } finally {
        client.close();
      }
    });
    await withRegistry(ctx, target, bucket, dir, true, async (server) => {
      const url = `${server.url}/v2/${repo}/blobs/${blob.digest}`;
      const got = await curlGet(url, true);
      checkGet('redirect on', url, got, blob);
      if (got.redirects < 1) throw new Error(`redirect on: GET ${url} was not redirected`);
      values['redirect.mbps'] = blob.size / MB / got.seconds;
      values['redirect.ms'] = got.redirectSeconds * 1000;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return values;
}

function formatValue(value: number, unit: Row['unit']): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === 's') return value.toFixed(2);
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function valuesOf(measurements: Measurement[], target: S3Target, key: string): number[] {
  return measurements
    .filter((m) => m.target === target && m.values?.[key] !== undefined)
    .sort((a, b) => a.round - b.round)
    .map((m) => m.values![key]!);
}

function renderTable(options: Options, measurements: Measurement[]): string {
  const lines = [
    '| Metric | Unit | Berth | Distribution | Berth/Distribution |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const row of rows(options)) {
    const berth = median(valuesOf(measurements, 'berth', row.key));
    const dist = median(valuesOf(measurements, 'distribution', row.key));
    const ratio = berth / dist;
    lines.push(
      `| ${row.label} (${row.better} is better) | ${row.unit} | ${formatValue(berth, row.unit)} | ` +
        `${formatValue(dist, row.unit)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '—'} |`,
    );
  }
  return lines.join('\n');
}

function renderRounds(options: Options, measurements: Measurement[]): string {
  const lines = ['| Metric | Berth rounds | Distribution rounds |', '| --- | --- | --- |'];
  for (const row of rows(options)) {
    const list = (target: S3Target): string => {
      const values = valuesOf(measurements, target, row.key);
      return values.length === 0 ? '—' : values.map((v) => formatValue(v, row.unit)).join(' / ');
    };
    lines.push(`| ${row.label} (${row.unit}) | ${list('berth')} | ${list('distribution')} |`);
  }
  return lines.join('\n');
}

function renderTargets(options: Options, measurements: Measurement[]): string[] {
  const med = (target: S3Target, key: string): number => median(valuesOf(measurements, target, key));
  const check = (ok: boolean): string => (ok ? 'met' : '**NOT met**');
  const lines: string[] = [];
  for (const [key, what] of [
    ['upload.mbps', 'upload throughput'],
    ['get.mbps', 'GET throughput, redirect off'],
    ['redirect.mbps', 'GET throughput, redirect on'],
  ] as const) {
    const b = med('berth', key);
    const d = med('distribution', key);
    const verdict = Number.isFinite(b / d) ? check(b >= d) : 'n/a';
    lines.push(`- Berth on S3 at least Distribution on S3, ${what}: ${verdict} (${(b / d).toFixed(2)}x)`);
  }
  const rss = valuesOf(measurements, 'berth', 'upload.rss');
  const worst = rss.length > 0 ? Math.max(...rss) : Number.NaN;
  lines.push(
    `- Berth peak RSS below ${RSS_TARGET_MB} MB during the ${sizeLabel(options.blobBytes)} upload (default ` +
      `part settings), every round: ${Number.isFinite(worst) ? `${check(worst < RSS_TARGET_MB)} (worst ${worst.toFixed(0)} MB)` : 'n/a'}`,
  );
  return lines;
}

function command(options: Options): string {
  const env: string[] = [];
  if (options.quick) env.push('BENCH_QUICK=1');
  if (process.env.BENCH_ROUNDS) env.push(`BENCH_ROUNDS=${options.rounds}`);
  if (process.env.BENCH_BLOB_MIB) env.push(`BENCH_BLOB_MIB=${options.blobBytes / MiB}`);
  env.push('BENCH_WRITE=1');
  return `npm run build && ${env.join(' ')} node --import tsx test/bench/s3/run-s3.ts`;
}

function renderDoc(
  options: Options,
  machine: MachineInfo,
  measurements: Measurement[],
  seconds: number,
  cephVersion: string,
): string {
  const errors = measurements.filter((m) => m.error !== undefined);
  const busy = measurements.map((m) => m.busyBefore * 100);
  return [
    '# Berth vs. CNCF Distribution on S3',
    '',
    '<!-- Written by test/bench/s3/run-s3.ts with BENCH_WRITE=1; edits are overwritten. -->',
    '',
    'Both registries store their blobs in S3: a one-node Ceph RADOS Gateway (scripts/s3-test-server.sh, ' +
      'memstore OSD, i.e. objects in RAM) on the loopback interface, one bucket per registry. Berth runs ' +
      'with `BERTH_STORAGE_DRIVER=s3` and its default part settings (16 MiB parts, 4 in flight); CNCF ' +
      'Distribution with its `s3` driver (`chunksize: 16777216`, `v4auth: true`, `secure: false`). Both log ' +
      'at level warn without an access log.',
    '',
    `## Results (median of ${options.rounds} round${options.rounds === 1 ? '' : 's'})`,
    '',
    renderTable(options, measurements),
    '',
    '### Targets',
    '',
    ...renderTargets(options, measurements),
    '',
    '### Every round',
    '',
    renderRounds(options, measurements),
    '',
    ...(errors.length > 0
      ? [
          '### Failed rounds',
          '',
          ...errors.map((m) => `- ${m.target}, round ${m.round + 1}: ${m.error!.split('\n')[0]}`),
          '',
        ]
      : []),
    '## Method',
    '',
    `- Blob: ${sizeLabel(options.blobBytes)} of random bytes in a file on the local disk (in the page ` +
      'cache), the same file for both registries.',
    '- Each round, for each registry (alternating which goes first), on a freshly emptied bucket and ' +
      'with fresh repository names: start the registry with redirects off and push a tiny image ' +
      '(warm-up); time a monolithic upload (POST, then one PUT ?digest= streaming the file, from the POST ' +
      "to the 201) while sampling the registry's VmRSS every 50 ms (and its VmHWM, reset at the start); " +
      'GET the blob with curl to /dev/null (the registry streams it from S3); restart the registry on the ' +
      'same bucket with redirects on (Berth: `BERTH_STORAGE_S3_REDIRECT_ENABLED=true`, Distribution: ' +
      '`storage.redirect.disable: false`) and GET it with `curl -L`, which follows the 307 to a presigned ' +
      'URL and reads the body from the gateway. Every GET checks status and length.',
    '- CPU times are from /proc/<pid>/stat (all threads, user + system) over the measured request; the ' +
      'Ceph row adds radosgw and the OSD. Client, registry and Ceph share the same CPUs.',
    '- After each registry round the bucket is deleted and `radosgw-admin gc process --include-all` frees ' +
      'the memstore.',
    '',
    '## Machine',
    '',
    `- Date: ${machine.date}; Berth commit: ${machine.commit}; run took ${Math.round(seconds)} s`,
    `- CPU: ${machine.nproc} × ${machine.cpu}; memory ${machine.memoryGiB} GiB; kernel ${machine.kernel}`,
    `- Node ${machine.node}; Distribution ${machine.distribution}; ${cephVersion}`,
    `- Load average before: ${machine.loadBefore}; after: ${machine.loadAfter ?? '?'}`,
    `- CPU busy (all processes) in the second before each registry round: median ` +
      `${median(busy).toFixed(0)}%, max ${Math.max(...busy).toFixed(0)}% (waited up to ${options.quietMaxWait} s ` +
      `for < ${options.quietBusy * 100}%)`,
    '',
    '## Command',
    '',
    '```sh',
    command(options),
    '```',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  installSignalHandlers();
  const options = readOptions();
  const began = performance.now();
  if (!requireCephTools('S3 benchmark')) throw new Error('Ceph tools are missing (see above)');
  const machine = await machineInfo();
  const cephVersion = await run('ceph', ['--version'], { timeoutMs: 10_000 }).then(
    (r) => r.stdout.trim().split(' ').slice(0, 3).join(' '),
    () => 'ceph version unknown',
  );
  const log = (message: string): void => console.error(message);
  log(
    `S3 benchmark: ${sizeLabel(options.blobBytes)} blob, ${options.rounds} round(s), ` +
      `${machine.nproc} × ${machine.cpu}`,
  );

  const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-s3-'));
  const removeWorkDir = track(async () => {
    if (!options.keep) await rm(workDir, { recursive: true, force: true });
  });
  const measurements: Measurement[] = [];
  try {
    log(`starting Ceph in ${options.cephDir} (gateway 127.0.0.1:${options.port})…`);
    const gateway = await startS3Gateway({
      stateDir: options.cephDir,
      port: options.port,
      monPort: options.port - 10,
      osdPorts: `${options.port - 9}-${options.port - 1}`,
      storeBytes: options.storeBytes,
    });
    const stopGateway = track(() => gateway.stop());
    try {
      if (!gateway.started) log(`  (reusing the cluster already running in ${options.cephDir})`);
      log(`writing the ${sizeLabel(options.blobBytes)} random blob…`);
      const blob = await writeRandomBlob(join(workDir, 'random.blob'), options.blobBytes);
      await runOk('sync', [], { timeoutMs: 300_000 });
      const ctx: RoundContext = { options, gateway, blob, workDir, cephPids: cephPids(options.cephDir) };
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? TARGETS : [...TARGETS].reverse();
        for (const target of order) {
          const busyBefore = await waitForQuiet(options.quietBusy, options.quietMaxWait, log);
          log(
            `round ${round + 1}/${options.rounds}: ${target} (CPU ${(busyBefore * 100).toFixed(0)}% busy before)`,
          );
          try {
            const values = await measure(ctx, target, round);
            measurements.push({ target, round, values, busyBefore });
            log(
              '  ' +
                Object.entries(values)
                  .map(([k, v]) => `${k}=${v.toFixed(1)}`)
                  .join(' '),
            );
          } catch (err) {
            const message = (err as Error).message;
            measurements.push({ target, round, error: message, busyBefore });
            log(`  FAILED: ${message}`);
          }
        }
      }
      await emptyBucket(ctx, 'bench-berth').catch(() => undefined);
      await emptyBucket(ctx, 'bench-distribution').catch(() => undefined);
    } finally {
      log('stopping Ceph…');
      await stopGateway();
    }
  } finally {
    await removeWorkDir();
  }
  machine.loadAfter = formatLoad();
  const seconds = (performance.now() - began) / 1000;

  console.log(`\n${renderTable(options, measurements)}\n`);
  console.log(renderTargets(options, measurements).join('\n'));
  console.log(`\n${renderRounds(options, measurements)}\n`);
  if (options.write) {
    const path = join(repoRoot, 'docs/benchmarks-s3.md');
    const doc = renderDoc(options, machine, measurements, seconds, cephVersion);
    const config = (await prettier.resolveConfig(path)) ?? {};
    await writeFile(path, await prettier.format(doc, { ...config, filepath: path }));
    log(`wrote ${path}`);
  }
  if (measurements.some((m) => m.error !== undefined)) process.exitCode = 1;
}

main()
  .catch(async (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanupAll();
  });
