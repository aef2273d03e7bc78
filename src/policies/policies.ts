// Namespace rules, composed: immutability and quotas over the policy store, and the PushPolicy the
// registry asks before each change. Retention (retention.ts) is built after the registry, since it
// deletes through the registry's manifests service.
import type { MetadataStore } from '../registry/metadata-store.js';
import type { PushPolicy } from '../registry/push-policy.js';
import { createImmutability, type Immutability } from './immutable-tags.js';
import { createNamespacePushPolicy } from './namespace-push-policy.js';
import type { PolicyStore } from './policy-store.js';
import { createQuotaCheck, type QuotaCheck } from './quotas.js';

export interface NamespacePolicies {
  immutability: Immutability;
  quotas: QuotaCheck;
  /** For createRegistry({ policy }). */
  push: PushPolicy;
}

export function createNamespacePolicies(deps: {
  store: PolicyStore;
  metadata: Pick<MetadataStore, 'resolveTag'>;
  clock?: () => number;
}): NamespacePolicies {
  const immutability = createImmutability(deps.store, deps.clock);
  const quotas = createQuotaCheck(deps.store);
  return {
    immutability,
    quotas,
    push: createNamespacePushPolicy({ quotas, immutability, metadata: deps.metadata }),
  };
}
