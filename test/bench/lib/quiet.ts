// Other work on the machine (a test suite, another benchmark) distorts every number. Before each round
// the benchmark samples /proc/stat and waits, up to a limit, until the CPUs are mostly idle.
import { readFileSync } from 'node:fs';

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** Fraction (0-1) of all CPUs busy over the next `ms` milliseconds. */
export async function cpuBusy(ms = 1000): Promise<number> {
  const before = cpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = cpuTimes();
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

/**
 * Waits until the machine is less than `threshold` busy over one second, for at most `maxSeconds`.
 * Returns the last busy fraction seen (so the caller can record how quiet the round started).
 */
export async function waitForQuiet(
  threshold: number,
  maxSeconds: number,
  log: (message: string) => void,
): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let busy = await cpuBusy();
  let told = false;
  while (busy >= threshold && Date.now() < deadline) {
    if (!told)
      log(`  machine is ${(busy * 100).toFixed(0)}% busy; waiting up to ${maxSeconds} s for it to calm down`);
    told = true;
    busy = await cpuBusy();
  }
  if (told) {
    log(
      busy < threshold
        ? `  machine ${(busy * 100).toFixed(0)}% busy, going on`
        : `  still ${(busy * 100).toFixed(0)}% busy, measuring anyway`,
    );
  }
  return busy;
}
