// `npm run bench:mirror`: Berth as a pull-through mirror (`berth serve --mirror URL`, the built dist/)
// against CNCF Distribution 2.8 in proxy mode, both in front of one plain Distribution reached through
// a counting fault proxy: cold pulls at several concurrencies (time, upstream fetches per blob), warm
// pulls, time to first byte from a slow upstream, pulls while the upstream is down. Rounds alternate
// the order of the mirrors; each round starts them on fresh data directories. Prints the table;
// BENCH_WRITE=1 also writes the "Pull-through mirror" section of docs/benchmarks.md.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { startFaultProxy } from '../../support/fault-proxy.js';
import { repoRoot, startDistribution } from '../../support/processes.js';
import { missingToolsReason } from '../../support/tools.js';
import { installSignalHandlers, isInterrupted, runToExit, track } from '../lib/cleanup.js';
import { createContext } from '../lib/context.js';
import { RegistryClient } from '../lib/http.js';
import { MiB, readOptions, type TargetName } from '../lib/options.js';
import { waitForQuiet } from '../lib/quiet.js';
import { formatLoad, machineInfo, type BenchRecord, type Measurement } from '../lib/report.js';
import { log } from '../lib/rounds.js';
import { makeImage, pushImage, type TestImage } from './images.js';
import { pullImage } from './pull-client.js';
import { renderReport, writeMirrorSection, type MirrorRecord } from './report.js';
import { measureMirror, type BenchImages, type MirrorBench, type MirrorSettings } from './scenario.js';

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function readSettings(): MirrorSettings {
  return {
    concurrency: [1, 4, 8, 16],
    layers: 3,
    layerBytes: positiveInt('BENCH_MIRROR_LAYER_MIB', 4) * MiB,
    warmClients: 8,
    warmRepeats: 3,
    slowBlobBytes: positiveInt('BENCH_MIRROR_SLOW_MIB', 32) * MiB,
    slowBytesPerSecond: positiveInt('BENCH_MIRROR_RATE_MIB', 8) * MiB,
    downPulls: positiveInt('BENCH_MIRROR_DOWN_PULLS', 10),
  };
}

