// The management API's answers as the UI reads them (GET /api/v1/openapi.json is the contract).

export type AuthMode = 'none' | 'htpasswd' | 'token';
export type Role = 'read' | 'write' | 'admin';
export type RepositoryAction = 'pull' | 'push' | 'delete';

export interface Info {
  version: string;
  authMode: AuthMode;
  service: string;
  readOnly: boolean;
  deleteEnabled: boolean;
}

export interface Repository {
  name: string;
  description: string | null;
  size: number;
  tagCount: number;
  manifestCount: number;
  createdAt: string;
  lastPushAt: string | null;
  lastPullAt: string | null;
  pullCount: number;
}

export interface Page {
  total: number;
  next: string | null;
}

export interface RepositoryList extends Page {
  repositories: Repository[];
}

export interface Tag {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  platforms: string[] | null;
  created: string | null;
  pushedAt: string;
  lastPulledAt: string | null;
  annotations: Record<string, string> | null;
  referrers: number;
  immutable: boolean;
}

export interface TagList extends Page {
  repository: string;
  tags: Tag[];
}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string; 'os.version'?: string };
}

/** A referrer (OCI 1.1): a manifest whose subject is the one shown. */
export interface Referrer {
  digest: string;
  mediaType: string;
  artifactType?: string | null;
  size: number;
  annotations?: Record<string, string> | null;
}

/** A manifest with its image config, however the UI got them (manifests API or /v2). */
export interface ManifestDetail {
  digest: string;
  mediaType: string;
  size: number;
  manifest: unknown;
  config: unknown;
  referrers: Referrer[];
}

export interface Account {
  name: string;
  kind: 'user' | 'robot';
  admin: boolean;
  createdAt: string;
  description: string | null;
}

export interface Membership {
  namespace: string;
  role: Role;
}

export interface Me extends Account {
  memberships: Membership[];
}

export interface Namespace {
  name: string;
  public: boolean;
  createdAt: string;
}

export interface NamespaceWithMembers extends Namespace {
  members: Array<{ account: string; role: Role }>;
}

export interface Quota {
  namespace: string;
  limitBytes: number | null;
  usedBytes: number;
}

export interface ImmutableRule {
  tags: string;
  repositories: string | null;
}

export interface RetentionPolicy {
  keepLatest: { count: number; by: 'pushed' | 'pulled' } | null;
  keepPatterns: string[];
  untaggedAfter: string | null;
}

export interface RetentionView {
  scope: 'namespace' | 'repository';
  name: string;
  policy: RetentionPolicy | null;
}

export interface RetentionReport {
  dryRun: boolean;
  startedAt: string;
  repositoriesExamined: number;
  repositories: Array<{
    repository: string;
    policy: 'namespace' | 'repository';
    tags: Array<{ tag: string; digest: string; reason: string }>;
    manifests: Array<{ digest: string; reason: string }>;
    skipped: Array<{ tag?: string; digest: string; reason: string }>;
  }>;
  totals: { tags: number; manifests: number; skipped: number };
}

export interface MirrorUpstream {
  upstream: string;
  hits: number;
  misses: number;
  staleHits: number;
  bytesFromCache: number;
  bytesFromUpstream: number;
  cachedBytes: number;
  cachedItems: number;
}

export interface WebhookEndpoint {
  name: string;
  configured: boolean;
  pending: number;
  retrying: number;
  oldestPendingAt: string | null;
  oldestPendingAgeSeconds: number | null;
  delivered: number;
  dropped: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
}

/** What a garbage collection run did (a dry run: would do). */
export interface GcRunCounts {
  manifestsDeleted: number;
  linksRemoved: number;
  blobsDeleted: number;
  bytesFreed: number;
  orphansDeleted: number;
  orphanBytes: number;
  orphansLeft: number;
  uploadsPurged: number;
  uploadLeftovers: number;
  held: number;
}

/** A garbage collection run (GET /api/v1/gc/runs): scheduled, `berth gc`, or started here. */
export interface GcRun {
  id: number;
  trigger: 'scheduled' | 'cli' | 'api';
  dryRun: boolean;
  /** A run whose process died stays running until the next run closes it as failed. */
  status: 'running' | 'succeeded' | 'failed';
  host: string;
  delayMs: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** Null unless it succeeded. */
  counts: GcRunCounts | null;
}

export interface GcRunList {
  /** Newest first. */
  runs: GcRun[];
  next: string | null;
}
