// What the management API's catalog (catalog.ts) needs from the metadata index: repositories with their
// counters, listed and sorted by keyset, and tags with what their manifests are. src/metadata
// implements it on SQLite and PostgreSQL; src/metadata/catalog-conformance.ts is the behaviour both
// show. Only repositories holding at least one manifest exist here, as in the /v2 catalog. Times are
// ms since the epoch; 0 means never.
import type { Digest, RepoName, Tag } from './references.js';

export type RepositorySort = 'name' | 'pushed' | 'pulled' | 'size' | 'tags';
export type TagSort = 'name' | 'semver' | 'pushed';
/** `desc` is exactly `asc` reversed, ties (broken by name) included. */
export type SortOrder = 'asc' | 'desc';

export interface RepositorySummary {
  name: RepoName;
  /** Deduplicated bytes: each distinct blob the repository links once, plus its manifests' bytes. */
  size: number;
  tagCount: number;
  manifestCount: number;
  /** When its first manifest arrived (since it last held none). */
  createdAt: number;
  /** When a manifest was last stored or a tag last pushed or moved; 0: never. */
  lastPushAt: number;
  /** When a manifest was last pulled (recordPulls); 0: never. */
  lastPullAt: number;
  pullCount: number;
  description: string | null;
}

/**
 * A position in a repository listing: the sort key of the last row seen (unused for the name sort)
 * and its name. A page holds the rows strictly after it in the listing's order.
 */
export interface RepositoryKey {
  value: number;
  name: RepoName;
}

export interface RepositoryQuery {
  /** Only names containing this (lower case: names are). */
  search?: string;
  sort: RepositorySort;
  order: SortOrder;
  limit: number;
  after?: RepositoryKey;
}

export interface RepositoryDeletion {
  tags: number;
  manifests: number;
  /** Blob links removed (the bytes stay until garbage collection). */
  blobs: number;
}

export interface TagSummary {
  name: Tag;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  /** The manifest's total size (ManifestDetails.totalSize). */
  size: number;
  platforms: string[] | null;
  /** The image config's `created`, as written there. */
  created: string | null;
  /** When the tag was last pushed or moved. */
  pushedAt: number;
  /** When the tag was last pulled by name; null: never. */
  lastPulledAt: number | null;
  annotations: Record<string, string> | null;
  /** Manifests of the repository whose subject is this tag's manifest (signatures, SBOMs). */
  referrers: number;
}

/**
 * A position in a tag listing: the last tag seen. Sorted by name or semver only its name counts (the
 * store derives the sort key from it, tag-sort-keys.ts), so a page after a tag deleted since starts
 * where the tag was.
 */
export interface TagKey {
  pushedAt: number;
  name: Tag;
}

export interface TagQuery {
  /** A glob over tag names where `*` matches any run of characters (`v1.*`, `*-rc*`). */
  pattern?: string;
  /**
   * pushed: by push time, then name (bytes); name: numeric-aware; semver: versions by precedence
   * first, then the other tags by name (the orders of tag-order.ts, kept as keys by tag-sort-keys.ts).
   */
  sort: TagSort;
  order: SortOrder;
  limit: number;
  after?: TagKey;
}

/** Manifest GETs of one (repository, digest, tag), counted in memory by pull-tracker.ts. */
export interface PullCount {
  repository: RepoName;
  digest: Digest;
  /** The tag asked for, when pulled by tag. */
  tag?: Tag;
  count: number;
  /** When the last of them was answered. */
  at: number;
}

export interface CatalogStore {
  /** Repositories holding manifests, in the query's order, after `query.after`. */
  listRepositories(query: RepositoryQuery): Promise<RepositorySummary[]>;
  /** How many repositories holding manifests match `search`. */
  countRepositories(search?: string): Promise<number>;
  /** The names of every repository holding manifests that matches `search`, in no given order. */
  listRepositoryNames(search?: string): Promise<RepoName[]>;
  /** Undefined when the repository holds no manifest. */
  findRepository(name: RepoName): Promise<RepositorySummary | undefined>;
  /** Sets (null: clears) the description; false when the repository holds no manifest. */
  setDescription(name: RepoName, description: string | null): Promise<boolean>;
  /**
   * Deletes the repository's tags, manifests (their references with them) and blob links in one
   * transaction, and forgets its description and pull counts; undefined when it holds no manifest.
   */
  deleteRepository(name: RepoName): Promise<RepositoryDeletion | undefined>;

  /** The repository's tags in the query's order, after `query.after`. */
  listTags(repository: RepoName, query: TagQuery): Promise<TagSummary[]>;
  /** How many of the repository's tags match `pattern`. */
  countTags(repository: RepoName, pattern?: string): Promise<number>;
  /** The names of the repository's tags matching `pattern`, in no given order. */
  listTagNames(repository: RepoName, pattern?: string): Promise<Tag[]>;
  /** Those of `names` that are tags of the repository, in no given order. */
  findTags(repository: RepoName, names: readonly Tag[]): Promise<TagSummary[]>;

  /**
   * Adds a batch of pulls: to each repository's pull count and last pull, and to the last pull of
   * each manifest and of each tag pulled by name (later times only). Pulls of what is gone since
   * are dropped.
   */
  recordPulls(pulls: readonly PullCount[]): Promise<void>;
}

/** Tag patterns: tag characters and `*`. */
export const TAG_PATTERN = /^[A-Za-z0-9_.*-]{1,128}$/;

/** Pulls summed per repository, so that a store updates each repository's row once per batch. */
export function pullsPerRepository(
  pulls: readonly PullCount[],
): Map<RepoName, { count: number; at: number }> {
  const sums = new Map<RepoName, { count: number; at: number }>();
  for (const { repository, count, at } of pulls) {
    const sum = sums.get(repository);
    if (sum) {
      sum.count += count;
      sum.at = Math.max(sum.at, at);
    } else {
      sums.set(repository, { count, at });
    }
  }
  return sums;
}
