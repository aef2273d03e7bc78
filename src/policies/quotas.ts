// Quotas: a namespace's limit in deduplicated bytes (a blob held by several of its repositories counts
// once; manifests count too), checked before a blob is linked (upload commit, mount, server-side copy)
// and before a manifest is stored. Content the namespace already holds adds nothing and always passes,
// so re-pushing an image, or mounting a layer from a sibling repository, works at or over the limit.
//
// Concurrency: the check reads the usage, the link that follows adds to it, and nothing holds the
// namespace in between; two pushes racing in one namespace may each pass a check the other then
// makes untrue, so together they overshoot the quota by at most one blob (or manifest) each.
// Lowering a quota below the usage refuses new content; nothing already stored is removed.
import { namespaceOf } from '../auth/model.js';
import { DeniedError } from '../registry/errors.js';
import type { Digest, RepoName } from '../registry/references.js';
import type { PolicyStore } from './policy-store.js';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/** Decimal (SI) units, one decimal at most: 1200000000 → "1.2 GB", 999 → "999 B". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const rounded = unit === 0 ? String(value) : String(Math.round(value * 10) / 10);
  return `${rounded} ${UNITS[unit]}`;
}

/** What docker prints after "denied: " when content would take a namespace over its quota. */
export function quotaExceededMessage(namespace: string, wouldUse: number, limit: number): string {
  let use = formatBytes(wouldUse);
  let of = formatBytes(limit);
  // Rounded alike ("1 GB of its 1 GB"): the exact counts say what the units hide.
  if (use === of) [use, of] = [`${wouldUse} bytes`, `${limit} bytes`];
  return `quota exceeded: namespace "${namespace}" would use ${use} of its ${of} quota`;
}

export interface QuotaCheck {
  /** Refuses (DeniedError) content that would take the repository's namespace over its quota. */
  check(repository: RepoName, digest: Digest, size: number): Promise<void>;
}

export function createQuotaCheck(store: Pick<PolicyStore, 'quotaStanding'>): QuotaCheck {
  return {
    async check(repository, digest, size) {
      const namespace = namespaceOf(repository);
      const { limitBytes, usedBytes, counted } = await store.quotaStanding(namespace, digest);
      if (limitBytes === null || counted) return;
      const wouldUse = usedBytes + size;
      if (wouldUse <= limitBytes) return;
      throw new DeniedError('quota exceeded', quotaExceededMessage(namespace, wouldUse, limitBytes));
    },
  };
}
