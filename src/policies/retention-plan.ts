// The retention planner: given one repository's tags and manifests with their times, its policy and
// which tags are immutable, what goes and why. Pure (no I/O, the time passed in), so a dry run and a
// real run plan alike, and property tests can drive it.
//
// Tags: a policy with at least one tag rule (keepLatest, keepPatterns) deletes every tag that no rule
// keeps; a tag is kept when it is among the `count` most recently pushed (or pulled: never-pulled tags
// are the least recent; ties go to the later push, then the name), when it matches a kept pattern, or
// when it is immutable (immutable tags are never deleted, and do not take the place of a recent one).
// A policy without tag rules deletes no tag.
//
// Manifests: with untaggedAfter, an untagged manifest (none of its tags left once the planned tag
// deletions are done) neither pushed nor pulled for that long is deleted, unless a kept manifest
// needs it: the manifests a kept index lists and the referrers (signatures, SBOMs) of a kept manifest
// are kept, transitively. Kept are the tagged manifests and the untagged ones that are not old enough.
// Manifests whose tags this plan deletes but that are younger than untaggedAfter (or every such
// manifest, without untaggedAfter) stay untagged: garbage collection reviews them.
import type { Digest, Tag } from '../registry/references.js';
import { compileGlobs } from './glob.js';
import type {
  InventoryManifest,
  InventoryTag,
  RepositoryInventory,
  RetentionPolicy,
} from './policy-store.js';

export interface PlannedTagDeletion {
  tag: Tag;
  /** The manifest the tag pointed at when planned: a tag moved since is not deleted. */
  digest: Digest;
  reason: string;
}

export interface PlannedManifestDeletion {
  digest: Digest;
  reason: string;
}

export interface RetentionPlan {
  /** Deleted first, by name. */
  tags: PlannedTagDeletion[];
  /** Deleted after the tags, each before what it refers to (an index before its children). */
  manifests: PlannedManifestDeletion[];
}

export interface PlanInput {
  policy: RetentionPolicy;
  inventory: RepositoryInventory;
  isImmutable: (tag: Tag) => boolean;
  /** untaggedAfter in ms (null: the policy has none); parsed by the caller. */
  untaggedAfterMs: number | null;
  now: number;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Most recent first, by the policy's order. */
export function sortByRecency(tags: readonly InventoryTag[], by: 'pushed' | 'pulled'): InventoryTag[] {
  return [...tags].sort((a, b) => {
    if (by === 'pulled' && a.pulledAt !== b.pulledAt) {
      if (a.pulledAt === null) return 1;
      if (b.pulledAt === null) return -1;
      return b.pulledAt - a.pulledAt;
    }
    return b.pushedAt - a.pushedAt || byName(a, b);
  });
}

function planTags({ policy, inventory, isImmutable }: PlanInput): PlannedTagDeletion[] {
  const { keepLatest, keepPatterns } = policy;
  if (keepLatest === null && keepPatterns.length === 0) return [];
  const recent = new Set(
    keepLatest === null
      ? []
      : sortByRecency(inventory.tags, keepLatest.by)
          .slice(0, keepLatest.count)
          .map((t) => t.name),
  );
  const matchesPattern = compileGlobs(keepPatterns);
  const reasons = [
    ...(keepLatest === null ? [] : [`not among the ${keepLatest.count} most recently ${keepLatest.by} tags`]),
    ...(keepPatterns.length === 0 ? [] : ['matching no kept pattern']),
  ];
  const reason = reasons.join(', ');
  return [...inventory.tags]
    .sort(byName)
    .filter((t) => !recent.has(t.name) && !matchesPattern(t.name) && !isImmutable(t.name))
    .map((t) => ({ tag: t.name, digest: t.digest, reason }));
}

/** `deleted` ordered so that each comes before the manifests it lists or refers to. */
function parentsFirst(deleted: readonly InventoryManifest[]): InventoryManifest[] {
  const inPlan = new Map(deleted.map((m) => [m.digest, m]));
  const pointsAt = (m: InventoryManifest) =>
    [...m.children, ...(m.subject ? [m.subject] : [])].filter((d) => inPlan.has(d) && d !== m.digest);
  const waitingFor = new Map<Digest, number>(deleted.map((m) => [m.digest, 0]));
  for (const m of deleted)
    for (const d of new Set(pointsAt(m))) waitingFor.set(d, (waitingFor.get(d) ?? 0) + 1);
  const sorted = [...deleted].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const ordered: InventoryManifest[] = [];
  const done = new Set<Digest>();
  let ready = sorted.filter((m) => waitingFor.get(m.digest) === 0);
  while (ready.length > 0) {
    const next: InventoryManifest[] = [];
    for (const m of ready) {
      ordered.push(m);
      done.add(m.digest);
      for (const d of new Set(pointsAt(m))) {
        const left = (waitingFor.get(d) ?? 0) - 1;
        waitingFor.set(d, left);
        const target = inPlan.get(d);
        if (left === 0 && target) next.push(target);
      }
    }
    ready = next.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }
  // Content addressing makes cycles impossible; should the index hold one anyway, nothing is lost.
  return [...ordered, ...sorted.filter((m) => !done.has(m.digest))];
}

function planManifests(
  input: PlanInput,
  deletedTags: readonly PlannedTagDeletion[],
): PlannedManifestDeletion[] {
  const { inventory, untaggedAfterMs, now, policy } = input;
  if (untaggedAfterMs === null) return [];
  const goingTags = new Set(deletedTags.map((t) => t.tag));
  const tagged = new Set(inventory.tags.filter((t) => !goingTags.has(t.name)).map((t) => t.digest));
  const isOld = (m: InventoryManifest) => now - Math.max(m.pushedAt, m.pulledAt ?? 0) >= untaggedAfterMs;
  const referrers = new Map<Digest, Digest[]>();
  for (const m of inventory.manifests) {
    if (m.subject) referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), m.digest]);
  }
  const byDigest = new Map(inventory.manifests.map((m) => [m.digest, m]));
  const kept = new Set<Digest>();
  const queue = inventory.manifests.filter((m) => tagged.has(m.digest) || !isOld(m)).map((m) => m.digest);
  for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
    if (kept.has(digest) || !byDigest.has(digest)) continue;
    kept.add(digest);
    queue.push(...(byDigest.get(digest)?.children ?? []), ...(referrers.get(digest) ?? []));
  }
  const deleted = inventory.manifests.filter((m) => !kept.has(m.digest));
  const reason = `untagged, neither pushed nor pulled for ${policy.untaggedAfter}`;
  return parentsFirst(deleted).map((m) => ({ digest: m.digest, reason }));
}

export function planRetention(input: PlanInput): RetentionPlan {
  const tags = planTags(input);
  return { tags, manifests: planManifests(input, tags) };
}
