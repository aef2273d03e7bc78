// What a registry costs before it does any work: the time from spawning it to its first answer on /v2/,
// and its resident memory once it has started and served one request. Each round starts the server
// afresh (lib/context.ts times the start: spawn to the first 200/401 on /v2/, polled every 20 ms).
import { setTimeout as sleep } from 'node:timers/promises';
import { rssBytes } from '../lib/proc.js';
import { MB, type Metric } from '../lib/metric.js';
import { MiB } from '../lib/options.js';

/**
 * Seconds between the request and the two RSS readings. Node's V8 keeps the young generation it grew
 * during start-up (about 16 MiB) until its memory reducer runs, 8 to 40 s into idleness, and then
 * drops to a lower RSS. The first reading is before that, the second one after it: what a registry
 * sitting idle holds, which the goal is judged on.
 */
export const IDLE_SECONDS = 5;
export const SETTLED_SECONDS = 60;

/** The target, idle RSS ≤ 80 MiB, in this table's MB (10^6 bytes), rounded down. */
const IDLE_GOAL_MB = Math.floor(((80 * MiB) / MB) * 100) / 100;

export function footprintMetric(): Metric {
  return {
    id: 'footprint',
    title: 'Start-up and idle footprint',
    rows: [
      {
        key: 'footprint.startup',
        label: 'Start-up time to the first answer on /v2/',
        unit: 'ms',
        better: 'lower',
      },
      {
        key: 'footprint.early',
        label: `RSS ${IDLE_SECONDS} s after start-up and one request`,
        unit: 'MB',
        better: 'lower',
      },
      {
        key: 'footprint.idle',
        label: `Idle RSS ${SETTLED_SECONDS} s after start-up and one request (goal ≤ 80 MiB)`,
        unit: 'MB',
        better: 'lower',
        goal: { kind: 'berth-below', value: IDLE_GOAL_MB },
      },
    ],
    async round(_ctx, server) {
      if (server.startupMs === undefined) throw new Error('the start-up time of this target is not known');
      const response = await fetch(`${server.url}/v2/_catalog`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`GET /v2/_catalog answered ${response.status}`);
      const rssAfter = async (seconds: number, since: number): Promise<number> => {
        await sleep(seconds * 1000 - (performance.now() - since));
        const rss = rssBytes(server.pid);
        if (rss === undefined) throw new Error(`no VmRSS for PID ${server.pid}: the server exited`);
        return rss / MB;
      };
      const requested = performance.now();
      const early = await rssAfter(IDLE_SECONDS, requested);
      const settled = await rssAfter(SETTLED_SECONDS, requested);
      return { 'footprint.startup': server.startupMs, 'footprint.early': early, 'footprint.idle': settled };
    },
  };
}
