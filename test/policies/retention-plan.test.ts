// The retention planner alone: examples of each rule, then properties over random repositories
// (fast-check, fixed seed): kept and immutable tags never go, exactly N recent ones stay, nothing a
// kept manifest needs goes, and deletions come parents first.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InventoryManifest, InventoryTag, RetentionPolicy } from '../../src/policies/policy-store.js';
import { planRetention, sortByRecency, type PlanInput } from '../../src/policies/retention-plan.js';
import type { Digest, Tag } from '../../src/registry/references.js';

const DAY = 86_400_000;
const NOW = 1_700_000_000_000;
const digest = (c: string) => `sha256:${c.padEnd(64, '0')}` as Digest;
const tagAt = (
  name: string,
  d: string,
  pushedDaysAgo: number,
  pulledDaysAgo: number | null = null,
): InventoryTag => ({
  name: name as Tag,
  digest: digest(d),
  pushedAt: NOW - pushedDaysAgo * DAY,
  pulledAt: pulledDaysAgo === null ? null : NOW - pulledDaysAgo * DAY,
});
const manifestAt = (
  d: string,
  pushedDaysAgo: number,
  extra: { pulledDaysAgo?: number; subject?: string; children?: string[] } = {},
): InventoryManifest => ({
  digest: digest(d),
  pushedAt: NOW - pushedDaysAgo * DAY,
  pulledAt: extra.pulledDaysAgo === undefined ? null : NOW - extra.pulledDaysAgo * DAY,
  subject: extra.subject === undefined ? null : digest(extra.subject),
  children: (extra.children ?? []).map(digest),
});
const policyOf = (partial: Partial<RetentionPolicy>): RetentionPolicy => ({
  keepLatest: null,
  keepPatterns: [],
  untaggedAfter: null,
  ...partial,
});
const plan = (input: Omit<PlanInput, 'now' | 'isImmutable' | 'untaggedAfterMs'> & Partial<PlanInput>) =>
  planRetention({
    now: NOW,
    isImmutable: () => false,
    untaggedAfterMs: input.policy.untaggedAfter === null ? null : 7 * DAY,
    ...input,
  });

describe('retention plan: tags', () => {
  const tags = [
    tagAt('v1', 'a', 10, 1),
    tagAt('v2', 'b', 9),
    tagAt('v3', 'c', 8, 5),
    tagAt('v4', 'd', 7),
    tagAt('release-1', 'e', 20),
    tagAt('latest', 'd', 7),
  ];
  const manifests = ['a', 'b', 'c', 'd', 'e'].map((d) => manifestAt(d, 30));

  it('keeps the N most recently pushed, the pattern matches and the immutable tags, and deletes the rest', () => {
    const result = plan({
      policy: policyOf({ keepLatest: { count: 2, by: 'pushed' }, keepPatterns: ['release-*'] }),
      inventory: { tags, manifests },
      isImmutable: (t) => t === 'v1',
    });
    // Most recent by push: latest and v4 (both 7 days; by name), then v3, v2, v1, release-1.
    expect(result.tags).toEqual([
      {
        tag: 'v2',
        digest: digest('b'),
        reason: 'not among the 2 most recently pushed tags, matching no kept pattern',
      },
      {
        tag: 'v3',
        digest: digest('c'),
        reason: 'not among the 2 most recently pushed tags, matching no kept pattern',
      },
    ]);
    expect(result.manifests).toEqual([]);
  });

  it('orders by last pull, never-pulled tags last and ties by push', () => {
    expect(sortByRecency(tags, 'pulled').map((t) => t.name)).toEqual([
      'v1',
      'v3',
      'latest',
      'v4',
      'v2',
      'release-1',
    ]);
    const result = plan({
      policy: policyOf({ keepLatest: { count: 2, by: 'pulled' } }),
      inventory: { tags, manifests },
    });
    expect(result.tags.map((t) => t.tag)).toEqual(['latest', 'release-1', 'v2', 'v4']);
    expect(result.tags[0]?.reason).toBe('not among the 2 most recently pulled tags');
  });

  it('deletes every tag no pattern matches when the policy has patterns only', () => {
    const result = plan({ policy: policyOf({ keepPatterns: ['v*'] }), inventory: { tags, manifests } });
    expect(result.tags.map((t) => [t.tag, t.reason])).toEqual([
      ['latest', 'matching no kept pattern'],
      ['release-1', 'matching no kept pattern'],
    ]);
  });

  it('deletes no tag without tag rules', () => {
    const result = plan({ policy: policyOf({ untaggedAfter: '7d' }), inventory: { tags, manifests } });
    expect(result.tags).toEqual([]);
  });
});

