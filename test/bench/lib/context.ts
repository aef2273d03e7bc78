// What every metric gets: the options, a work directory on the disk under test, fresh registries, and
// lazily created shared inputs (the random blob on disk, a snapshot of Berth's build, the PostgreSQL
// cluster of the PostgreSQL targets: lib/postgres-targets.ts).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, cp, mkdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  berthEntry,
  freePort,
  repoRoot,
  spawnManaged,
  startDistribution,
  waitForRegistry,
  type RegistryProcess,
} from '../../support/processes.js';
import { run } from '../../support/tools.js';
import { track } from './cleanup.js';
import { MiB, type BenchOptions, type TargetName } from './options.js';
import { postgresClusterOnDemand, startBerthOnPostgres, type PostgresCluster } from './postgres-targets.js';
import { cpuSeconds } from './proc.js';

export interface RandomBlob {
  path: string;
  size: number;
  digest: string;
}

/** Settings for one registry start beyond the shipped defaults (e.g. authentication). */
export interface TargetSetup {
  /** Environment variables for `berth serve` (BERTH_*), over the benchmark's logging settings. */
  berthEnv?: Record<string, string>;
  /** Deep-merged over Distribution's generated config.yml (see startDistribution). */
  distributionConfig?: object;
}

/** A started target, as the metrics see it. */
export interface BenchServer extends RegistryProcess {
  /**
   * CPU time (user + system, all threads), in seconds, that the target has used so far: the server
   * process, or for the PostgreSQL targets every Berth process and the database server's processes.
   * `pid` is the (first) Berth process.
   */
  cpuSeconds(): number;
}

export interface BenchContext {
  options: BenchOptions;
  workDir: string;
  /** A file of random bytes of options.blobBytes and its digest (written once per run). */
  randomBlob(): Promise<RandomBlob>;
  /**
   * Starts `target` on a fresh, empty data directory under workDir (and, for the PostgreSQL targets, a
   * fresh database) and returns it with a stop() that also removes them. Tracked for Ctrl-C.
   */
  startTarget(target: TargetName, label: string, setup?: TargetSetup): Promise<BenchServer>;
  /** The run's PostgreSQL cluster, started on the first call (tracked; stopped when the run ends). */
  postgres(): Promise<PostgresCluster>;
  /** Flushes dirty pages (`sync`), so one round's writeback does not slow down the next round. */
  flushDisk(): Promise<void>;
}

export function createContext(options: BenchOptions, workDir: string): BenchContext {
  let blob: Promise<RandomBlob> | undefined;
  let berth: Promise<string> | undefined;
  const berthBuild = (): Promise<string> => (berth ??= snapshotBerth(join(workDir, 'berth-build')));
  if (options.targets.some((target) => target !== 'distribution')) {
    // Snapshot the build now, right after `npm run build`; a failure is reported by the first start.
    berthBuild().catch(() => undefined);
  }
  const postgres = postgresClusterOnDemand();
  let serial = 0;
  return {
    options,
    workDir,
    randomBlob() {
      blob ??= writeRandomBlob(join(workDir, 'random.blob'), options.blobBytes);
      return blob;
    },
    async startTarget(target, label, setup = {}) {
      const dataDir = join(workDir, `${target}-${label}-${serial++}`);
      await mkdir(dataDir, { recursive: true });
      let server: BenchServer;
      try {
        switch (target) {
          case 'berth':
            server = withCpu(await startBerth(await berthBuild(), dataDir, options, setup.berthEnv));
            break;
          case 'distribution':
            server = withCpu(await startDistribution({ dataDir, extraConfig: setup.distributionConfig }));
            break;
          case 'berth-pg':
          case 'berth-pg-x2':
            server = await startBerthOnPostgres({
              cluster: await postgres(),
              replicas: target === 'berth-pg-x2' ? 2 : 1,
              dataDir,
              env: setup.berthEnv ?? {},
              launch: async (dir, env) => startBerth(await berthBuild(), dir, options, env),
            });
            break;
        }
      } catch (err) {
        await rm(dataDir, { recursive: true, force: true });
        throw err;
      }
      const release = track(async () => {
        await server.stop();
        await rm(dataDir, { recursive: true, force: true });
      });
      return { ...server, stop: release };
    },
    postgres,
    async flushDisk() {
      await run('sync', [], { timeoutMs: 300_000 });
    },
  };
}

function withCpu(server: RegistryProcess): BenchServer {
  return { ...server, cpuSeconds: () => cpuSeconds(server.pid) };
}

/**
 * Copies dist/ (built by `npm run bench` just before) into `dir`, beside a copy of package.json and a
 * link to node_modules, and returns the copied entry point. Every round then runs the same build, even
 * when dist/ is rebuilt (e.g. by a test run) while the benchmark is going on.
 */
async function snapshotBerth(dir: string): Promise<string> {
  if (!existsSync(berthEntry)) throw new Error(`${berthEntry} is missing: run \`npm run build\` first`);
  await mkdir(dir, { recursive: true });
  await cp(join(repoRoot, 'dist'), join(dir, 'dist'), { recursive: true });
  await copyFile(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return join(dir, 'dist/src/main.js');
}

/** Logging set like Distribution's (level warn, no access log) unless the caller sets BERTH_LOG_*. */
function berthEnv(): Record<string, string> {
  return {
    BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? 'warn',
    BERTH_LOG_REQUESTS: process.env.BERTH_LOG_REQUESTS ?? 'false',
  };
}

/**
 * `node ENTRY serve --listen 127.0.0.1:PORT --data DIR` like startBerthProcess() in test/support, but from
 * the snapshot, and with `--cpu-prof` when BENCH_BERTH_CPU_PROF is set (NODE_OPTIONS refuses that flag;
 * the profile is written when Berth exits after SIGTERM).
 */
async function startBerth(
  entry: string,
  dataDir: string,
  options: BenchOptions,
  env: Record<string, string> = {},
): Promise<RegistryProcess> {
  const nodeArgs: string[] = [];
  if (options.berthCpuProfDir) {
    await mkdir(options.berthCpuProfDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(options.berthCpuProfDir)}`);
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const args = [...nodeArgs, entry, 'serve', '--listen', host, '--data', dataDir, ...options.berthArgs];
    const spawned = performance.now();
    const proc = spawnManaged(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...berthEnv(), ...env },
    });
    try {
      await waitForRegistry(`http://${host}`, proc);
      const startupMs = performance.now() - spawned;
      return {
        pid: proc.pid,
        url: `http://${host}`,
        host,
        dataDir,
        output: proc.output,
        stop: proc.stop,
        startupMs,
      };
    } catch (err) {
      await proc.stop();
      lastError = err;
      if (!/EADDRINUSE|address already in use/i.test(proc.output())) break;
    }
  }
  throw new Error(`berth failed to start: ${(lastError as Error).message}`);
}

/** Writes `size` random bytes to `path`, hashing them on the way. */
export async function writeRandomBlob(path: string, size: number): Promise<RandomBlob> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += MiB) {
    const chunk = randomBytes(Math.min(MiB, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(resolve);
  });
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}
