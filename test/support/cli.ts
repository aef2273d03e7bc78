// The built `berth` command as users run it (`node dist/src/main.js`), for CLI tests.
// Contracts: ensureBuilt() runs `npm run build` when dist/ is missing or older than any source file;
// runBerth() resolves with the exit code and all output once the child exits, feeding it `stdin` (or
// an immediately closed stdin), with no BERTH_* variable of the parent's environment, and kills it
// (SIGKILL) when it outlives the timeout.
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthEntry, repoRoot } from './processes.js';

const RUN_TIMEOUT_MS = 20_000;
const BUILD_TIMEOUT_MS = 170_000;

export interface BerthRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function newestSource(): Promise<number> {
  let newest = 0;
  for (const dir of ['src', 'storage-drivers']) {
    const entries = await readdir(join(repoRoot, dir), { recursive: true, withFileTypes: true });
    for (const e of entries) {
      if (e.isFile()) newest = Math.max(newest, (await stat(join(e.parentPath, e.name))).mtimeMs);
    }
  }
  return newest;
}

export async function ensureBuilt(): Promise<void> {
  const built = await stat(berthEntry).catch(() => undefined);
  if (built && built.mtimeMs >= (await newestSource())) return;
  const build = spawn('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  build.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  build.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => build.kill('SIGKILL'), BUILD_TIMEOUT_MS);
  const code = await new Promise<number | null>((done) => build.once('close', done));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`npm run build failed (${code}):\n${output}`);
}

/** The parent's environment without BERTH_* variables, plus `extra`: only what a test sets reaches the CLI. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')));
  return { ...env, ...extra };
}

export async function runBerth(
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<BerthRun> {
  const child = spawn(process.execPath, [berthEntry, ...args], {
    cwd: tmpdir(),
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {}); // the child may exit without reading stdin
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    const code = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('close', done);
    });
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}
