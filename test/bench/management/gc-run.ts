// `berth gc --delay 0 --json` as its own process, on the data the benchmark's servers used: wall
// time, peak RSS (VmHWM of /proc/<pid>/status, polled; the kernel's high-water mark only grows, so the
// last reading before exit holds the peak up to then), and the report it prints. And what storage
// holds, counted by walking the blob tree, so that the report's figures can be checked on disk.
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcReport } from '../../../src/gc/report.js';
import { repoRoot, spawnManaged } from '../../support/processes.js';
import { track } from '../lib/cleanup.js';

export interface GcMeasurement {
  report: GcReport;
  /** From spawn to exit: node's start, opening the stores and the run. */
  wallMs: number;
  peakRssBytes: number;
}

function highWaterMark(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The Berth entry point (…/dist/src/main.js) a running process was started with, from its command line. */
export function entryOf(pid: number): string {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const entry = args.find((arg) => arg.endsWith('/dist/src/main.js'));
  if (!entry) throw new Error(`process ${pid} is not a Berth (${args.join(' ')})`);
  return entry;
}

export async function runGc(
  entry: string,
  dataDir: string,
  env: Record<string, string>,
  args: string[],
): Promise<GcMeasurement> {
  let stdout = '';
  const started = performance.now();
  const child = spawnManaged(process.execPath, [entry, 'gc', '--data', dataDir, '--json', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    onStdout: (chunk) => {
      stdout += chunk.toString('utf8');
    },
  });
  const stop = track(() => child.stop());
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, highWaterMark(child.pid) ?? 0);
  }, 20);
  try {
    const code = await child.exited;
    const wallMs = performance.now() - started;
    if (code !== 0) throw new Error(`berth gc exited ${code}: ${child.output().slice(-2000)}`);
    return { report: JSON.parse(stdout) as GcReport, wallMs, peakRssBytes: peak };
  } finally {
    clearInterval(timer);
    await stop();
  }
}

export interface StorageCount {
  objects: number;
  bytes: number;
}

/** Objects and bytes under `<root>/blobs` (each blob is `<algorithm>/<xx>/<hex>/data`). */
export async function countBlobs(root: string): Promise<StorageCount> {
  const total: StorageCount = { objects: 0, bytes: 0 };
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await Promise.all(
      entries.map(async (entry) => {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) return walk(path);
        if (!entry.isFile()) return;
        const { size } = await stat(path);
        total.objects += 1;
        total.bytes += size;
      }),
    );
  };
  await walk(join(root, 'blobs'));
  return total;
}
