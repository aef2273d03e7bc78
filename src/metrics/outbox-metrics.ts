// The webhook outbox's depth, read at each scrape from a function the outbox gives once it exists. The
// gauge is registered only then: a registry without webhooks exports no outbox metric at all.
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../registry/deps.js';

export function createOutboxMetrics(registry: Registry, log: Logger) {
  let depth: (() => Promise<number>) | undefined;
  return function setOutboxDepth(read: () => Promise<number>): void {
    if (!depth) {
      new Gauge({
        name: 'berth_webhook_outbox_depth',
        help: 'Registry events waiting in the webhook outbox for delivery',
        registers: [registry],
        async collect() {
          try {
            if (depth) this.set(await depth());
          } catch (err) {
            // The scrape still answers; the gauge keeps its last value.
            log.warn({ err }, 'cannot read the webhook outbox depth for /metrics');
          }
        },
      });
    }
    depth = read;
  };
}
