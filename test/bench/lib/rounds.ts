// One measured round: wait for a quiet machine, start a fresh registry configured for the metric,
// measure, stop it by its PID. Shared by every benchmark script; each decides the order of rounds.
import type { BenchContext } from './context.js';
import type { Metric } from './metric.js';
import type { TargetName } from './options.js';
import { waitForQuiet } from './quiet.js';
import type { Measurement } from './report.js';

export function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function summarize(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v >= 100 ? v.toFixed(0) : v.toPrecision(3)}`)
    .join(' ');
}

/**
 * Runs round `round` of `metric` against a fresh `target` and returns its measurement: values, or the
 * error (with the server's last output lines) when the round failed.
 */
export async function measureRound(
  ctx: BenchContext,
  metric: Metric,
  target: TargetName,
  round: number,
): Promise<Measurement> {
  const { options } = ctx;
  const measurement: Measurement = { metric: metric.id, target, round };
  if (options.quietMaxWait > 0) {
    measurement.busyBefore = await waitForQuiet(options.quietBusy, options.quietMaxWait, log);
  }
  const started = performance.now();
  try {
    const server = await ctx.startTarget(target, metric.id, metric.server?.(target));
    try {
      measurement.values = await metric.round(ctx, server, target);
    } catch (err) {
      const tail = server.output().trim().split('\n').slice(-5).join('\n');
      throw new Error(`${(err as Error).message}${tail ? `\n  server output tail:\n${tail}` : ''}`);
    } finally {
      await server.stop();
    }
    const took = ((performance.now() - started) / 1000).toFixed(1);
    const busy =
      measurement.busyBefore === undefined
        ? ''
        : `, CPU busy before ${(measurement.busyBefore * 100).toFixed(0)}%`;
    log(`  ${metric.id} round ${round + 1} ${target}: ${summarize(measurement.values)} (${took} s${busy})`);
  } catch (err) {
    measurement.error = (err as Error).message;
    log(`  ${metric.id} round ${round + 1} ${target}: ERROR ${measurement.error}`);
  }
  return measurement;
}
