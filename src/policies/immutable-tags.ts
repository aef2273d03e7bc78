// Immutable tags: a namespace's rules (tag patterns, optionally limited to repositories by a
// repository pattern) name the tags that, once pushed, keep pointing at the same manifest. Pushing
// them again with other content, retagging or copying onto them, deleting them, and deleting the
// manifest they point at are refused with DENIED; the first push of a tag, and pushing the same
// manifest again (nothing changes), are allowed. A rule applies to tags pushed before it was set too.
import { namespaceOf } from '../auth/model.js';
import { DeniedError } from '../registry/errors.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';
import { compileGlob } from './glob.js';
import type { ImmutableTagRule, PolicyStore } from './policy-store.js';

/** A function answering the first of `rules` that protects a tag of a repository, or undefined. */
export function compileRules(
  rules: readonly ImmutableTagRule[],
): (repository: string, tag: string) => ImmutableTagRule | undefined {
  const compiled = rules.map((rule) => ({
    rule,
    tags: compileGlob(rule.tags),
    repositories: rule.repositories === null ? () => true : compileGlob(rule.repositories),
  }));
  return (repository, tag) => compiled.find((c) => c.tags(tag) && c.repositories(repository))?.rule;
}

/** What docker prints after "denied: " for a change to a protected tag. */
export function immutableTagMessage(
  repository: string,
  tag: string,
  rule: ImmutableTagRule,
  consequence: string,
): string {
  const where = rule.repositories === null ? '' : ` for repositories "${rule.repositories}"`;
  return `tag ${repository}:${tag} is immutable (rule "${rule.tags}"${where} of namespace "${namespaceOf(repository)}"): ${consequence}`;
}

/** How long listings reuse a namespace's rules (checks before changes always read them afresh). */
export const LISTING_RULES_TTL_MS = 1_000;

export interface Immutability {
  /**
   * Whether a rule of the repository's namespace protects the tag, for listings (the catalog's
   * `immutable` flag): a namespace's rules are read once per LISTING_RULES_TTL_MS, so a listing of many
   * tags costs one query and may show a rule changed within that time late.
   */
  isImmutable(repository: RepoName, tag: Tag): Promise<boolean>;
  /** A predicate over one repository's tags, the rules read once (listings of many tags). */
  predicateFor(repository: RepoName): Promise<(tag: Tag) => boolean>;
  /**
   * Refuses (DeniedError) pointing a protected, existing tag at another manifest than `digest`.
   * `current` (where the tag points now) is asked only when a rule protects the tag.
   */
  checkPush(
    repository: RepoName,
    tag: Tag,
    digest: Digest,
    current: () => Promise<Digest | undefined>,
  ): Promise<void>;
  /** Refuses (DeniedError) deleting a protected tag. */
  checkTagRemoval(repository: RepoName, tag: Tag): Promise<void>;
  /** Refuses (DeniedError) deleting a manifest that a protected tag points at. */
  checkManifestRemoval(repository: RepoName, digest: Digest): Promise<void>;
}

export function createImmutability(
  store: Pick<PolicyStore, 'listImmutableRules' | 'tagsOf'>,
  clock: () => number = Date.now,
): Immutability {
  const rulesOf = async (repository: RepoName) =>
    compileRules(await store.listImmutableRules(namespaceOf(repository)));
  const forListings = new Map<string, { until: number; rules: ReturnType<typeof rulesOf> }>();

  return {
    async isImmutable(repository, tag) {
      const namespace = namespaceOf(repository);
      const now = clock();
      let cached = forListings.get(namespace);
      if (!cached || cached.until <= now) {
        if (forListings.size > 1_000) forListings.clear();
        cached = { until: now + LISTING_RULES_TTL_MS, rules: rulesOf(repository) };
        forListings.set(namespace, cached);
        cached.rules.catch(() => forListings.delete(namespace));
      }
      return (await cached.rules)(repository, tag) !== undefined;
    },

    async predicateFor(repository) {
      const ruleFor = await rulesOf(repository);
      return (tag) => ruleFor(repository, tag) !== undefined;
    },

    async checkPush(repository, tag, digest, current) {
      const rule = (await rulesOf(repository))(repository, tag);
      if (!rule) return;
      const now = await current();
      if (now === undefined || now === digest) return;
      throw new DeniedError(
        'immutable tag',
        immutableTagMessage(repository, tag, rule, 'push a new tag instead'),
      );
    },

    async checkTagRemoval(repository, tag) {
      const rule = (await rulesOf(repository))(repository, tag);
      if (!rule) return;
      throw new DeniedError(
        'immutable tag',
        immutableTagMessage(repository, tag, rule, 'it cannot be deleted'),
      );
    },

    async checkManifestRemoval(repository, digest) {
      const rules = await store.listImmutableRules(namespaceOf(repository));
      if (rules.length === 0) return;
      const ruleFor = compileRules(rules);
      for (const tag of await store.tagsOf(repository, digest)) {
        const rule = ruleFor(repository, tag);
        if (!rule) continue;
        throw new DeniedError(
          'immutable tag',
          immutableTagMessage(
            repository,
            tag,
            rule,
            `manifest ${digest}, which it points at, cannot be deleted`,
          ),
        );
      }
    },
  };
}
