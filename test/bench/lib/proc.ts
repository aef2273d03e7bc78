// Memory and CPU time of server processes, from /proc/<pid>/status and /proc/<pid>/stat (Linux).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of `pid` now, in bytes (undefined when the process is gone). */
export function rssBytes(pid: number): number | undefined {
  const kib = statusKiB(pid, 'VmRSS');
  return kib === undefined ? undefined : kib * 1024;
}

export interface RssPeak {
  /** Highest VmRSS seen by sampling, in bytes. */
  sampledPeak: number;
  /** VmHWM at the end (reset at the start when the kernel allows it), in bytes. */
  highWaterMark: number | undefined;
  /** Whether VmHWM was reset at the start, so it covers only the measured interval. */
  hwmReset: boolean;
  /** max(sampledPeak, highWaterMark when reset). */
  peak: number;
}

/**
 * Samples VmRSS of `pid` every `intervalMs` until stop() is called. At the start it writes "5" to
 * /proc/<pid>/clear_refs, which resets VmHWM (the kernel's peak RSS), so the peak covers only the run.
 */
export function watchRss(pid: number, intervalMs = 50): { stop(): RssPeak } {
  let hwmReset = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    hwmReset = true;
  } catch {
    // not permitted: fall back to sampling only
  }
  let sampledPeak = (statusKiB(pid, 'VmRSS') ?? 0) * 1024;
  const timer = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, (statusKiB(pid, 'VmRSS') ?? 0) * 1024);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sampledPeak = Math.max(sampledPeak, (statusKiB(pid, 'VmRSS') ?? 0) * 1024);
      const hwmKiB = statusKiB(pid, 'VmHWM');
      const highWaterMark = hwmKiB === undefined ? undefined : hwmKiB * 1024;
      const peak =
        hwmReset && highWaterMark !== undefined ? Math.max(sampledPeak, highWaterMark) : sampledPeak;
      return { sampledPeak, highWaterMark, hwmReset, peak };
    },
  };
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces), or undefined. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, all threads) the process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name; clock ticks.
  return fields ? (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS : Number.NaN;
}

/**
 * CPU time, in seconds, of a process and all its descendants so far: its own, that of its children
 * which have exited and been waited for (cutime + cstime), and recursively that of the live ones. For a
 * server that forks workers (PostgreSQL's postmaster), so that a worker ending mid-measurement still
 * counts.
 */
export function processTreeCpuSeconds(pid: number): number {
  const fields = statFields(pid);
  if (!fields) return Number.NaN;
  // cutime and cstime are fields 16 and 17 of the whole line.
  let seconds = fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / CLOCK_TICKS;
  for (const child of childrenOf(pid)) {
    const childSeconds = processTreeCpuSeconds(child);
    if (Number.isFinite(childSeconds)) seconds += childSeconds;
  }
  return seconds;
}

function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((id) => id.trim() !== '')
        .map(Number);
    } catch {
      return [];
    }
  });
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
