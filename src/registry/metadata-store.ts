// What the domain needs from the metadata index. src/metadata implements it (SQLite embedded; a
// networked database behind the same interface); the domain depends only on this interface. Every
// method is one atomic operation (one transaction), and asynchronous, so that an implementation may
// talk to a server.
import type { Digest, RepoName, Tag } from './references.js';

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  /** artifactType, else the config media type of an image manifest (OCI 1.1 referrers rules). */
  artifactType: string | null;
  subject: Digest | null;
  annotations: Record<string, string> | null;
  /**
   * What the management API shows of it (manifest-details.ts): written by putManifest when given
   * (a manifest recorded without them has its own size as total size); never read back here.
   */
  details?: ManifestDetails;
}

/** A manifest as the catalog lists it, worked out once at push time. */
export interface ManifestDetails {
  /** Its own bytes plus each distinct digest it references (an index: its children's manifests). */
  totalSize: number;
  /** An index's children's platforms (`os/arch[/variant]`, distinct, in order); null otherwise. */
  platforms: string[] | null;
  /** The image config's `created`, as written there; null when it has none or cannot be read. */
  imageCreated: string | null;
}

/** What a manifest points at, recorded so deletes and GC can follow references without parsing. */
export interface ManifestReferences {
  blobs: Digest[];
  manifests: Digest[];
}

export interface UploadRecord {
  id: string;
  repository: RepoName;
  /** Bytes received so far. */
  size: number;
  startedAt: number;
  updatedAt: number;
}

/** A claim on an upload session or a background job: `holder`'s until `until` (ms), asked at `now`. */
export interface Lease {
  holder: string;
  now: number;
  until: number;
}

export interface Page {
  /** Return only names strictly after this one. */
  last?: string;
  /** Maximum number of names to return. */
  limit?: number;
}

export interface MetadataStore {
  /** Resolves when the database answers (readiness checks); rejects otherwise. */
  ping(): Promise<void>;

  /** The blob's size when `repository` may read it. */
  findRepositoryBlob(repository: RepoName, digest: Digest): Promise<{ size: number } | undefined>;
  /** The blob's size when it is stored for any repository. */
  findBlob(digest: Digest): Promise<{ size: number } | undefined>;
  /** Records a verified blob and lets `repository` read it. */
  linkBlob(repository: RepoName, digest: Digest, size: number): Promise<void>;
  /** Removes a repository's access to a blob; false when it had none. */
  unlinkBlob(repository: RepoName, digest: Digest): Promise<boolean>;
  /** Repositories that may read the blob, in lexical order (a cross-repository mount without `from`). */
  listRepositoriesWithBlob(digest: Digest, page: Page): Promise<RepoName[]>;
  /** Sizes of those of `digests` that `repository` can read. */
  repositoryBlobSizes(repository: RepoName, digests: readonly Digest[]): Promise<Map<Digest, number>>;

  findManifest(repository: RepoName, digest: Digest): Promise<ManifestRecord | undefined>;
  resolveTag(repository: RepoName, tag: Tag): Promise<ManifestRecord | undefined>;
  /** Sizes of those of `digests` that are manifests of `repository`. */
  repositoryManifestSizes(repository: RepoName, digests: readonly Digest[]): Promise<Map<Digest, number>>;
  /** Records a manifest, what it references and, when given, points `tag` at it. */
  putManifest(
    repository: RepoName,
    manifest: ManifestRecord,
    references: ManifestReferences,
    tag?: Tag,
  ): Promise<void>;
  /** Deletes a manifest with its tags and references; false when it was not there. */
  deleteManifest(repository: RepoName, digest: Digest): Promise<boolean>;
  deleteTag(repository: RepoName, tag: Tag): Promise<boolean>;

  /** A repository exists while it holds at least one manifest (as in the catalog). */
  repositoryExists(repository: RepoName): Promise<boolean>;
  /** Tags in lexical order. */
  listTags(repository: RepoName, page: Page): Promise<Tag[]>;
  /** Repositories holding at least one manifest, in lexical order. */
  listRepositories(page: Page): Promise<RepoName[]>;
  /** Manifests of `repository` whose subject is `subject`, optionally of one artifact type. */
  listReferrers(repository: RepoName, subject: Digest, artifactType?: string): Promise<ManifestRecord[]>;

  createUpload(upload: UploadRecord): Promise<void>;
  findUpload(id: string): Promise<UploadRecord | undefined>;
  /**
   * Makes `lease.holder` the upload's only writer until `lease.until` and returns the upload as it is
   * now: when no lease is held, the holder's own lease is renewed, or another holder's lease ended
   * before `lease.now`. Answers 'busy' while another holder's lease is live, undefined when there is
   * no such upload. Holders are unique per operation, so this excludes concurrent requests in one
   * process and in processes sharing the store alike.
   */
  leaseUpload(id: string, lease: Lease): Promise<UploadRecord | 'busy' | undefined>;
  /** Ends `holder`'s lease; nothing happens when it no longer holds one. */
  releaseUpload(id: string, holder: string): Promise<void>;
  /** Records the bytes stored so far; false (and nothing changed) unless `holder` holds the lease. */
  updateUploadSize(id: string, holder: string, size: number, updatedAt: number): Promise<boolean>;
  deleteUpload(id: string): Promise<void>;
  listUploadsUpdatedBefore(time: number): Promise<UploadRecord[]>;

  /**
   * Claims background job `name` (the upload purge, later GC) for `lease.holder` until `lease.until`:
   * true when it was free, its lease had ended before `lease.now`, or the holder already had it
   * (a renewal). Replicas sharing the store run each job one at a time this way.
   */
  leaseJob(name: string, lease: Lease): Promise<boolean>;
}
