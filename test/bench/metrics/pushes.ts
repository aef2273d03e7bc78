// Many small image pushes at once, as a CI fleet does: each push uploads a JSON config and one layer of
// a few KiB (each POST + PUT ?digest=, the two in parallel) and then PUTs the manifest by tag. Also run
// against Berth on PostgreSQL, as one process and as two replicas behind nginx (which then see the
// requests of one push spread over both).
import { makeSmallImage, pool, pushSmallImage, RegistryClient } from '../lib/http.js';
import type { Metric } from '../lib/metric.js';
import type { BenchOptions } from '../lib/options.js';
import { warmUp } from './blobs.js';

const REPOSITORIES = 10;

export function pushesMetric(options: BenchOptions): Metric {
  const count = options.smallPushes;
  const concurrency = options.smallPushConcurrency;
  return {
    id: 'pushes',
    title: 'Small image pushes',
    targets: ['berth', 'distribution', 'berth-pg', 'berth-pg-x2'],
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
        goals: {
          'berth-pg': [{ kind: 'ratio-at-least', value: 1.5 }],
          'berth-pg-x2': [
            { kind: 'ratio-at-least', value: 1.5 },
            { kind: 'better-than', target: 'berth-pg' },
          ],
        },
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
        const cpuBefore = server.cpuSeconds();
        const start = performance.now();
        await pool(count, concurrency, (i) =>
          pushSmallImage(client, `bench/small-${i % REPOSITORIES}`, `t${i}`, images[i]!),
        );
        const seconds = (performance.now() - start) / 1000;
        const cpuMs = ((server.cpuSeconds() - cpuBefore) * 1000) / count;
        return { 'pushes.seconds': seconds, 'pushes.rate': count / seconds, 'pushes.cpu': cpuMs };
      } finally {
        client.close();
      }
    },
  };
}
