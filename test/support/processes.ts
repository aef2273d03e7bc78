// Child processes for e2e tests and benchmarks: Berth as a real `node dist/src/main.js serve` process and
// CNCF Distribution (`/usr/bin/docker-registry`) as the reference registry.
//
// Contracts:
// - Every start* function resolves only once the server answers `GET /v2/` on 127.0.0.1, and rejects
//   (after stopping the child) with the tail of its stderr when it exits early or does not answer in time.
// - stop() signals only the PID this module spawned: SIGTERM, a bounded wait, then SIGKILL. It is
//   idempotent, and it removes the data directory only when this module created it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';

/** Repository root (this file lives in test/support/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const berthEntry = join(repoRoot, 'dist/src/main.js');
export const distributionBinary = '/usr/bin/docker-registry';

export interface ManagedProcess {
  pid: number;
  /** SIGTERM, wait up to the grace period, then SIGKILL. Resolves once the process has exited. */
  stop(): Promise<void>;
}

export interface RegistryProcess extends ManagedProcess {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:41234 (https:// when started with TLS) */
  url: string;
  /** host:port, as docker/skopeo/podman want it. */
  host: string;
  dataDir: string;
  /** Last few KiB of the child's stdout and stderr (for failure messages). */
  output(): string;
  /**
   * Milliseconds from spawning the child to its first answer on `/v2/` (to within READY_POLL_MS), for
   * the benchmark's start-up row; undefined for a target of several processes.
   */
  startupMs?: number;
}

const STOP_GRACE_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;
/** How often a starting server is asked for `/v2/`: also the resolution of startupMs. */
const READY_POLL_MS = 20;
const OUTPUT_TAIL_BYTES = 8 * 1024;

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it; there is a small race). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error('no port assigned'))));
    });
  });
}

export interface SpawnedProcess extends ManagedProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  output(): string;
}

/**
 * Spawns a long-running child (no shell), keeping a bounded tail of its output. The caller owns it and
 * must call stop(). Use for servers and daemons; one-shot commands belong in run() from tools.ts.
 */
