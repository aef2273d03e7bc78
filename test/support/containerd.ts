// An isolated containerd for `ctr`: its own root, state, socket and opt directory under a short
// temporary directory (/tmp/ctd-XXXXXX; unix socket paths are limited to 108 bytes), the CRI plugin
// disabled, never the containerd that a dockerd started. Images are unpacked with the native snapshotter
// (no overlayfs needed), and content is isolated per containerd namespace, so a pull into a fresh
// namespace downloads every blob again instead of reusing what another namespace holds.
//
// Contract: startContainerd() resolves once `ctr version` reaches the daemon; stop() sends SIGTERM to
// that containerd PID only (SIGKILL after a bounded wait), unmounts anything left below the directory
// and removes it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unmountUnder } from './docker-daemon.js';
import { spawnManaged } from './processes.js';
import { run, which, type RunOptions, type RunResult } from './tools.js';

export interface Containerd {
  pid: number;
  /** The daemon's gRPC socket (`ctr -a`). */
  socket: string;
  dir: string;
  /** Runs `ctr -a SOCKET [-n NAMESPACE] ARGS…`; never rejects on a non-zero exit code. */
  ctr(args: readonly string[], opts?: RunOptions & { namespace?: string }): Promise<RunResult>;
  /** The raw bytes of a content blob (`ctr content get`); rejects when ctr fails. */
  content(digest: string, namespace: string): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startContainerd(opts: { readyTimeoutMs?: number } = {}): Promise<Containerd> {
  const containerd = which('containerd');
  const ctrBinary = which('ctr');
  if (!containerd || !ctrBinary)
    throw new Error('containerd or ctr is missing: apt-get install -y containerd');
  const dir = await mkdtemp('/tmp/ctd-');
  const socket = join(dir, 'c.sock');
  const configPath = join(dir, 'config.toml');
  await writeFile(
    configPath,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dir, 'opt')}"`,
      '[plugins."io.containerd.metadata.v1.bolt"]',
      '  content_sharing_policy = "isolated"',
      '',
    ].join('\n'),
  );
  const proc = spawnManaged(containerd, ['--config', configPath, '--log-level', 'warn'], {
    graceMs: 10_000,
    exitSignal: 'SIGTERM',
  });

  const ctr: Containerd['ctr'] = (args, runOpts = {}) => {
    const { namespace, ...rest } = runOpts;
    const global = ['-a', socket, ...(namespace ? ['-n', namespace] : [])];
    return run(ctrBinary, [...global, ...args], { timeoutMs: 120_000, ...rest });
  };
  const content: Containerd['content'] = (digest, namespace) =>
    new Promise((resolveContent, reject) => {
      const child = spawn(ctrBinary, ['-a', socket, '-n', namespace, 'content', 'get', digest], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolveContent(Buffer.concat(out));
        else reject(new Error(`ctr content get ${digest} exited ${code}: ${err}`));
      });
    });
  const stop = async (): Promise<void> => {
    await proc.stop();
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (proc.hasExited())
        throw new Error(`containerd exited during startup; output tail:\n${proc.output()}`);
      if (existsSync(socket)) {
        const version = await ctr(['--connect-timeout', '2s', 'version'], { timeoutMs: 10_000 });
        if (version.code === 0 && /Server:/.test(version.stdout)) break;
      }
      if (Date.now() > deadline) {
        throw new Error(`containerd did not answer within the deadline; output tail:\n${proc.output()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return { pid: proc.pid, socket, dir, ctr, content, stop };
}
