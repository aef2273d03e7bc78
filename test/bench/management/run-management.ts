// `npm run bench:management`: the management API of issue 11 on the built dist/. One data set is
// written in-process through Berth's stores and services (dataset.ts, populate.ts), then each phase
// starts Berth afresh on it:
//   listing  repository and tag list latency, auth none (listing.ts);
//   token    the same in token mode, for a reader of 1% of the repositories and the administrator;
//   pulls    manifest GET requests/s with pull tracking on and off (two servers, alternating);
//   gc       unreferenced blobs uploaded, then `berth gc --delay 0 --json` timed and its peak RSS read.
// Prints the tables; BENCH_WRITE=1 also writes the "Management API and garbage collection" section
// of docs/benchmarks.md. BENCH_MANAGEMENT_SCALE=0.1 (or BENCH_QUICK=1) for a small run.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../support/processes.js';
import { missingToolsReason } from '../../support/tools.js';
import { basicAuthorization, fetchBerthToken } from '../../support/token-interop.js';
import { installSignalHandlers, isInterrupted, runToExit, track, using } from '../lib/cleanup.js';
import { createContext, type BenchServer } from '../lib/context.js';
import { MANIFEST_ACCEPT, pool, RegistryClient } from '../lib/http.js';
import { readOptions, type BenchOptions } from '../lib/options.js';
import { waitForQuiet } from '../lib/quiet.js';
import { formatLoad, machineInfo, median, type BenchRecord, type Measurement } from '../lib/report.js';
import { log } from '../lib/rounds.js';
import {
  datasetSize,
  loadRepositories,
  READER_NAMESPACE,
  repositoryName,
  tagCounts,
  tagName,
} from './dataset.js';
import { countBlobs, entryOf, runGc } from './gc-run.js';
import {
  discoverPaths,
  measureVariant,
  openVariants,
  prepareVariants,
  tokenVariants,
  type ApiPaths,
  type ListingVariant,
  type PreparedVariant,
} from './listing.js';
import { runWrkOverPaths } from './pull-load.js';
import {
  phaseNames,
  renderReport,
  writeManagementSection,
  type ManagementRecord,
  type ManagementSettings,
  type Phase,
} from './report.js';
import { openInProcess, type SharedBlobs } from './populate.js';

const MB = 1e6;
const WARMUP_SECONDS = 2;
/** wrk takes whole seconds. */
const SLICE_SECONDS = 2;
const ADMIN = { username: 'admin', password: 'bench-admin-password' };
const READER = { username: 'reader', password: 'bench-reader-password' };
const MANAGEMENT_SCOPE = 'registry:management:*';

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function readSettings(options: BenchOptions): ManagementSettings {
  const scale = positiveNumber('BENCH_MANAGEMENT_SCALE', options.scale === 'quick' ? 0.1 : 1);
  const rawPhases = (process.env.BENCH_MANAGEMENT_PHASES ?? '').trim();
  const phases = rawPhases === '' ? [...phaseNames] : rawPhases.split(',').map((p) => p.trim());
  for (const phase of phases) {
    if (!(phaseNames as readonly string[]).includes(phase)) {
      throw new Error(
        `BENCH_MANAGEMENT_PHASES: unknown phase "${phase}" (allowed: ${phaseNames.join(', ')})`,
      );
    }
  }
  const samples = Math.round(positiveNumber('BENCH_MANAGEMENT_SAMPLES', 100));
  const size = datasetSize(scale);
  const wanted = Math.round(positiveNumber('BENCH_MANAGEMENT_LOAD_REPOS', 1000));
  return {
    scale,
    size,
    budget: { samples, minSamples: Math.min(samples, 20), maxMs: 2500 },
    // As many as asked for, of those the data set has (loadRepositories picks 1 in 20).
    loadRepositories: loadRepositories(size, wanted).length,
    garbageBytes: 512,
    phases: phases as Phase[],
  };
}

const seconds = (since: number) => (performance.now() - since) / 1000;

