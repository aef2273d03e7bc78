// Webhooks, composed (notifications in config/default.yaml): the event bus listener that records
// events in the outbox (enqueuer.ts), the worker that delivers them (delivery-worker.ts), and the
// delivery status per endpoint that GET /api/v1/notifications answers with.
import type { BerthConfig } from '../config/schema.js';
import { durationMs } from '../config/schema.js';
import type { EventListener } from '../events/registry-event.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import { startDeliveryWorker, type DeliveryWorker, type DeliveryWorkerOptions } from './delivery-worker.js';
import { createEnqueuer } from './enqueuer.js';
import type { EventSource } from './formats.js';
import type { OutboxStore } from './outbox-store.js';

/** One endpoint's deliveries, as the management API shows them. Times are ISO 8601. */
export interface EndpointDeliveryStatus {
  name: string;
  /** False for an endpoint no longer configured whose deliveries wait to age out (maxAge). */
  configured: boolean;
  /** Deliveries not yet made. */
  pending: number;
  /** Pending deliveries that failed at least once (waiting for their next attempt). */
  retrying: number;
  /** When the oldest pending delivery was recorded, and how long ago (whole seconds). */
  oldestPendingAt: string | null;
  oldestPendingAgeSeconds: number | null;
  /** Made (answered 2xx) and dropped (older than maxAge) since the database was created. */
  delivered: number;
  dropped: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The last failure's error ("HTTP 500", "ECONNREFUSED: ..."), kept after later successes. */
  lastError: string | null;
}

export interface NotificationsOptions {
  config: BerthConfig['notifications'];
  store: OutboxStore;
  leases: Pick<MetadataStore, 'leaseJob'>;
  /** This process, unique among the replicas (a random id per start). */
  holder: string;
  clock: () => number;
  log: Logger;
  /** Worker settings tests pin (delivery-worker.ts defaults otherwise). */
  worker?: Pick<DeliveryWorkerOptions, 'pollMs' | 'batchSize' | 'random' | 'dispatcher'>;
}

export interface Notifications {
  /** Subscribe it to the event bus. */
  listener: EventListener;
  /**
   * Starts delivering; `source` (known once the server listens) is recorded with every event from
   * now on. Once only.
   */
  start(source: EventSource): void;
  status(): Promise<EndpointDeliveryStatus[]>;
  /** Records the events received so far, then stops the worker (see DeliveryWorker.stop). */
  close(): Promise<void>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function createNotifications(options: NotificationsOptions): Notifications {
  const { config, store, leases, holder, clock, log } = options;
  let worker: DeliveryWorker | undefined;
  let instance: EventSource | undefined;
  const enqueuer = createEnqueuer({
    endpoints: config.endpoints,
    store,
    clock,
    log,
    source: () => instance,
    enqueued: (endpoints) => worker?.wake(endpoints),
  });
  const configured = config.endpoints.map((endpoint) => endpoint.name);

  return {
    listener: enqueuer.listener,
    start(source) {
      instance ??= source;
      worker ??= startDeliveryWorker({
        endpoints: config.endpoints,
        store,
        leases,
        holder,
        source,
        backoff: { initialMs: durationMs(config.initialBackoff), maxMs: durationMs(config.maxBackoff) },
        maxAgeMs: durationMs(config.maxAge),
        clock,
        log,
        ...options.worker,
      });
    },
    async status() {
      const now = clock();
      const stored = new Map((await store.listStatus()).map((status) => [status.endpoint, status]));
      const names = [...configured, ...[...stored.keys()].filter((name) => !configured.includes(name))];
      return names.map((name) => {
        const s = stored.get(name);
        const oldest = s?.oldestPendingAt ?? null;
        return {
          name,
          configured: configured.includes(name),
          pending: s?.pending ?? 0,
          retrying: s?.retrying ?? 0,
          oldestPendingAt: iso(oldest),
          oldestPendingAgeSeconds: oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000)),
          delivered: s?.delivered ?? 0,
          dropped: s?.dropped ?? 0,
          lastSuccessAt: iso(s?.lastSuccessAt ?? null),
          lastFailureAt: iso(s?.lastFailureAt ?? null),
          lastError: s?.lastError ?? null,
        };
      });
    },
    async close() {
      await enqueuer.drain();
      await worker?.stop();
    },
  };
}