describe('retention plan: untagged manifests', () => {
  it('deletes untagged manifests neither pushed nor pulled for untaggedAfter, and keeps the others', () => {
    const result = plan({
      policy: policyOf({ untaggedAfter: '7d' }),
      inventory: {
        tags: [tagAt('v1', 'a', 30)],
        manifests: [
          manifestAt('a', 30), // tagged
          manifestAt('b', 30), // old, untagged: goes
          manifestAt('c', 3), // young
          manifestAt('d', 30, { pulledDaysAgo: 2 }), // pulled lately
          manifestAt('e', 7), // exactly untaggedAfter: goes
        ],
      },
    });
    expect(result.manifests).toEqual([
      { digest: digest('b'), reason: 'untagged, neither pushed nor pulled for 7d' },
      { digest: digest('e'), reason: 'untagged, neither pushed nor pulled for 7d' },
    ]);
  });

  it('keeps the children of a kept index and the referrers of a kept manifest, transitively', () => {
    const result = plan({
      policy: policyOf({ untaggedAfter: '7d' }),
      inventory: {
        tags: [tagAt('v1', 'i', 30)],
        manifests: [
          manifestAt('i', 30, { children: ['c1', 'c2'] }),
          manifestAt('c1', 30),
          manifestAt('c2', 30),
          manifestAt('s', 30, { subject: 'c1' }), // signature of a kept child
          manifestAt('t', 30, { subject: 's' }), // referrer of a kept referrer
          manifestAt('y', 1, { children: ['c3'] }), // young untagged index keeps its child
          manifestAt('c3', 30),
          manifestAt('o', 30, { subject: 'gone' }), // referrer of nothing kept
        ],
      },
    });
    expect(result.manifests.map((m) => m.digest)).toEqual([digest('o')]);
  });

  it('deletes an old untagged index with its children and referrers, each before what it refers to', () => {
    const result = plan({
      policy: policyOf({ untaggedAfter: '7d' }),
      inventory: {
        tags: [],
        manifests: [
          manifestAt('c1', 30),
          manifestAt('c2', 30),
          manifestAt('s', 30, { subject: 'i' }),
          manifestAt('i', 30, { children: ['c1', 'c2'] }),
          manifestAt('z', 30, { subject: 's' }),
        ],
      },
    });
    expect(result.manifests.map((m) => m.digest)).toEqual([
      digest('z'),
      digest('s'),
      digest('i'),
      digest('c1'),
      digest('c2'),
    ]);
  });

  it('counts manifests whose tags the plan deletes as untagged', () => {
    const result = plan({
      policy: policyOf({ keepLatest: { count: 1, by: 'pushed' }, untaggedAfter: '7d' }),
      inventory: {
        tags: [tagAt('new', 'a', 1), tagAt('old', 'b', 30), tagAt('young', 'c', 2)],
        manifests: [manifestAt('a', 1), manifestAt('b', 30), manifestAt('c', 2)],
      },
    });
    expect(result.tags.map((t) => t.tag)).toEqual(['old', 'young']);
    // c lost its tag but was pushed 2 days ago: garbage collection reviews it, retention does not.
    expect(result.manifests.map((m) => m.digest)).toEqual([digest('b')]);
  });
});

