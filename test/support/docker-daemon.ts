// An isolated Docker daemon per caller: its own socket, data root, exec root and pid file under a short
// temporary directory (/tmp/bd-XXXXXX; unix socket paths are limited to 108 bytes), vfs storage (or
// overlay2 on request), no iptables and no bridge, so it never touches a system daemon or the host network.
//
// Contract: startDockerDaemon() resolves once the daemon answers `GET /_ping`; stop() sends SIGTERM to
// that dockerd PID only (SIGKILL after a bounded wait, then the containerd it spawned, by its pid file),
// unmounts anything left under the directory and removes it (vfs layers can be large).
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { spawnManaged } from './processes.js';
import { run, which, type RunOptions, type RunResult } from './tools.js';

export interface DockerDaemon {
  pid: number;
  /** Environment for docker clients: DOCKER_HOST=unix://… and a private DOCKER_CONFIG. */
  env: { DOCKER_HOST: string; DOCKER_CONFIG: string };
  /** Short temporary directory holding the daemon's state. */
  dir: string;
  /** Runs the docker CLI against this daemon; never rejects on a non-zero exit code. */
  docker(
    args: readonly string[],
    opts?: Omit<RunOptions, 'env'> & { env?: Record<string, string> },
  ): Promise<RunResult>;
  stop(): Promise<void>;
}

export interface DockerDaemonOptions {
  /** daemon.json contents, e.g. `{ "registry-mirrors": ["http://127.0.0.1:5000"] }`. */
  daemonConfig?: object;
  /** Extra environment for dockerd itself (e.g. HTTP_PROXY for mirror tests). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /**
   * Default vfs, which works on any file system but copies every layer whole: fine for FROM-scratch test
   * images, minutes per step for a Debian-based build. overlay2 needs a backing file system that supports
   * it (ext4, xfs); dockerd refuses to start otherwise, and startDockerDaemon rejects.
   */
  storageDriver?: 'vfs' | 'overlay2';
}

/** The docker CLI the tests use: $E2E_DOCKER, else `docker` from PATH. */
export const dockerCli = process.env.E2E_DOCKER ?? 'docker';

export async function startDockerDaemon(opts: DockerDaemonOptions = {}): Promise<DockerDaemon> {
  const dockerd = which('dockerd');
  if (!dockerd) throw new Error('dockerd is missing: apt-get install -y docker.io');
  const dir = await mkdtemp('/tmp/bd-');
  const socket = join(dir, 'd.sock');
  const configDir = join(dir, 'cli');
  const daemonConfigPath = join(dir, 'daemon.json');
  await mkdir(configDir);
  await writeFile(join(configDir, 'config.json'), '{}\n');
  await writeFile(daemonConfigPath, JSON.stringify(opts.daemonConfig ?? {}));
  const proc = spawnManaged(
    dockerd,
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'x'),
      '--pidfile',
      join(dir, 'd.pid'),
      '--config-file',
      daemonConfigPath,
      `--storage-driver=${opts.storageDriver ?? 'vfs'}`,
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      '--bridge=none',
      '--shutdown-timeout=5',
      '--log-level=warn',
    ],
    { env: { ...process.env, ...opts.env }, graceMs: 20_000, exitSignal: 'SIGTERM' },
  );
  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir };

  const stop = async (): Promise<void> => {
    const containerdPid = await readPid(join(dir, 'x', 'containerd', 'containerd.pid'));
    await proc.stop();
    // dockerd stops its containerd on SIGTERM; after a SIGKILL it would be orphaned.
    if (containerdPid !== undefined && isAlive(containerdPid)) {
      process.kill(containerdPid, 'SIGKILL');
    }
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    await waitForPing(socket, proc, opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    pid: proc.pid,
    env,
    dir,
    docker: (args, runOpts = {}) =>
      run(dockerCli, args, { ...runOpts, env: { ...process.env, ...env, ...runOpts.env } }),
    stop,
  };
}

async function waitForPing(
  socket: string,
  proc: { hasExited(): boolean; output(): string },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`dockerd exited during startup; output tail:\n${proc.output()}`);
    if (await ping(socket)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`dockerd did not answer within ${timeoutMs} ms; output tail:\n${proc.output()}`);
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolvePing) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolvePing(res.statusCode === 200);
    });
    req.on('error', () => resolvePing(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Lazily unmounts every mount point below `dir` (deepest first): netns bind mounts, the data root. */
export async function unmountUnder(dir: string): Promise<void> {
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of mountPoints) {
    await run('umount', ['-l', point], { timeoutMs: 10_000 });
  }
}