/** Paths of the state every server shares, and the data directory of in-process work. */
function statePaths(stateDir: string) {
  return {
    metadata: join(stateDir, 'berth.db'),
    storage: join(stateDir, 'storage'),
    dataDir: join(stateDir, 'in-process'),
  };
}

/** Where every phase's server keeps the data set: outside the data directory of each start. */
function sharedEnv(stateDir: string): Record<string, string> {
  const state = statePaths(stateDir);
  return { BERTH_METADATA_PATH: state.metadata, BERTH_STORAGE_FILESYSTEM_ROOT: state.storage };
}

interface Run {
  options: BenchOptions;
  settings: ManagementSettings;
  record: BenchRecord;
  notes: string[];
  start(label: string, env?: Record<string, string>): Promise<BenchServer>;
}

async function quiet(run: Run, measurement: Measurement): Promise<void> {
  const { options } = run;
  if (options.quietMaxWait > 0) {
    measurement.busyBefore = await waitForQuiet(options.quietBusy, options.quietMaxWait, log);
  }
}

/** Sum of the pull counts the catalog shows for `repositories` (detail GETs, 16 at a time). */
async function pullCountOf(client: RegistryClient, paths: ApiPaths, repositories: string[]): Promise<number> {
  let sum = 0;
  await pool(repositories.length, 16, async (i) => {
    const res = await client.request('GET', paths.repository(repositories[i]!), { expect: [200] });
    sum += (JSON.parse(res.body.toString('utf8')) as { pullCount: number }).pullCount;
  });
  return sum;
}

/** Writes the data set in-process with the build at `distSrc` (no server running). */
async function populate(run: Run, distSrc: string, stateDir: string): Promise<SharedBlobs> {
  const { settings, options, record, notes } = run;
  const { size } = settings;
  const state = statePaths(stateDir);
  const began = performance.now();
  log(
    `populating ${size.repositories} repositories and ${size.tags} tags in-process ` +
      `(${options.seedConcurrency} operations in flight)`,
  );
  const registry = await openInProcess(distSrc, state.dataDir, state);
  const close = track(() => registry.close());
  try {
    const { blobs, times } = await registry.populate(size, options.seedConcurrency);
    const took = seconds(began);
    log(
      `  mounts ${times.mountSeconds.toFixed(1)} s, manifests ${times.manifestSeconds.toFixed(1)} s ` +
        `(${(size.tags / times.manifestSeconds).toFixed(0)}/s); ${took.toFixed(1)} s in all`,
    );
    record.measurements.push({
      metric: 'populate',
      target: 'berth',
      round: 0,
      values: { 'seed.manifests.rate': size.tags / times.manifestSeconds, 'seed.seconds': took },
    });
    notes.push(
      `Population in-process: ${((size.repositories - 1) * 2).toLocaleString('en-US')} mounts in ` +
        `${times.mountSeconds.toFixed(1)} s, ${size.tags.toLocaleString('en-US')} manifest puts in ` +
        `${times.manifestSeconds.toFixed(1)} s; ${times.pulls.toLocaleString('en-US')} pulls recorded.`,
    );
    return blobs;
  } finally {
    await close();
  }
}

/** Variants measured with one caller's client; a new client for each round (tokens expire). */
interface ListingGroup {
  client: () => Promise<RegistryClient>;
  variants: ListingVariant[];
}

