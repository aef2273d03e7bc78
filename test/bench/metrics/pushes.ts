// Many small image pushes at once, as a CI fleet does: each push uploads a JSON config and one layer of
// a few KiB (each POST + PUT ?digest=, the two in parallel) and then PUTs the manifest by tag.
import { makeSmallImage, pool, pushSmallImage, RegistryClient } from '../lib/http.js';
import type { Metric } from '../lib/metric.js';
import type { BenchOptions } from '../lib/options.js';
import { cpuSeconds } from '../lib/proc.js';
import { warmUp } from './blobs.js';

const REPOSITORIES = 10;

export function pushesMetric(options: BenchOptions): Metric {
  const count = options.smallPushes;
  const concurrency = options.smallPushConcurrency;
  return {
    id: 'pushes',
    title: 'Small image pushes',
    rows: [
      {
        key: 'pushes.seconds',
        label: `${count} small image pushes at concurrency ${concurrency}: total time`,
        unit: 's',
        better: 'lower',
      },
      {
        key: 'pushes.rate',
        label: `${count} small image pushes at concurrency ${concurrency}: rate`,
        unit: 'pushes/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 2 },
      },
      { key: 'pushes.cpu', label: 'Server CPU time per small push', unit: 'ms', better: 'lower' },
    ],
    async round(_ctx, server) {
      const images = Array.from({ length: count }, (_, i) =>
        makeSmallImage(`push-${i}`, 2048 + (i % 7) * 512),
      );
      const client = new RegistryClient(server.url, concurrency * 2);
      try {
        await warmUp(client);
        const cpuBefore = cpuSeconds(server.pid);
        const start = performance.now();
        await pool(count, concurrency, (i) =>
          pushSmallImage(client, `bench/small-${i % REPOSITORIES}`, `t${i}`, images[i]!),
        );
        const seconds = (performance.now() - start) / 1000;
        const cpuMs = ((cpuSeconds(server.pid) - cpuBefore) * 1000) / count;
        return { 'pushes.seconds': seconds, 'pushes.rate': count / seconds, 'pushes.cpu': cpuMs };
      } finally {
        client.close();
      }
    },
  };
}
