// The pull-through mirror's counters (src/mirror/usage.ts calls back with each delta), by upstream: the
// name given in mirror.upstreams, chosen by the operator, never a repository.
import type { Registry } from 'prom-client';
import type { MirrorCounters } from '../mirror/mirror-store.js';
import { FastCounter } from './fast-metrics.js';

export function createMirrorMetrics(registry: Registry) {
  const requests = new FastCounter(registry, {
    name: 'berth_mirror_requests_total',
    help: 'Pull-through mirror requests by upstream and result: hit (cache), miss (fetched upstream), stale_hit (cache, upstream failing)',
    labelNames: ['upstream', 'result'],
  });
  const bytes = new FastCounter(registry, {
    name: 'berth_mirror_bytes_total',
    help: 'Bytes the pull-through mirror served from its cache or fetched from the upstream, by upstream and source',
    labelNames: ['upstream', 'source'],
  });

  /** MirrorDeps.onCount. */
  return function countMirror(upstream: string, delta: Partial<MirrorCounters>): void {
    if (delta.hits) requests.series(upstream, 'hit').inc(delta.hits);
    if (delta.misses) requests.series(upstream, 'miss').inc(delta.misses);
    if (delta.staleHits) requests.series(upstream, 'stale_hit').inc(delta.staleHits);
    if (delta.bytesFromCache) bytes.series(upstream, 'cache').inc(delta.bytesFromCache);
    if (delta.bytesFromUpstream) bytes.series(upstream, 'upstream').inc(delta.bytesFromUpstream);
  };
}