/** Rounds over the groups' variants (cursors resolved once, before the rounds); one measurement per round. */
async function measureListings(run: Run, metric: string, groups: ListingGroup[]): Promise<void> {
  const { options, settings, record } = run;
  const began = performance.now();
  const prepared: { client: ListingGroup['client']; variants: PreparedVariant[] }[] = [];
  for (const group of groups) {
    const client = await group.client();
    try {
      prepared.push({ client: group.client, variants: await prepareVariants(client, group.variants) });
    } finally {
      client.close();
    }
  }
  const count = groups.reduce((sum, group) => sum + group.variants.length, 0);
  log(`${metric}: ${count} variants, cursors ready in ${seconds(began).toFixed(1)} s`);
  for (let round = 0; round < options.rounds && !isInterrupted(); round++) {
    const measurement: Measurement = { metric, target: 'berth', round, values: {} };
    await quiet(run, measurement);
    const started = performance.now();
    try {
      for (const group of prepared) {
        const client = await group.client();
        try {
          for (const variant of group.variants) {
            if (isInterrupted()) break;
            const latency = await measureVariant(client, variant, settings.budget);
            measurement.values![`${variant.key}.p50`] = latency.p50;
            measurement.values![`${variant.key}.p99`] = latency.p99;
            measurement.values![`${variant.key}.n`] = latency.samples;
          }
        } finally {
          client.close();
        }
      }
      log(`  ${metric} round ${round + 1}: ${seconds(started).toFixed(1)} s`);
    } catch (err) {
      measurement.error = (err as Error).message;
      delete measurement.values;
      log(`  ${metric} round ${round + 1}: ERROR ${measurement.error}`);
    }
    record.measurements.push(measurement);
  }
}

/** Token mode: a reader of READER_NAMESPACE and the administrator list, each with a Bearer token. */
async function listInTokenMode(
  run: Run,
  server: BenchServer,
  variants: { reader: ListingVariant[]; admin: ListingVariant[] },
) {
  const admin = new RegistryClient(server.url, 4, { authorization: basicAuthorization(ADMIN) });
  try {
    const json = (body: object) => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await admin.request('POST', '/api/v1/users', {
      ...json({ name: READER.username, password: READER.password }),
      expect: [201],
    });
    await admin.request('POST', '/api/v1/namespaces', { ...json({ name: READER_NAMESPACE }), expect: [201] });
    await admin.request('PUT', `/api/v1/namespaces/${READER_NAMESPACE}/members/${READER.username}`, {
      ...json({ role: 'read' }),
      expect: [200, 201, 204],
    });
  } finally {
    admin.close();
  }
  // A Bearer token of the management scope, fresh for each round: a token lives auth.tokenTtl (5m).
  const bearer = (who: typeof ADMIN) => async () => {
    const token = await fetchBerthToken(server.url, [MANAGEMENT_SCOPE], who);
    return new RegistryClient(server.url, 1, { authorization: `Bearer ${token}` });
  };
  await measureListings(run, 'token', [
    { client: bearer(READER), variants: variants.reader },
    { client: bearer(ADMIN), variants: variants.admin },
  ]);
}

/**
 * Manifest GETs with pull tracking on and off: each round starts two servers on the same data (which
 * one first alternates), warms both up, then loads them in slices of SLICE_SECONDS, alternately (on
 * off off on on off …), so that whatever else the machine does falls on both alike. Fresh processes
 * each round, because two processes of one build differ by up to ±10% here (measured with both on
 * or both off), which only more pairs average out.
 */
