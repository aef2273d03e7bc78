// Garbage collection's parts, built the same way by the server and by `berth gc`: the content guard
// that pushes hold (guard.ts), the sweeper that deletes bytes (sweep.ts, also used by mirror
// eviction), and the collector (collector.ts), which needs the registry's upload purge and so comes
// after the registry that the guard goes into. Run options come from the `gc:` and `uploads:`
// settings.
import type { StorageDriver } from '../../storage-drivers/types.js';
import { durationMs, type BerthConfig } from '../config/schema.js';
import type { ContentGuard } from '../registry/content-guard.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import { createCollector, type Collector, type GcRunOptions } from './collector.js';
import type { GcStore } from './gc-store.js';
import { createContentGuard } from './guard.js';
import { createSweeper, type BlobSweeper } from './sweep.js';

export interface GcParts {
  guard: ContentGuard;
  sweeper: BlobSweeper;
  /** The collector, once the registry's upload purge exists. */
  collector(purgeStaleUploads: (olderThan: number) => Promise<number>): Collector;
}

export interface GcPartsDeps {
  store: GcStore;
  metadata: Pick<MetadataStore, 'leaseJob' | 'listUploadsUpdatedBefore'>;
  driver: StorageDriver;
  log: Logger;
  clock: () => number;
  newId: () => string;
}

export function createGcParts(deps: GcPartsDeps): GcParts {
  const { store, driver, log, clock, newId } = deps;
  const sweeper = createSweeper({ store, driver, clock, newId, log });
  return {
    guard: createContentGuard({ store, clock, newId, log }),
    sweeper,
    collector: (purgeStaleUploads) =>
      createCollector({
        store,
        metadata: deps.metadata,
        driver,
        sweeper,
        purgeStaleUploads,
        clock,
        newId,
        log,
      }),
  };
}

/** A run as the configuration says (`berth gc` flags override some of it). */
export function gcRunOptions(config: BerthConfig): GcRunOptions {
  return {
    delayMs: durationMs(config.gc.delay),
    orphans: config.gc.orphans,
    orphanGraceMs: durationMs(config.gc.orphanGrace),
    uploadMaxAgeMs: durationMs(config.uploads.maxAge),
  };
}
