// What namespace rules keep in the metadata database: immutable-tag rules, quotas with the usage
// they are checked against, and retention policies, with the listings retention plans from.
// src/metadata implements it on SQLite and PostgreSQL (one exported conformance suite proves both);
// every method is one atomic operation.
//
// Rules are keyed by the namespace string (a repository's first path component), not by an accounts
// entity, so they work in every auth mode. Usage is kept by the database itself: triggers on the
// index (repository blob links and manifests) count each digest once per namespace however many of
// its repositories hold it, and add its size to the namespace's total when its first holder arrives
// and take it away when its last one goes. Reading it is one indexed lookup, whatever the size of the
// registry.
import type { Digest, RepoName, Tag } from '../registry/references.js';

/** Tags matching `tags` (glob.ts), in repositories matching `repositories` (every one when null). */
export interface ImmutableTagRule {
  tags: string;
  repositories: string | null;
}

export interface NamespaceUsage {
  namespace: string;
  /** The quota in bytes; null when the namespace has none. */
  limitBytes: number | null;
  /** Deduplicated bytes of the blobs and manifests its repositories hold. */
  usedBytes: number;
}

/** What a quota check needs, in one lookup. */
export interface QuotaStanding {
  limitBytes: number | null;
  usedBytes: number;
  /** The digest already counts in the namespace's usage (linking it again adds nothing). */
  counted: boolean;
}

export type RetentionOrder = 'pushed' | 'pulled';

export interface RetentionPolicy {
  /** Keep the `count` tags most recently pushed (or pulled); null: no such rule. */
  keepLatest: { count: number; by: RetentionOrder } | null;
  /** Keep the tags matching any of these patterns (glob.ts). */
  keepPatterns: string[];
  /** Delete untagged manifests neither pushed nor pulled for this long ("7d"); null: keep them. */
  untaggedAfter: string | null;
}

/** A retention policy applies to every repository of a namespace, or to one repository. */
export type RetentionScope = { kind: 'namespace'; name: string } | { kind: 'repository'; name: RepoName };

export interface StoredRetentionPolicy {
  scope: RetentionScope;
  policy: RetentionPolicy;
  updatedAt: number;
}

/** A tag as retention sees it. Times are ms since the epoch. */
export interface InventoryTag {
  name: Tag;
  digest: Digest;
  /** When the tag was last pushed or moved. */
  pushedAt: number;
  /** When it was last pulled; null when never. */
  pulledAt: number | null;
}

/** A manifest as retention sees it. */
export interface InventoryManifest {
  digest: Digest;
  /** When it was pushed to the repository. */
  pushedAt: number;
  pulledAt: number | null;
  /** The manifest it refers to (OCI 1.1 `subject`): a signature's, an SBOM's image. */
  subject: Digest | null;
  /** The manifests an index lists. */
  children: Digest[];
}

export interface RepositoryInventory {
  tags: InventoryTag[];
  manifests: InventoryManifest[];
}

export interface PolicyStore {
  /** The namespace's immutable-tag rules, in the order they were set. */
  listImmutableRules(namespace: string): Promise<ImmutableTagRule[]>;
  /** Replaces the namespace's rules (an empty list removes them). */
  setImmutableRules(namespace: string, rules: readonly ImmutableTagRule[]): Promise<void>;

  /** The namespace's quota and usage (no quota: limitBytes null; nothing stored: usedBytes 0). */
  getUsage(namespace: string): Promise<NamespaceUsage>;
  /** Every namespace holding content or having a quota, by name. */
  listUsage(): Promise<NamespaceUsage[]>;
  /** Sets (a number) or removes (null) the namespace's quota. */
  setQuota(namespace: string, limitBytes: number | null, at: number): Promise<void>;
  /** The namespace's quota and usage, and whether `digest` already counts in it. */
  quotaStanding(namespace: string, digest: Digest): Promise<QuotaStanding>;

  getRetentionPolicy(scope: RetentionScope): Promise<RetentionPolicy | undefined>;
  setRetentionPolicy(scope: RetentionScope, policy: RetentionPolicy, at: number): Promise<void>;
  /** False when there was none. */
  deleteRetentionPolicy(scope: RetentionScope): Promise<boolean>;
  /** Every retention policy: namespaces first, then repositories, each by name. */
  listRetentionPolicies(): Promise<StoredRetentionPolicy[]>;

  /** Repositories of the namespace holding at least one manifest, by name. */
  listNamespaceRepositories(namespace: string): Promise<RepoName[]>;
  /** Every tag and manifest of the repository, with what retention plans from. */
  repositoryInventory(repository: RepoName): Promise<RepositoryInventory>;
  /** The tags pointing at `digest` in the repository, by name. */
  tagsOf(repository: RepoName, digest: Digest): Promise<Tag[]>;
}