async function measurePullTracking(run: Run, paths: ApiPaths): Promise<void> {
  const { options, settings, record, notes } = run;
  const indexes = loadRepositories(settings.size, settings.loadRepositories);
  const repositories = indexes.map(repositoryName);
  const urls = indexes.map((i) => `/v2/${repositoryName(i)}/manifests/${tagName(i, 0)}`);
  const slices = Math.max(1, Math.round(options.loadSeconds / SLICE_SECONDS));
  const env = { on: {}, off: { BERTH_PULLS_TRACK: 'false' } };
  let served = 0;
  for (let round = 0; round < options.rounds && !isInterrupted(); round++) {
    const measurement: Measurement = { metric: 'pulls', target: 'berth', round, values: {} };
    const starts = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
    const servers: Partial<Record<'on' | 'off', BenchServer>> = {};
    try {
      for (const mode of starts) servers[mode] = await run.start(`pulls-${mode}`, env[mode]);
      const load = async (mode: 'on' | 'off', seconds: number) => {
        const server = servers[mode]!;
        const cpuBefore = server.cpuSeconds();
        const result = await runWrkOverPaths({
          base: server.url,
          paths: urls,
          headers: { Accept: MANIFEST_ACCEPT },
          connections: options.loadConnections,
          threads: options.loadThreads,
          seconds,
        });
        const cpu = server.cpuSeconds() - cpuBefore;
        if (result.badStatuses > 0 || result.socketErrors > 0 || result.requests === 0) {
          throw new Error(
            `${mode}: ${result.badStatuses} non-2xx answers and ${result.socketErrors} socket errors ` +
              `out of ${result.requests} (reproduce: curl -si ${server.url}${urls[0]})`,
          );
        }
        if (mode === 'on') served += result.requests;
        return { ...result, cpu, seconds: result.requests / result.requestsPerSecond };
      };
      await quiet(run, measurement);
      await load('on', WARMUP_SECONDS);
      await load('off', WARMUP_SECONDS);
      const totals = {
        on: { requests: 0, seconds: 0, cpu: 0, p99: [] as number[] },
        off: { requests: 0, seconds: 0, cpu: 0, p99: [] as number[] },
      };
      for (let slice = 0; slice < slices && !isInterrupted(); slice++) {
        const pair = (slice + round) % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
        for (const mode of pair) {
          const result = await load(mode, SLICE_SECONDS);
          const total = totals[mode];
          total.requests += result.requests;
          total.seconds += result.seconds;
          total.cpu += result.cpu;
          total.p99.push(result.p99Ms);
        }
      }
      const values = measurement.values!;
      for (const mode of ['on', 'off'] as const) {
        const total = totals[mode];
        values[`pulls.${mode}.rps`] = total.requests / total.seconds;
        values[`pulls.${mode}.p99`] = median(total.p99);
        values[`pulls.${mode}.cpu`] = (total.cpu * 1e6) / total.requests;
      }
      values['pulls.share'] = (100 * values['pulls.on.rps']!) / values['pulls.off.rps']!;
      log(
        `  pulls round ${round + 1}: on ${values['pulls.on.rps']!.toFixed(0)}/s, ` +
          `off ${values['pulls.off.rps']!.toFixed(0)}/s (${values['pulls.share']!.toFixed(1)}%)`,
      );
      // The tracking server writes what it counted when it stops; the other one wrote nothing.
      await servers.on!.stop();
      if (round === options.rounds - 1)
        notes.push(await checkPullCounts(run, servers.off!, paths, repositories, served, slices));
    } catch (err) {
      measurement.error = (err as Error).message;
      delete measurement.values;
      log(`  pulls round ${round + 1}: ERROR ${measurement.error}`);
    } finally {
      for (const server of Object.values(servers)) await server.stop();
    }
    record.measurements.push(measurement);
  }
}

/** The pull counts of the loaded repositories against the GETs wrk saw the tracking servers answer. */
async function checkPullCounts(
  run: Run,
  server: BenchServer,
  paths: ApiPaths,
  repositories: string[],
  served: number,
  slices: number,
): Promise<string> {
  const { options } = run;
  const client = new RegistryClient(server.url, 16);
  try {
    const recorded = await pullCountOf(client, paths, repositories);
    // wrk counts the answers it saw; a request in flight when it stopped is counted by Berth only.
    const slack = options.loadConnections * options.rounds * (1 + slices);
    const ok = recorded >= served && recorded <= served + slack;
    return (
      `Pull tracking check: the catalog counts ${recorded.toLocaleString('en-US')} pulls of the loaded ` +
      `repositories; wrk saw ${served.toLocaleString('en-US')} answers from the tracking servers ` +
      `(warm-ups included), and those of the others are not counted: ` +
      `${ok ? 'consistent' : '**INCONSISTENT**'}.`
    );
  } finally {
    client.close();
  }
}

