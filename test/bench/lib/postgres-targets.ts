// Berth with its metadata on PostgreSQL, for the `berth-pg` and `berth-pg-x2` targets.
//
// - One PostgreSQL cluster per benchmark run: startPostgres() from test/support (a private cluster of
//   scripts/pg-test-server.sh, or the server at PG_TEST_URL, which is never stopped), started on first
//   need and stopped when the benchmark exits or is interrupted. Each round gets a fresh database,
//   dropped when the round's registry stops.
// - `berth-pg`: one Berth process (metadata.driver postgres), its blobs in its own data directory.
// - `berth-pg-x2`: two Berth processes on one database, each with its own data directory but one
//   shared storage.filesystem.root, behind nginx (round robin, test/support/nginx.ts). This is
//   config/examples/ha.yaml on one machine, with a shared directory in place of the S3 bucket.
// - Server CPU time is that of every Berth process plus every process of the PostgreSQL cluster, which
//   serves nothing else while a round runs (not counted when the server is not on this machine).
//   nginx's is not counted.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startLoadBalancer, type LoadBalancer } from '../../support/nginx.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import type { RegistryProcess } from '../../support/processes.js';
import { track } from './cleanup.js';
import type { BenchServer } from './context.js';
import { cpuSeconds, processTreeCpuSeconds } from './proc.js';

export interface PostgresCluster {
  server: PostgresServer;
  /** The server's `server_version`. */
  version: string;
  /** Its durability settings (fsync, synchronous_commit, full_page_writes) and where its data lives. */
  setup: string;
  /** The postmaster's PID when the server runs on this machine, else undefined (CPU not counted). */
  postmasterPid: number | undefined;
}

/** Starts one Berth process on `dataDir` with `env` added to its environment. */
export type BerthLauncher = (dataDir: string, env: Record<string, string>) => Promise<RegistryProcess>;

/**
 * Returns a function that starts the run's PostgreSQL cluster on its first call and returns the same
 * cluster (or the same failure) on every call. The cluster is stopped by the benchmark's cleanup, also
 * when it is interrupted while the cluster is still starting.
 */
export function postgresClusterOnDemand(): () => Promise<PostgresCluster> {
  let cluster: Promise<PostgresCluster> | undefined;
  return () => {
    if (cluster) return cluster;
    const starting = startPostgres();
    const stop = track(async () => {
      const server = await starting.catch(() => undefined);
      await server?.stop();
    });
    cluster = starting
      .then(async (server) => ({ server, ...(await inspect(server.url)) }))
      .catch(async (err: unknown) => {
        await stop();
        throw new Error(`PostgreSQL is not available: ${(err as Error).message}`);
      });
    return cluster;
  };
}

const SETTINGS = ['fsync', 'synchronous_commit', 'full_page_writes'] as const;
type SettingName = (typeof SETTINGS)[number];

async function inspect(url: string): Promise<Omit<PostgresCluster, 'server'>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<Record<'pid' | 'version' | 'data' | SettingName, string>>(
      `SELECT pg_backend_pid() AS pid, current_setting('server_version') AS version,
              current_setting('data_directory') AS data,
              ${SETTINGS.map((name) => `current_setting('${name}') AS ${name}`).join(', ')}`,
    );
    const row = result.rows[0]!;
    const data = row.data.startsWith('/dev/shm/') ? 'data in /dev/shm (RAM)' : `data in ${row.data}`;
    return {
      version: row.version,
      setup: [...SETTINGS.map((name) => `${name} ${row[name]}`), data].join(', '),
      postmasterPid: postmasterOf(Number(row.pid)),
    };
  } finally {
    await client.end();
  }
}

/** The parent of backend `pid` when both are postgres processes on this machine. */
function postmasterOf(pid: number): number | undefined {
  const comm = (p: number): string | undefined => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  if (comm(pid) !== 'postgres') return undefined;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const parent = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
  return Number.isInteger(parent) && comm(parent) === 'postgres' ? parent : undefined;
}

export interface PostgresTargetOptions {
  cluster: PostgresCluster;
  /** 1 for `berth-pg`, 2 for `berth-pg-x2` (then behind nginx). */
  replicas: number;
  /** The round's directory: Berth's data directory, or the replicas' directories and shared storage. */
  dataDir: string;
  launch: BerthLauncher;
  /** The metric's settings (TargetSetup.berthEnv), over the PostgreSQL ones. */
  env: Record<string, string>;
}

/** Starts Berth on a fresh database of the cluster; stop() stops it and drops the database. */
export async function startBerthOnPostgres(opts: PostgresTargetOptions): Promise<BenchServer> {
  const database = await opts.cluster.server.createDatabase();
  const berths: RegistryProcess[] = [];
  let balancer: LoadBalancer | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await balancer?.stop();
      await Promise.allSettled(berths.map((berth) => berth.stop()));
      await database.drop();
    })());
  const env: Record<string, string> = {
    BERTH_METADATA_DRIVER: 'postgres',
    BERTH_METADATA_POSTGRES_URL: database.url,
  };
  try {
    if (opts.replicas === 1) {
      berths.push(await opts.launch(opts.dataDir, { ...env, ...opts.env }));
    } else {
      const storage = join(opts.dataDir, 'storage');
      await mkdir(storage, { recursive: true });
      Object.assign(env, {
        BERTH_STORAGE_FILESYSTEM_ROOT: storage,
        // nginx sets X-Forwarded-For/-Proto, as in config/examples/ha.yaml.
        BERTH_SERVER_TRUST_PROXY: 'true',
      });
      // Started together, as replicas are: the first migrates the fresh database, the others wait.
      const starts = await Promise.allSettled(
        Array.from({ length: opts.replicas }, async (_, i) => {
          const dir = join(opts.dataDir, `replica-${i + 1}`);
          await mkdir(dir, { recursive: true });
          return opts.launch(dir, { ...env, ...opts.env });
        }),
      );
      for (const start of starts) if (start.status === 'fulfilled') berths.push(start.value);
      const failed = starts.find((start): start is PromiseRejectedResult => start.status === 'rejected');
      if (failed) throw failed.reason;
      balancer = await startLoadBalancer(berths.map((berth) => berth.host));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const front = balancer ?? berths[0]!;
  const postmaster = opts.cluster.postmasterPid;
  return {
    pid: berths[0]!.pid,
    url: front.url,
    host: front.host,
    dataDir: opts.dataDir,
    output: () => outputTails(berths, balancer),
    cpuSeconds: () =>
      berths.reduce((sum, berth) => sum + cpuSeconds(berth.pid), 0) +
      (postmaster === undefined ? 0 : processTreeCpuSeconds(postmaster)),
    stop,
  };
}

/** One process's output as is; several processes' last lines, each line marked with its process. */
function outputTails(berths: RegistryProcess[], balancer: LoadBalancer | undefined): string {
  if (!balancer) return berths[0]?.output() ?? '';
  const parts: [string, string][] = [
    ...berths.map((berth, i): [string, string] => [`replica ${i + 1}`, berth.output()]),
    ['nginx', balancer.output()],
  ];
  return parts
    .flatMap(([name, text]) =>
      text
        .trim()
        .split('\n')
        .filter((line) => line !== '')
        .slice(-2)
        .map((line) => `[${name}] ${line}`),
    )
    .join('\n');
}