describe('retention plan: properties', () => {
  const names = ['v1', 'v2', 'v3', 'v10', 'latest', 'release-1', 'release-2', 'rc', 'dev', 'main', 'x', 'y'];
  const digests = 'abcdefghij'.split('');
  const inventory = fc
    .record({
      tags: fc.uniqueArray(
        fc.record({
          name: fc.constantFrom(...names),
          digest: fc.constantFrom(...digests),
          pushedDaysAgo: fc.integer({ min: 0, max: 40 }),
          pulledDaysAgo: fc.option(fc.integer({ min: 0, max: 40 })),
        }),
        { selector: (t) => t.name, maxLength: names.length },
      ),
      manifests: fc.uniqueArray(
        fc.record({
          digest: fc.constantFrom(...digests),
          pushedDaysAgo: fc.integer({ min: 0, max: 40 }),
          pulledDaysAgo: fc.option(fc.integer({ min: 0, max: 40 })),
          subject: fc.option(fc.constantFrom(...digests)),
          children: fc.uniqueArray(fc.constantFrom(...digests), { maxLength: 3 }),
        }),
        { selector: (m) => m.digest },
      ),
    })
    .map(({ tags, manifests }) => {
      const listed = manifests.map((m) => ({
        ...manifestAt(m.digest, m.pushedDaysAgo, {
          pulledDaysAgo: m.pulledDaysAgo ?? undefined,
          subject: m.subject ?? undefined,
          // Content addressing: an index lists manifests pushed before it, so no cycles (by letter order).
          children: m.children.filter((c) => c < m.digest),
        }),
        subject: m.subject !== null && m.subject < m.digest ? digest(m.subject) : null,
      }));
      const present = new Set(listed.map((m) => m.digest));
      return {
        tags: tags
          .filter((t) => present.has(digest(t.digest)))
          .map((t) => tagAt(t.name, t.digest, t.pushedDaysAgo, t.pulledDaysAgo)),
        manifests: listed,
      };
    });
  const policy = fc.record({
    keepLatest: fc.option(
      fc.record({
        count: fc.integer({ min: 1, max: 6 }),
        by: fc.constantFrom('pushed' as const, 'pulled' as const),
      }),
    ),
    keepPatterns: fc.uniqueArray(fc.constantFrom('v*', 'release-*', 'latest', 'x'), { maxLength: 2 }),
    untaggedAfter: fc.option(fc.constant('7d')),
  });
  const immutable = fc.uniqueArray(fc.constantFrom(...names), { maxLength: 3 });

  it('never deletes a kept, pattern-matching or immutable tag, and keeps exactly N recent ones otherwise', () => {
    fc.assert(
      fc.property(inventory, policy, immutable, (inv, pol, protectedTags) => {
        const isImmutable = (t: Tag) => protectedTags.includes(t);
        const result = plan({ policy: pol, inventory: inv, isImmutable });
        const deleted = new Set(result.tags.map((t) => t.tag));
        const matches = (t: string) =>
          pol.keepPatterns.some((p) => (p.endsWith('*') ? t.startsWith(p.slice(0, -1)) : t === p));
        const recent = pol.keepLatest
          ? new Set(
              sortByRecency(inv.tags, pol.keepLatest.by)
                .slice(0, pol.keepLatest.count)
                .map((t) => t.name),
            )
          : new Set<string>();
        for (const t of inv.tags) {
          const kept = recent.has(t.name) || matches(t.name) || isImmutable(t.name);
          const hasTagRules = pol.keepLatest !== null || pol.keepPatterns.length > 0;
          expect(deleted.has(t.name), t.name).toBe(hasTagRules && !kept);
        }
        if (pol.keepLatest && pol.keepPatterns.length === 0 && protectedTags.length === 0) {
          expect(inv.tags.length - deleted.size).toBe(Math.min(pol.keepLatest.count, inv.tags.length));
        }
        for (const t of result.tags) expect(inv.tags.find((x) => x.name === t.tag)?.digest).toBe(t.digest);
      }),
      { seed: 0x7e7e, numRuns: 500 },
    );
  });

  it('deletes exactly the old untagged manifests no kept manifest needs, parents first', () => {
    fc.assert(
      fc.property(inventory, policy, immutable, (inv, pol, protectedTags) => {
        const result = plan({ policy: pol, inventory: inv, isImmutable: (t) => protectedTags.includes(t) });
        if (pol.untaggedAfter === null) {
          expect(result.manifests).toEqual([]);
          return;
        }
        const goingTags = new Set(result.tags.map((t) => t.tag));
        const tagged = new Set(inv.tags.filter((t) => !goingTags.has(t.name)).map((t) => t.digest));
        const old = (m: InventoryManifest) => NOW - Math.max(m.pushedAt, m.pulledAt ?? 0) >= 7 * DAY;
        // Kept: tagged or young, closed over index children and referrers.
        const kept = new Set(
          inv.manifests.filter((m) => tagged.has(m.digest) || !old(m)).map((m) => m.digest),
        );
        for (let grew = true; grew;) {
          grew = false;
          for (const m of inv.manifests) {
            const needed =
              kept.has(m.digest) ||
              inv.manifests.some((k) => kept.has(k.digest) && k.children.includes(m.digest)) ||
              (m.subject !== null && kept.has(m.subject));
            if (needed && !kept.has(m.digest)) {
              kept.add(m.digest);
              grew = true;
            }
          }
        }
        const deleted = result.manifests.map((m) => m.digest);
        expect(new Set(deleted)).toEqual(
          new Set(inv.manifests.map((m) => m.digest).filter((d) => !kept.has(d))),
        );
        expect(deleted.length).toBe(new Set(deleted).size);
        const position = new Map(deleted.map((d, i) => [d, i]));
        for (const m of inv.manifests.filter((x) => position.has(x.digest))) {
          for (const target of [...m.children, ...(m.subject ? [m.subject] : [])]) {
            if (position.has(target))
              expect(position.get(m.digest)).toBeLessThan(position.get(target) as number);
          }
        }
      }),
      { seed: 0x7e7f, numRuns: 500 },
    );
  });
});
