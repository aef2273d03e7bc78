// External tools for e2e tests: presence checks and a bounded one-shot command runner.
//
// Contract: a suite that needs a missing tool is skipped with a console.warn naming the tool and the
// Debian package that provides it; under CI (`CI=true`) the same condition throws, so the suite fails
// instead of passing silently.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Tool name → Debian package (bookworm) that installs it. */
export const toolPackages = {
  docker: 'docker.io',
  dockerd: 'docker.io',
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  busybox: 'busybox-static',
  'docker-registry': 'docker-registry',
  wrk: 'wrk',
  openssl: 'openssl',
  containerd: 'containerd',
  ctr: 'containerd',
  postgres: 'postgresql',
  initdb: 'postgresql',
  pg_ctl: 'postgresql',
  nginx: 'nginx-light',
  debootstrap: 'debootstrap',
  chromium: 'chromium',
} as const;
export type ToolName = keyof typeof toolPackages;

/** Absolute path of an executable found on PATH (or the absolute path itself), or undefined. */
export function which(name: string): string | undefined {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin')
        .split(delimiter)
        .concat(['/usr/sbin', '/sbin'])
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Where a tool must be, when PATH is not the answer: test images copy this static busybox. */
const fixedPaths: Partial<Record<ToolName, string>> = {
  busybox: '/bin/busybox',
  // Debian keeps the server binaries off PATH (scripts/pg-test-server.sh: PG_TEST_BIN).
  postgres: '/usr/lib/postgresql/15/bin/postgres',
  initdb: '/usr/lib/postgresql/15/bin/initdb',
  pg_ctl: '/usr/lib/postgresql/15/bin/pg_ctl',
  // Debian's browser (the web UI tests drive it with playwright-core; no browser download).
  chromium: '/usr/bin/chromium',
};

function isUsable(name: ToolName): boolean {
  const fixed = fixedPaths[name];
  if (fixed === undefined) return which(name) !== undefined;
  return which(fixed) !== undefined && (name !== 'busybox' || isStaticElf(fixed));
}

/** True for an ELF binary without a program interpreter (PT_INTERP), i.e. one that runs FROM scratch. */
export function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // 64-bit ELF only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false;
  }
  return true;
}

/** The reason the suite cannot run, or undefined when every tool is present. */
export function missingToolsReason(names: readonly ToolName[]): string | undefined {
  const missing = names.filter((name) => !isUsable(name));
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((name) => toolPackages[name]))].join(' ');
  return `missing ${missing.join(', ')} (apt-get install -y ${packages})`;
}

export const isCI = process.env.CI === 'true';

/**
 * True when all tools are present. Otherwise warns and returns false locally, and throws under CI.
 * Use as `describe.skipIf(!requireTools('Suite', ['docker']))(…)`.
 */
export function requireTools(suite: string, names: readonly ToolName[]): boolean {
  const reason = missingToolsReason(names);
  if (reason === undefined) return true;
  if (isCI) throw new Error(`${suite}: cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING ${suite}: ${reason} ***\n`);
  return false;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command (SIGKILL to its PID) after this many ms; default 120 s. */
  timeoutMs?: number;
  input?: string | Buffer;
}

/**
 * Runs a command to completion (no shell) and resolves with its exit code and output; never rejects on
 * a non-zero exit. Rejects only when the command cannot be spawned or exceeds its timeout.
 */
export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(
          new Error(
            `${command} ${args.join(' ')} timed out after ${timeoutMs} ms (${signal})\n` +
              `stdout: ${result.stdout.slice(-2000)}\nstderr: ${result.stderr.slice(-2000)}`,
          ),
        );
      } else {
        resolveRun(result);
      }
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run(), but rejects with the command line and its output when the exit code is not 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, opts);
  if (result.code !== 0) throw new Error(describeFailure(command, args, result));
  return result;
}

export function describeFailure(command: string, args: readonly string[], result: RunResult): string {
  return (
    `\`${command} ${args.join(' ')}\` exited ${result.code}\n` +
    `stdout:\n${result.stdout.slice(-4000)}\nstderr:\n${result.stderr.slice(-4000)}`
  );
}
