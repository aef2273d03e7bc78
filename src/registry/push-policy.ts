// What namespaces' rules may refuse before content changes: quotas (deduplicated bytes per
// namespace) and immutable tags (src/policies implements it). The domain asks at each change, before
// anything is written; a refusal is a DeniedError whose message docker prints.
import type { Digest, RepoName, Tag } from './references.js';

export interface PushPolicy {
  /** Before `repository` links a blob (upload commit, mount, server-side copy): its namespace's quota. */
  checkBlob(repository: RepoName, digest: Digest, size: number): Promise<void>;
  /**
   * Before a manifest is stored in `repository`, and `tag` (when given) is pointed at it: the
   * namespace's quota for the manifest's own bytes, and the tag's immutability (moving an immutable
   * tag to another manifest is refused; pushing the same manifest again is not a change).
   */
  checkManifest(repository: RepoName, manifest: { digest: Digest; size: number }, tag?: Tag): Promise<void>;
  /** Before a tag is deleted: its immutability. */
  checkTagRemoval(repository: RepoName, tag: Tag): Promise<void>;
  /** Before a manifest is deleted with the tags pointing at it: their immutability. */
  checkManifestRemoval(repository: RepoName, digest: Digest): Promise<void>;
}

/** No rules configured: everything is allowed. */
export const noPushPolicy: PushPolicy = {
  checkBlob: async () => {},
  checkManifest: async () => {},
  checkTagRemoval: async () => {},
  checkManifestRemoval: async () => {},
};
