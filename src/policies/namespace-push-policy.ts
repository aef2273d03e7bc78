// The registry's PushPolicy (src/registry/push-policy.ts) from namespaces' rules: quotas on every
// blob link and manifest, immutable tags on every tag change and delete. Rules are read from the
// database at each check (no cache), so a rule set on one replica applies on all at once.
import type { MetadataStore } from '../registry/metadata-store.js';
import type { PushPolicy } from '../registry/push-policy.js';
import type { Immutability } from './immutable-tags.js';
import type { QuotaCheck } from './quotas.js';

export interface NamespacePushPolicyDeps {
  quotas: QuotaCheck;
  immutability: Immutability;
  /** Where a tag points now (the registry's index, through its read cache). */
  metadata: Pick<MetadataStore, 'resolveTag'>;
}

export function createNamespacePushPolicy({
  quotas,
  immutability,
  metadata,
}: NamespacePushPolicyDeps): PushPolicy {
  return {
    checkBlob: (repository, digest, size) => quotas.check(repository, digest, size),

    async checkManifest(repository, manifest, tag) {
      if (tag !== undefined) {
        await immutability.checkPush(
          repository,
          tag,
          manifest.digest,
          async () => (await metadata.resolveTag(repository, tag))?.digest,
        );
      }
      await quotas.check(repository, manifest.digest, manifest.size);
    },

    checkTagRemoval: (repository, tag) => immutability.checkTagRemoval(repository, tag),
    checkManifestRemoval: (repository, digest) => immutability.checkManifestRemoval(repository, digest),
  };
}
