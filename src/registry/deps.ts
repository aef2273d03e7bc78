// What every domain service is built from. Injected, so tests can pin time and ids.
import type { StorageDriver } from '../../storage-drivers/types.js';
import type { ContentGuard } from './content-guard.js';
import type { MetadataStore } from './metadata-store.js';
import type { PushPolicy } from './push-policy.js';
import type { Digest, RepoName, Tag } from './references.js';
import type { UpstreamSource } from './upstream-source.js';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Counts manifest GETs (src/registry/pull-tracker.ts); must cost the request no more than a map update. */
export interface PullCounter {
  count(repository: RepoName, digest: Digest, tag?: Tag): void;
}

export interface RegistryLimits {
  /** Largest manifest body accepted, in bytes (OCI dist-spec suggests at least 4 MiB). */
  manifestMaxBytes: number;
  /** Memory kept for recently served manifests, in bytes. */
  manifestCacheBytes: number;
}

export interface RegistryDeps {
  driver: StorageDriver;
  metadata: MetadataStore;
  log: Logger;
  limits: RegistryLimits;
  /**
   * Answer blob GETs with a redirect to the storage backend's own short-lived URL when the driver
   * offers one (S3 presigned URLs); HEAD and manifests are always served by the registry.
   */
  blobRedirects: { enabled: boolean; expiresInSeconds: number };
  /** When false, every DELETE answers UNSUPPORTED. */
  deleteEnabled: boolean;
  clock: () => number;
  newId: () => string;
  /** A pull-through mirror: proxied names are read from it and refuse pushes. */
  upstream?: UpstreamSource;
  /** Holds digests against the garbage collector while a change makes them reachable. */
  guard: ContentGuard;
  /** Quotas and immutable tags, asked before each change. */
  policy: PushPolicy;
  /** Pull tracking (pulls.track): told of every manifest GET answered with the manifest. */
  pulls?: PullCounter;
}
