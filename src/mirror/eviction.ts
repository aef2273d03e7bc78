// Eviction of cached content, per upstream (mirror.upstreams[].eviction): entries not pulled for
// `unusedFor`, then the least recently pulled until the upstream's cache is within `maxBytes`.
// Evicting takes a cached manifest out of its repository (with its tags) or unlinks a cached blob
// from it; the blob's bytes then go through garbage collection's sweep (src/gc/sweep.ts), which
// deletes them only when no repository links them and no push holds them, so a blob that a pushed
// image or another cached image uses stays. Manifest bytes are small and left to garbage collection. A pull that already opened a blob keeps reading it (the filesystem keeps an unlinked
// file for its open descriptors, S3 finishes a started GET); one that looked the blob up just before
// it went fetches it from the upstream again. Runs in one replica at a time (an exclusive job).
import type { UpstreamConfig } from '../config/schema.js';
import { durationMs } from '../config/schema.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import type { Digest } from '../registry/references.js';
import type { BlobSweeper } from '../gc/sweep.js';
import type { CachedContent, MirrorStore } from './mirror-store.js';

const BATCH = 200;

export interface EvictionDeps {
  upstreams: readonly UpstreamConfig[];
  metadata: MetadataStore;
  store: MirrorStore;
  /** Deletes a blob's bytes once nothing links or holds them. */
  sweeper: Pick<BlobSweeper, 'sweepUnused'>;
  log: Logger;
  clock: () => number;
  /** Whether a download of this digest is in progress in this process (its bytes are left alone). */
  filling: (digest: Digest) => boolean;
}

export interface EvictionResult {
  evicted: number;
  /** Cached bytes taken out of the cache (deduplicated storage may free less). */
  bytes: number;
}

export function createEviction({ upstreams, metadata, store, sweeper, log, clock, filling }: EvictionDeps) {
  async function evict(entry: CachedContent): Promise<void> {
    if (entry.kind === 'manifest') await metadata.deleteManifest(entry.repository, entry.digest);
    else await metadata.unlinkBlob(entry.repository, entry.digest);
    await store.forgetCached(entry.repository, entry.digest);
    if (entry.kind === 'blob' && !filling(entry.digest)) await sweeper.sweepUnused(entry.digest);
  }

  async function cachedBytes(upstream: string): Promise<number> {
    return (await store.listStatus()).find((s) => s.upstream === upstream)?.cachedBytes ?? 0;
  }

  return {
    /** One pass over every upstream that has eviction settings. */
    async runOnce(): Promise<EvictionResult> {
      const result: EvictionResult = { evicted: 0, bytes: 0 };
      const take = async (entry: CachedContent) => {
        await evict(entry);
        result.evicted += 1;
        result.bytes += entry.size;
      };
      for (const upstream of upstreams) {
        const { unusedFor, maxBytes } = upstream.eviction;
        if (unusedFor !== null) {
          const before = clock() - durationMs(unusedFor);
          for (;;) {
            const batch = await store.listLeastRecentlyPulled(upstream.name, BATCH, before);
            for (const entry of batch) await take(entry);
            if (batch.length < BATCH) break;
          }
        }
        if (maxBytes !== null) {
          let cached = await cachedBytes(upstream.name);
          while (cached > maxBytes) {
            const batch = await store.listLeastRecentlyPulled(upstream.name, BATCH);
            if (batch.length === 0) break;
            for (const entry of batch) {
              if (cached <= maxBytes) break;
              await take(entry);
              cached -= entry.size;
            }
          }
        }
      }
      if (result.evicted > 0) log.info({ ...result }, 'mirror evicted cached content');
      return result;
    },
  };
}
