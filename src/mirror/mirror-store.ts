// What the pull-through mirror keeps in the metadata database, beside the ordinary index (where
// cached manifests, tags and blob links live like pushed ones): when each cached tag was last
// confirmed upstream, which content came from which upstream and when it was last pulled (for
// eviction), and hit/miss counters. In the database, not in a process, so replicas sharing it agree
// (one HEAD per tag per freshness interval, one eviction run, one set of counters).
// src/metadata implements it on SQLite and PostgreSQL; every method is one atomic operation.
import type { Digest, RepoName, Tag } from '../registry/references.js';

export type CachedKind = 'blob' | 'manifest';

/** A tag as last confirmed by its upstream. */
export interface CachedTag {
  digest: Digest;
  /** When the upstream last answered for this tag (ms). */
  checkedAt: number;
}

/** Content brought in from an upstream into a local repository. */
export interface CachedContent {
  upstream: string;
  repository: RepoName;
  digest: Digest;
  kind: CachedKind;
  size: number;
  cachedAt: number;
  lastPulledAt: number;
}

export interface MirrorCounters {
  /** Requests answered from the cache (manifests and blobs). */
  hits: number;
  /** Requests that went upstream for content. */
  misses: number;
  /** Requests answered from the cache because the upstream failed (serve-stale). */
  staleHits: number;
  bytesFromCache: number;
  bytesFromUpstream: number;
}

export interface MirrorUpstreamStatus extends MirrorCounters {
  upstream: string;
  /** Sum of the sizes of the content cached for this upstream. */
  cachedBytes: number;
  cachedItems: number;
}

/** The status of an upstream with nothing counted or cached yet. */
export function emptyStatus(upstream: string): MirrorUpstreamStatus {
  return {
    upstream,
    hits: 0,
    misses: 0,
    staleHits: 0,
    bytesFromCache: 0,
    bytesFromUpstream: 0,
    cachedBytes: 0,
    cachedItems: 0,
  };
}

export interface MirrorStore {
  findCachedTag(repository: RepoName, tag: Tag): Promise<CachedTag | undefined>;
  /** Records that the upstream answered `digest` for `tag` at `checkedAt` (insert or replace). */
  markTagChecked(repository: RepoName, tag: Tag, digest: Digest, checkedAt: number): Promise<void>;

  /**
   * Records content cached from an upstream (insert, or refresh size and lastPulledAt when known).
   * `cachedAt` and `lastPulledAt` are both `entry.at` for a new entry.
   */
  recordCached(entry: {
    upstream: string;
    repository: RepoName;
    digest: Digest;
    kind: CachedKind;
    size: number;
    at: number;
  }): Promise<void>;
  /** Sets lastPulledAt of entries that exist (later times only); unknown entries are ignored. */
  touchCached(pulls: ReadonlyArray<{ repository: RepoName; digest: Digest; at: number }>): Promise<void>;
  /** True when some content of `repository` came from an upstream (pushes to it are refused). */
  isCachedRepository(repository: RepoName): Promise<boolean>;
  /**
   * Cached entries of `upstream`, least recently pulled first (ties by repository, then digest),
   * at most `limit`; with `pulledBefore`, only those last pulled before that time.
   */
  listLeastRecentlyPulled(upstream: string, limit: number, pulledBefore?: number): Promise<CachedContent[]>;
  /** Forgets an entry and, for a manifest, the cached tags pointing at it in that repository. */
  forgetCached(repository: RepoName, digest: Digest): Promise<void>;

  /** Adds to the counters of `upstream` (created at zero when absent). */
  addCounters(upstream: string, delta: MirrorCounters): Promise<void>;
  /** Counters and cache size of every upstream that has either, by upstream name. */
  listStatus(): Promise<MirrorUpstreamStatus[]>;
}
