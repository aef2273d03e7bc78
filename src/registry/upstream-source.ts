// The seam a pull-through mirror fills (zot's SyncOnDemand is the model): the registry asks it about
// names it proxies and knows nothing of upstreams, tokens or caching. src/mirror implements it.
// Every method answers undefined for a repository that the source does not proxy, so the registry
// then behaves as a plain private registry.
import type { BlobStream, RequestedRange } from './blobs.js';
import type { ManifestRecord } from './metadata-store.js';
import type { Digest, Reference, RepoName } from './references.js';

export interface UpstreamSource {
  /** Throws DeniedError when `repository` is a proxied name, which only the upstream may change. */
  assertWritable(repository: RepoName): Promise<void>;
  /**
   * The manifest `reference` names, brought into (or confirmed in) the local index when the
   * repository is proxied: tags are checked upstream at most once per freshness interval, and served
   * stale when the upstream fails. Its bytes are then in storage under the digest.
   */
  manifest(repository: RepoName, reference: Reference): Promise<ManifestRecord | undefined>;
  /** The size of a blob of a proxied repository that the local index lacks (upstream HEAD). */
  blobSize(repository: RepoName, digest: Digest): Promise<number | undefined>;
  /** A blob of a proxied repository that the local index lacks, streamed while it is cached. */
  openBlob(repository: RepoName, digest: Digest, requested?: RequestedRange): Promise<BlobStream | undefined>;
  /** Tells the source that a local blob of `repository` was served (hit counters, eviction order). */
  servedBlob(repository: RepoName, digest: Digest, bytes: number): void;
}