function summarize(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v >= 100 ? v.toFixed(0) : v.toPrecision(3)}`)
    .join(' ');
}

/** The upstream's images: a warm-up image, one per concurrency level, and one with a large layer. */
function makeImages(settings: MirrorSettings): BenchImages {
  const layers = Array.from({ length: settings.layers }, () => settings.layerBytes);
  return {
    warmup: makeImage('mirror-bench/warmup', 'v1', [4096]),
    cold: new Map(
      settings.concurrency.map((n): [number, TestImage] => [
        n,
        makeImage(`mirror-bench/cold-${n}`, 'v1', layers),
      ]),
    ),
    slow: makeImage('mirror-bench/slow', 'v1', [settings.slowBlobBytes]),
  };
}

async function main(): Promise<number> {
  installSignalHandlers();
  const started = performance.now();
  const options = readOptions(['berth', 'distribution']);
  const settings = readSettings();
  // Both mirrors sit in front of a Distribution: it is needed whichever targets run.
  const missing = missingToolsReason(['docker-registry']);
  if (missing) throw new Error(`cannot run the mirror benchmark: ${missing}`);
  const workDir = await mkdtemp(join(options.dir, 'berth-bench-mirror-'));
  const removeWorkDir = track(() => rm(workDir, { recursive: true, force: true, maxRetries: 20 }));
  try {
    const record: BenchRecord = { options, machine: await machineInfo(), metrics: [], measurements: [] };
    log(
      `mirror benchmark: rounds=${options.rounds} targets=${options.targets.join(',')} ` +
        `workDir=${workDir} load=${record.machine.loadBefore}`,
    );

    const upstreamDir = join(workDir, 'upstream');
    await mkdir(upstreamDir);
    const upstream = await startDistribution({ dataDir: upstreamDir });
    const stopUpstream = track(() => upstream.stop());
    const proxy = await startFaultProxy(upstream.url);
    const stopProxy = track(() => proxy.stop());
    try {
      log(`upstream ${upstream.url} behind the proxy at ${proxy.url}; pushing the test images`);
      const images = makeImages(settings);
      const all = [images.warmup, ...images.cold.values(), images.slow];
      const client = new RegistryClient(upstream.url, 16);
      try {
        for (const image of all) await pushImage(client, image);
      } finally {
        client.close();
      }
      for (const image of all) {
        const pulled = await pullImage(upstream.url, image.repo, image.tag, image.manifestDigest);
        if (!pulled.ok) throw new Error(`the upstream does not serve ${image.repo}: ${pulled.error}`);
      }

      // Berth as `berth serve --mirror <proxy>`; and from a config file with tagFreshness 0s.
      const mirrorDir = join(workDir, 'mirror');
      const eagerDir = join(workDir, 'eager');
      await Promise.all([mkdir(mirrorDir), mkdir(eagerDir)]);
      const ctx = createContext(
        { ...options, berthArgs: [...options.berthArgs, '--mirror', proxy.url] },
        mirrorDir,
      );
      const eagerCtx = createContext(options, eagerDir);
      const eagerConfig = join(workDir, 'berth-eager.yaml');
      await writeFile(
        eagerConfig,
        toYaml({
          mirror: { upstreams: [{ name: 'upstream', url: proxy.url, root: true, tagFreshness: '0s' }] },
        }),
      );
      const bench: MirrorBench = {
        settings,
        proxy,
        upstreamUrl: upstream.url,
        images,
        startMirror: (target, label) =>
          ctx.startTarget(target, label, { distributionConfig: { proxy: { remoteurl: proxy.url } } }),
        startEagerBerth: (label) =>
          eagerCtx.startTarget('berth', label, { berthEnv: { BERTH_CONFIG: eagerConfig } }),
      };

      const notes = new Set<string>();
      for (let round = 0; round < options.rounds && !isInterrupted(); round++) {
        const order: TargetName[] = round % 2 === 0 ? [...options.targets] : [...options.targets].reverse();
        for (const target of order) {
          if (isInterrupted()) break;
          const measurement: Measurement = { metric: 'mirror', target, round };
          if (options.quietMaxWait > 0) {
            measurement.busyBefore = await waitForQuiet(options.quietBusy, options.quietMaxWait, log);
          }
          const began = performance.now();
          proxy.reset();
          try {
            const outcome = await measureMirror(bench, target, round);
            measurement.values = outcome.values;
            for (const note of outcome.notes) notes.add(note);
            const took = ((performance.now() - began) / 1000).toFixed(1);
            log(`round ${round + 1} ${target}: ${summarize(outcome.values)} (${took} s)`);
          } catch (err) {
            measurement.error = (err as Error).message;
            log(`round ${round + 1} ${target}: ERROR ${measurement.error}`);
          }
          record.measurements.push(measurement);
        }
      }

      record.machine.loadAfter = formatLoad();
      record.seconds = (performance.now() - started) / 1000;
      const mirror: MirrorRecord = { options, settings, record, notes: [...notes] };
      console.log(`\n${renderReport(mirror)}\n`);
      if (options.jsonPath) {
        await writeFile(options.jsonPath, `${JSON.stringify({ ...record, settings }, null, 2)}\n`);
        log(`raw results written to ${options.jsonPath}`);
      }
      if (options.write) {
        const path = join(repoRoot, 'docs/benchmarks.md');
        await writeMirrorSection(path, mirror);
        log(`results written to ${path}`);
      }
      return record.measurements.some((m) => m.error !== undefined) ? 1 : 0;
    } finally {
      await stopProxy();
      await stopUpstream();
    }
  } finally {
    await removeWorkDir();
  }
}

await runToExit(main);