/** Uploads unreferenced blobs, then times `berth gc` on the stopped registry and checks what it freed. */
async function measureGc(run: Run, entry: string, stateDir: string, blobs: SharedBlobs): Promise<void> {
  const { options, settings, record, notes } = run;
  const { size } = settings;
  const measurement: Measurement = { metric: 'gc', target: 'berth', round: 0, values: {} };
  try {
    const state = statePaths(stateDir);
    log(`uploading ${size.garbageBlobs} unreferenced blobs of ${settings.garbageBytes} bytes in-process`);
    const began = performance.now();
    const registry = await openInProcess(dirname(entry), state.dataDir, state);
    const close = track(() => registry.close());
    let garbage: string[];
    try {
      garbage = await registry.uploadGarbage(
        size,
        size.garbageBlobs,
        settings.garbageBytes,
        options.seedConcurrency,
      );
    } finally {
      await close();
    }
    const took = seconds(began);
    measurement.values!['seed.garbage.rate'] = size.garbageBlobs / took;
    log(`  ${took.toFixed(1)} s (${(size.garbageBlobs / took).toFixed(0)}/s)`);
    const storage = state.storage;
    const before = await countBlobs(storage);
    await quiet(run, measurement);
    log(`berth gc --delay 0 over ${before.objects} storage objects`);
    await mkdir(state.dataDir, { recursive: true });
    const gc = await runGc(entry, state.dataDir, sharedEnv(stateDir), ['--delay', '0']);
    const after = await countBlobs(storage);
    const { report } = gc;
    log(
      `  ${(gc.wallMs / 1000).toFixed(1)} s, peak RSS ${(gc.peakRssBytes / MB).toFixed(0)} MB, ` +
        `${report.blobsDeleted} blobs deleted`,
    );
    Object.assign(measurement.values!, {
      'gc.wall': gc.wallMs / 1000,
      'gc.duration': report.durationMs / 1000,
      'gc.rss': gc.peakRssBytes / MB,
      'gc.blobs': report.blobsDeleted,
      'gc.freed': report.bytesFreed / MB,
      'gc.disk.objects': before.objects - after.objects,
      'gc.disk.freed': (before.bytes - after.bytes) / MB,
      'gc.perBlob': report.blobsDeleted > 0 ? (report.durationMs * 1000) / report.blobsDeleted : Number.NaN,
    });
    const reportObjects = report.blobsDeleted + report.orphansDeleted;
    const reportBytes = report.bytesFreed + report.orphanBytes;
    const agrees =
      before.objects - after.objects === reportObjects && before.bytes - after.bytes === reportBytes;
    notes.push(
      `Garbage collection report: ${JSON.stringify({ ...report, startedAt: undefined })}. Storage before ` +
        `${before.objects.toLocaleString('en-US')} objects (${before.bytes.toLocaleString('en-US')} bytes), after ` +
        `${after.objects.toLocaleString('en-US')} (${after.bytes.toLocaleString('en-US')} bytes): ` +
        `${agrees ? 'the report matches the disk' : '**the report does not match the disk**'}; ` +
        `${report.blobsDeleted === size.garbageBlobs ? 'exactly the unreferenced blobs were deleted' : `**${size.garbageBlobs.toLocaleString('en-US')} blobs were unreferenced**`}.`,
    );
    notes.push(await checkAfterGc(run, garbage, blobs));
  } catch (err) {
    measurement.error = (err as Error).message;
    log(`  gc: ERROR ${measurement.error}`);
  }
  record.measurements.push(measurement);
}

/** After collection: sampled tags still pull (manifest and blobs) and sampled collected blobs are 404. */
async function checkAfterGc(run: Run, garbage: string[], blobs: SharedBlobs): Promise<string> {
  const { size } = run.settings;
  const counts = tagCounts(size);
  return using(run.start('gc-check'), async (server) => {
    const client = new RegistryClient(server.url, 8);
    try {
      const samples = 200;
      let pulled = 0;
      await pool(samples, 8, async (i) => {
        const index = Math.floor((i * size.repositories) / samples);
        const repository = repositoryName(index);
        const tag = tagName(index, (i * 7) % counts[index]!);
        await client.request('GET', `/v2/${repository}/manifests/${tag}`, {
          headers: { accept: MANIFEST_ACCEPT },
          expect: [200],
        });
        for (const digest of [blobs.config.digest, blobs.layer.digest]) {
          await client.request('GET', `/v2/${repository}/blobs/${digest}`, {
            expect: [200],
            discardBody: true,
          });
        }
        pulled++;
      });
      let gone = 0;
      const step = Math.max(1, Math.floor(garbage.length / samples));
      for (let i = 0; i < garbage.length; i += step) {
        const repository = repositoryName(i % size.repositories);
        const res = await client.request('HEAD', `/v2/${repository}/blobs/${garbage[i]}`, {
          expect: [200, 404],
        });
        if (res.status === 404) gone++;
        else throw new Error(`blob ${garbage[i]} of ${repository} is still served after collection`);
      }
      return (
        `After collection: ${pulled} sampled tags still pull (manifest, config and layer), and ` +
        `${gone} sampled collected blobs answer 404.`
      );
    } finally {
      client.close();
    }
  });
}

