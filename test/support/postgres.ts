// A real PostgreSQL server for tests, and a fresh database on it per suite or test.
//
// Contracts:
// - requirePostgres() follows tools.ts's requireTools: warn and skip locally, throw under CI=true.
//   With PG_TEST_URL set (a server somebody else runs, e.g. `eval "$(scripts/pg-test-server.sh up)"`),
//   no local binaries are needed.
// - startPostgres() reuses the server at PG_TEST_URL when set and never stops it; otherwise it starts
//   a private cluster of scripts/pg-test-server.sh in a new directory on a free port (test files
//   run in parallel, each with its own), and stop() runs `down` and removes the directory. stop() is
//   idempotent.
// - restart() restarts a server that startPostgres() started (`pg_ctl restart -m fast`: sessions are
//   ended, the server is down for a moment; with `downMs`, a fast stop, that long down, then the
//   script's `up`) and resolves once it accepts connections again; it rejects for a server at
//   PG_TEST_URL, which belongs to somebody else.
// - createDatabase() makes a database with a random name; drop() removes it, closing what is still
//   connected to it.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { repoRoot } from './processes.js';
import { describeFailure, requireTools, run } from './tools.js';

export const PG_TEST_SERVER_SCRIPT = join(repoRoot, 'scripts/pg-test-server.sh');

/** True when a PostgreSQL server is available or can be started. See the contract above. */
export function requirePostgres(suite: string): boolean {
  if (process.env.PG_TEST_URL) return true;
  return requireTools(suite, ['postgres', 'initdb', 'pg_ctl']);
}

export interface PostgresServer {
  /** Connection URL of the server's `postgres` database, as its superuser. */
  url: string;
  /** True when startPostgres() started the server (stop() then stops it). */
  started: boolean;
  createDatabase(): Promise<TestDatabase>;
  /** Restarts the server (fast shutdown, then start); resolves once it accepts connections. */
  restart(opts?: RestartOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface RestartOptions {
  /** Keep the server down this long between the stop and the start (default: start at once). */
  downMs?: number;
}

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, ending its remaining connections. Idempotent. */
  drop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

/**
 * Where private clusters live: RAM (/dev/shm) when it is a writable directory, where CREATE DATABASE
 * takes ~10 ms instead of ~300 ms on this kind of machine's disk; else the temporary directory.
 */
async function clusterParent(): Promise<string> {
  try {
    await access('/dev/shm', constants.W_OK | constants.X_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs one statement on the server's `postgres` database over a short-lived connection. */
async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const external = process.env.PG_TEST_URL;
  let url: string;
  let stopServer: () => Promise<void> = async () => {};
  let restartServer: (opts?: RestartOptions) => Promise<void> = async () => {
    throw new Error(`the server at PG_TEST_URL is not ours to restart (${url})`);
  };
  if (external) {
    url = external;
  } else {
    const root = await mkdtemp(join(await clusterParent(), 'berth-pg-'));
    // initdb and the server run as `postgres` when we are root: they must traverse the directory.
    await chmod(root, 0o755);
    const env = { ...process.env, PG_TEST_DIR: join(root, 'pg'), PG_TEST_PORT: String(await freePort()) };
    const script = (command: 'up' | 'down') =>
      run('bash', [PG_TEST_SERVER_SCRIPT, command], { env, timeoutMs: 120_000 });
    const up = await script('up');
    const found = /^PG_TEST_URL=(.+)$/m.exec(up.stdout);
    if (up.code !== 0 || !found?.[1]) {
      await rm(root, { recursive: true, force: true });
      throw new Error(describeFailure('bash', [PG_TEST_SERVER_SCRIPT, 'up'], up));
    }
    url = found[1];
    restartServer = async (opts = {}) => {
      if (opts.downMs === undefined) return pgCtl(join(root, 'pg'), 'restart');
      await pgCtl(join(root, 'pg'), 'stop');
      await sleep(opts.downMs);
      const again = await script('up');
      if (again.code !== 0) throw new Error(describeFailure('bash', [PG_TEST_SERVER_SCRIPT, 'up'], again));
    };
    stopServer = async () => {
      const down = await script('down');
      await rm(root, { recursive: true, force: true });
      if (down.code !== 0) throw new Error(describeFailure('bash', [PG_TEST_SERVER_SCRIPT, 'down'], down));
    };
  }
  let stopping: Promise<void> | undefined;
  return {
    url,
    started: !external,
    async createDatabase() {
      const name = `berth_test_${randomBytes(8).toString('hex')}`;
      await admin(url, `CREATE DATABASE ${name}`);
      let dropping: Promise<void> | undefined;
      return {
        name,
        url: withDatabase(url, name),
        drop: () => (dropping ??= admin(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
      };
    },
    restart: (opts) => restartServer(opts),
    stop: () => (stopping ??= stopServer()),
  };
}

/**
 * `pg_ctl stop|restart -m fast` of the cluster that scripts/pg-test-server.sh keeps in `stateDir`
 * (same binaries, data directory, log and owner; restart reuses the options in postmaster.opts).
 */
async function pgCtl(stateDir: string, action: 'stop' | 'restart'): Promise<void> {
  const bin = join(process.env.PG_TEST_BIN ?? '/usr/lib/postgresql/15/bin', 'pg_ctl');
  const args = ['-D', join(stateDir, 'data'), '-l', join(stateDir, 'postgres.log')];
  args.push('-m', 'fast', '-w', '-t', '60', action);
  // As root, the server runs as `postgres` (see the script), and so must pg_ctl.
  const [command, argv] =
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const result = await run(command, argv, { timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(describeFailure(command, argv, result));
}
