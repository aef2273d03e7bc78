// Memory of a server process, from /proc/<pid>/status (Linux).
import { readFileSync, writeFileSync } from 'node:fs';

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
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

/** CPU time (user + system, all threads) the process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name; clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