export function spawnManaged(
  command: string,
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string | undefined>;
    graceMs?: number;
    /** Sent if the test process exits while the child still runs (a crash safety net, not cleanup). */
    exitSignal?: NodeJS.Signals;
    /** Receives every chunk of the child's stdout (the output tail is kept either way). */
    onStdout?: (chunk: Buffer) => void;
  } = {},
): SpawnedProcess {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  if (opts.onStdout) child.stdout?.on('data', opts.onStdout);
  child.stderr?.on('data', keep);
  let exitedFlag = false;
  const exited = new Promise<number | string>((resolveExit) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      resolveExit(code ?? signal ?? 'unknown');
    });
    child.on('error', (err) => {
      keep(Buffer.from(`\nspawn error: ${err.message}\n`));
      exitedFlag = true;
      resolveExit('spawn-error');
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (e.g. ENOENT); 'error' fires asynchronously and settles `exited`.
    return {
      pid: -1,
      child,
      exited,
      hasExited: () => true,
      output: () => tail,
      stop: async () => {
        await exited;
      },
    };
  }
  const pid = child.pid;
  const grace = opts.graceMs ?? STOP_GRACE_MS;
  const onParentExit = (): void => {
    try {
      process.kill(pid, opts.exitSignal ?? 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', onParentExit);
  void exited.then(() => process.off('exit', onParentExit));
  let stopping: Promise<void> | undefined;
  return {
    pid,
    child,
    exited,
    hasExited: () => exitedFlag,
    output: () => tail,
    stop() {
      stopping ??= (async () => {
        if (exitedFlag) return;
        signal(pid, 'SIGTERM');
        const timer = setTimeout(() => signal(pid, 'SIGKILL'), grace);
        try {
          await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Status of `GET {url}/v2/` over HTTPS, trusting `ca` (PEM) only. */
function httpsStatus(url: string, ca: string | Buffer): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = httpsRequest(`${url}/v2/`, { ca, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `GET {url}/v2/` until any HTTP answer (200 or 401) arrives. Rejects with the child's output tail
 * when the child exits first or the deadline passes. An https:// URL is checked trusting `ca` only.
 */
export async function waitForRegistry(
  url: string,
  proc: Pick<SpawnedProcess, 'hasExited' | 'output' | 'exited'>,
  timeoutMs = READY_TIMEOUT_MS,
  ca?: string | Buffer,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      const code = await proc.exited;
      throw new Error(`process exited (${code}) before ${url}/v2/ answered; output tail:\n${proc.output()}`);
    }
    try {
      let status: number;
      if (ca !== undefined) {
        status = await httpsStatus(url, ca);
      } else {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        status = res.status;
      }
      if (status === 200 || status === 401) return;
      lastError = `status ${status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  throw new Error(
    `${url}/v2/ did not answer within ${timeoutMs} ms (last: ${lastError}); output tail:\n${proc.output()}`,
  );
}

async function startRegistry(
  label: string,
  dataDirOpt: string | undefined,
  launch: (dataDir: string, port: number) => Promise<SpawnedProcess>,
  /** HTTPS: the CA (PEM) that the readiness check trusts. */
  tlsCa?: string | Buffer,
): Promise<RegistryProcess> {
  const ownsDataDir = dataDirOpt === undefined;
  const dataDir = dataDirOpt ?? (await mkdtemp(join(tmpdir(), `${label}-`)));
  const cleanup = async (): Promise<void> => {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };
  let lastError: unknown;
  // The port from freePort() may be taken before the child binds it; retry with a fresh one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `${tlsCa === undefined ? 'http' : 'https'}://${host}`;
    let proc: SpawnedProcess;
    const launched = performance.now();
    try {
      proc = await launch(dataDir, port);
    } catch (err) {
      await cleanup();
      throw err;
    }
    try {
      await waitForRegistry(url, proc, READY_TIMEOUT_MS, tlsCa);
    } catch (err) {
      await proc.stop();
      lastError = err;
      if (/EADDRINUSE|address already in use/i.test(proc.output())) continue;
      await cleanup();
      throw new Error(`${label} failed to start: ${(err as Error).message}`);
    }
    return {
      pid: proc.pid,
      url,
      host,
      dataDir,
      output: proc.output,
      startupMs: performance.now() - launched,
      async stop() {
        await proc.stop();
        await cleanup();
      },
    };
  }
  await cleanup();
  throw new Error(`${label} failed to start: ${(lastError as Error).message}`);
}

export interface BerthProcessOptions {
  /** Data directory; a temporary one (removed on stop) when omitted. */
  dataDir?: string;
  /** Extra CLI arguments after `serve --listen … --data …`. */
  args?: string[];
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string>;
  /** Receives every chunk of Berth's stdout (its pino JSON log lines), e.g. a RequestLog's `onStdout`. */
  onStdout?: (chunk: Buffer) => void;
  /** HTTPS: `--tls-cert`/`--tls-key` files, and the CA (PEM) the readiness check trusts. */
  tls?: { cert: string; key: string; ca: string | Buffer };
}

/** Starts `node dist/src/main.js serve --listen 127.0.0.1:PORT --data DIR` (run `npm run build` first). */
export async function startBerthProcess(opts: BerthProcessOptions = {}): Promise<RegistryProcess> {
  if (!existsSync(berthEntry)) {
    throw new Error(`${berthEntry} is missing: run \`npm run build\` before the e2e tests`);
  }
  const tlsArgs = opts.tls ? ['--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key] : [];
  return startRegistry(
    'berth-e2e',
    opts.dataDir,
    async (dataDir, port) =>
      spawnManaged(
        process.execPath,
        [
          berthEntry,
          'serve',
          '--listen',
          `127.0.0.1:${port}`,
          '--data',
          dataDir,
          ...tlsArgs,
          ...(opts.args ?? []),
        ],
        { cwd: repoRoot, env: { ...process.env, ...opts.env }, onStdout: opts.onStdout },
      ),
    opts.tls?.ca,
  );
}

export interface DistributionOptions {
  /** Root directory (config.yml and storage/ go inside); a temporary one (removed on stop) when omitted. */
  dataDir?: string;
  /** Deep-merged over the generated configuration (e.g. `{ proxy: { remoteurl: … } }`). */
  extraConfig?: object;
}

/** Starts CNCF Distribution 2.8 (`docker-registry serve config.yml`) with filesystem storage. */
export async function startDistribution(opts: DistributionOptions = {}): Promise<RegistryProcess> {
  if (!existsSync(distributionBinary)) {
    throw new Error(`${distributionBinary} is missing: apt-get install -y docker-registry`);
  }
  return startRegistry('distribution-e2e', opts.dataDir, async (dataDir, port) => {
    const storageDir = join(dataDir, 'storage');
    await mkdir(storageDir, { recursive: true });
    const config = deepMerge(
      {
        version: 0.1,
        log: { level: 'warn', accesslog: { disabled: true } },
        storage: {
          filesystem: { rootdirectory: storageDir },
          delete: { enabled: true },
          cache: { blobdescriptor: 'inmemory' },
          maintenance: { uploadpurging: { enabled: false } },
        },
        // No http.debug section: the debug server stays off.
        http: { addr: `127.0.0.1:${port}` },
      },
      (opts.extraConfig ?? {}) as Record<string, unknown>,
    );
    const configPath = join(dataDir, 'config.yml');
    await writeFile(configPath, toYaml(config));
    // Distribution reads REGISTRY_* variables as config overrides; do not let the caller's leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    return spawnManaged(distributionBinary, ['serve', configPath], { cwd: dataDir, env });
  });
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prev = out[key];
    out[key] =
      isPlainObject(prev) && isPlainObject(value)
        ? deepMerge(prev as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `E2E_TARGET=distribution` runs the e2e suites against CNCF Distribution instead of Berth. */
export const e2eTarget: 'berth' | 'distribution' =
  process.env.E2E_TARGET === 'distribution' ? 'distribution' : 'berth';

/** The registry the e2e suites test: Berth (default) or Distribution, chosen by E2E_TARGET. */
export function startRegistryUnderTest(): Promise<RegistryProcess> {
  return e2eTarget === 'distribution' ? startDistribution() : startBerthProcess();
}

/** Per-test timeout of the e2e suites: real clients on a loaded 2-core CI machine. */
export const E2E_TEST_TIMEOUT_MS = 180_000;

/**
 * Awaits every start before failing, so when one start fails the others have still finished (and
 * assigned what afterAll will stop) instead of running on unseen. Rethrows the first failure.
 */
export async function settleAll(starts: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