async function main(): Promise<number> {
  installSignalHandlers();
  const started = performance.now();
  const options = readOptions(['berth']);
  const settings = readSettings(options);
  const missing = missingToolsReason(['wrk']);
  if (missing && settings.phases.includes('pulls')) {
    throw new Error(`cannot run the pull-tracking phase: ${missing}`);
  }
  const workDir = await mkdtemp(join(options.dir, 'berth-bench-management-'));
  const removeWorkDir = track(() => rm(workDir, { recursive: true, force: true, maxRetries: 20 }));
  try {
    const record: BenchRecord = { options, machine: await machineInfo(), metrics: [], measurements: [] };
    const { size } = settings;
    log(
      `management benchmark: ${size.repositories} repositories, ${size.tags} tags, ${size.garbageBlobs} ` +
        `garbage blobs; rounds=${options.rounds} phases=${settings.phases.join(',')} workDir=${workDir} ` +
        `load=${record.machine.loadBefore}`,
    );
    const stateDir = join(workDir, 'state');
    await mkdir(stateDir);
    const ctx = createContext(options, workDir);
    const notes: string[] = [];
    const run: Run = {
      options,
      settings,
      record,
      notes,
      start: (label, env = {}) =>
        ctx.startTarget('berth', label, { berthEnv: { ...sharedEnv(stateDir), ...env } }),
    };
    const variants: ManagementRecord['variants'] = { listing: [], token: [] };

    // A first start migrates the database with the build every phase runs (the copy of dist/ the
    // context made), whose modules then write the data set in-process.
    const { entry, paths } = await using(run.start('migrate'), async (server) => {
      const probe = new RegistryClient(server.url, 1);
      const found = await discoverPaths(probe).finally(() => probe.close());
      return { entry: entryOf(server.pid), paths: found };
    });
    const blobs = await populate(run, dirname(entry), stateDir);

    if (settings.phases.includes('listing') && !isInterrupted()) {
      variants.listing = openVariants(paths, size);
      await using(run.start('listing'), (server) =>
        measureListings(run, 'listing', [
          {
            client: () => Promise.resolve(new RegistryClient(server.url, 1)),
            variants: variants.listing,
          },
        ]),
      );
    }
    if (settings.phases.includes('token') && !isInterrupted()) {
      const token = tokenVariants(paths, size);
      variants.token = [...token.reader, ...token.admin];
      await using(
        run.start('token', { BERTH_AUTH_MODE: 'token', BERTH_ADMIN_PASSWORD: ADMIN.password }),
        (server) => listInTokenMode(run, server, token),
      );
    }
    if (settings.phases.includes('pulls') && !isInterrupted()) await measurePullTracking(run, paths);
    if (settings.phases.includes('gc') && !isInterrupted()) await measureGc(run, entry, stateDir, blobs);

    record.machine.loadAfter = formatLoad();
    record.seconds = (performance.now() - started) / 1000;
    const management: ManagementRecord = { options, settings, record, variants, notes };
    console.log(`\n${renderReport(management)}\n`);
    if (options.jsonPath) {
      await writeFile(options.jsonPath, `${JSON.stringify({ ...record, settings }, null, 2)}\n`);
      log(`raw results written to ${options.jsonPath}`);
    }
    if (options.write) {
      const path = join(repoRoot, 'docs/benchmarks.md');
      await writeManagementSection(path, management);
      log(`results written to ${path}`);
    }
    return record.measurements.some((m) => m.error !== undefined) ? 1 : 0;
  } finally {
    await removeWorkDir();
  }
}

await runToExit(main);
