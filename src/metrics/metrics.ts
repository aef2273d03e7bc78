// Prometheus metrics for one Berth: a prom-client Registry of its own (never the global one, so two
// Berths in one process, as in the tests, keep apart), and the pieces server.ts wires in. server.ts
// imports this module only when metrics.enabled, so a registry without metrics never loads prom-client.
//
// Process metrics (CPU, memory, heap, event loop lag, GC, file descriptors) keep prom-client's default
// names, unprefixed (process_cpu_seconds_total, nodejs_heap_size_used_bytes, ...): they are the names
// every Prometheus client library and the usual Node.js dashboards and alerts use, and `job`/`instance`
// already tell which target they describe. Berth's own metrics are all named berth_*.
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../registry/deps.js';
import { createAuthMetrics } from './auth-metrics.js';
import { metricsHandler, startMetricsListener } from './exposition.js';
import { createGcMetrics } from './gc-metrics.js';
import { createHttpMetrics } from './http-metrics.js';
import { createDriverInstrumentation } from './instrument-driver.js';
import { createMetadataInstrumentation } from './instrument-metadata.js';
import { createMirrorMetrics } from './mirror-metrics.js';
import { createOutboxMetrics } from './outbox-metrics.js';

export interface MetricsOptions {
  log: Logger;
  /** Process and Node.js runtime metrics (default true). */
  processMetrics?: boolean;
}

export function createMetrics({ log, processMetrics = true }: MetricsOptions) {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const auth = createAuthMetrics(registry);
  return {
    registry,
    /** Koa middleware, first in the chain: requests, latency, bytes in and out, uploads in flight. */
    httpMiddleware: createHttpMetrics(registry),
    /** The GET /metrics handler for the main listener. */
    endpoint: metricsHandler(registry),
    /** A listener of its own serving only /metrics (metrics.listen). */
    listen: (at: { host: string; port: number }) => startMetricsListener(registry, at, log),
    instrumentDriver: createDriverInstrumentation(registry),
    instrumentMetadata: createMetadataInstrumentation(registry),
    instrumentTokens: auth.instrumentTokens,
    instrumentAuthorizer: auth.instrumentAuthorizer,
    /** MirrorDeps.onCount: the mirror's hits, misses and bytes. */
    countMirror: createMirrorMetrics(registry),
    /** Given by the webhook outbox: its depth, read at each scrape (berth_webhook_outbox_depth). */
    setOutboxDepth: createOutboxMetrics(registry, log),
    /** Given each scheduled garbage collection run's report (berth_gc_*). */
    countGc: createGcMetrics(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
