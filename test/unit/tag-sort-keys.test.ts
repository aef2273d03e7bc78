// The stored sort keys of tag names (src/registry/tag-sort-keys.ts) against the comparators they
// replace in listings (src/registry/tag-order.ts): rows ordered by (key, name), bytewise, must come in
// exactly the comparator's order. Properties over random tag pairs, biased towards what makes the
// orders differ (digit runs with leading zeros and many digits, dots, dashes, v prefixes, prereleases),
// then examples.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tagOrder } from '../../src/registry/tag-order.js';
import { naturalKey, semverKey } from '../../src/registry/tag-sort-keys.js';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sign = (n: number) => Math.sign(n) + 0;

const digits = fc.oneof(
  fc.constantFrom('0', '00', '1', '01', '2', '9', '10', '11', '19', '99', '100', '007'),
  fc.stringMatching(/^[0-9]{1,4}$/),
  fc.stringMatching(/^[1-9][0-9]{14,20}$/),
  fc.constantFrom(
    '9007199254740991',
    '9007199254740992',
    '9007199254740993',
    '09007199254740991',
    '18446744073709551616',
    '1'.padEnd(60, '0'),
  ),
);
const word = fc.constantFrom('v', 'V', 'a', 'b', 'rc', 'alpha', 'beta', 'latest', 'A', 'Z', '_', 'x-y', 'ab');
const punctuation = fc.constantFrom('.', '-', '_', '.', '-', '..', '--', '-.', '.-');

/** Free-form tags made of the tokens above. */
const tokens = fc
  .array(fc.oneof({ weight: 3, arbitrary: digits }, { weight: 2, arbitrary: word }, punctuation), {
    minLength: 1,
    maxLength: 9,
  })
  .map((parts) => parts.join(''));

/** Identifier of a prerelease (valid or not). */
const identifier = fc.oneof(digits, word, fc.constantFrom('rc1', '1a', '0a', 'a1', '-', 'x--', ''));

/** `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`, often valid, sometimes not. */
const versionLike = fc
  .tuple(
    fc.constantFrom('', 'v'),
    fc.array(digits, { minLength: 1, maxLength: 4 }),
    fc.option(fc.array(identifier, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  )
  .map(([v, parts, pre]) => `${v}${parts.join('.')}${pre ? `-${pre.join('.')}` : ''}`);

/** Any string of tag characters. */
const anyTag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,40}$/);

const tag = fc.oneof(tokens, versionLike, versionLike, anyTag).filter((t) => TAG.test(t));

/** Pairs that often share a prefix, so that the comparison is decided late. */
const pair = fc.oneof(
  fc.tuple(tag, tag),
  fc
    .tuple(fc.constantFrom('', 'v', '1.', 'v1.2.', '1.0.0-', 'v2-rc.', 'app-'), tag, tag)
    .map(([prefix, a, b]): [string, string] => [prefix + a, prefix + b])
    .filter(([a, b]) => TAG.test(a) && TAG.test(b)),
  fc
    .tuple(versionLike, identifier, identifier)
    .map(([base, x, y]): [string, string] => [`${base}.${x}`, `${base}.${y}`])
    .filter(([a, b]) => TAG.test(a) && TAG.test(b)),
);

const orders = {
  name: { compare: tagOrder('name', 'asc'), key: naturalKey },
  semver: { compare: tagOrder('semver', 'asc'), key: semverKey },
} as const;

/** How a store orders rows: by key, then by name, both bytewise. */
const byKey = (key: (tag: string) => string) => (a: string, b: string) =>
  byBytes(key(a), key(b)) || byBytes(a, b);

describe('tag sort keys', () => {
  for (const [sort, { compare, key }] of Object.entries(orders)) {
    describe(`sort=${sort}`, () => {
      it('orders every pair of tags as the comparator does', () => {
        fc.assert(
          fc.property(pair, ([a, b]) => {
            expect(sign(byKey(key)(a, b)), `${a} vs ${b}`).toBe(sign(compare(a, b)));
          }),
          { numRuns: 20_000 },
        );
      });

      it('sorts lists of tags as the comparator does', () => {
        fc.assert(
          fc.property(fc.array(tag, { maxLength: 40 }), (tags) => {
            expect([...tags].sort(byKey(key))).toEqual([...tags].sort(compare));
          }),
          { numRuns: 1_000 },
        );
      });

      it('makes ASCII keys of at most 1,024 bytes, for tags of up to 128 characters', () => {
        fc.assert(
          fc.property(
            fc.oneof(
              tag,
              fc.stringMatching(/^[0-9][0-9.-]{100,127}$/),
              fc.stringMatching(/^v1\.[0-9.]{120,124}$/),
            ),
            (t) => {
              expect(key(t)).toMatch(/^[\x20-\x7e]+$/);
              expect(key(t).length).toBeLessThanOrEqual(1024);
            },
          ),
        );
        expect(key('1.'.repeat(64).slice(0, 128)).length).toBeLessThanOrEqual(1024);
        expect(key(`v${'1'.repeat(16)}.0.0-${'1.'.repeat(55)}1`).length).toBeLessThanOrEqual(1024);
      });
    });
  }

  const sortedBy = (key: (tag: string) => string, tags: string[]) => [...tags].sort(byKey(key));

  it('orders names numeric-aware, leading zeros and then bytes breaking ties', () => {
    expect(
      sortedBy(naturalKey, ['v10', 'v2', 'v10a', 'v1.10', 'v1.9', 'latest', 'v02', 'v002', 'V3', '1', '_x']),
    ).toEqual(['1', 'V3', '_x', 'latest', 'v1.9', 'v1.10', 'v002', 'v02', 'v2', 'v10', 'v10a']);
    // A run that is a prefix of another comes first; fewer runs first.
    expect(sortedBy(naturalKey, ['a1', 'ab1', 'a', 'a-1', 'a.1', 'a01', 'a0'])).toEqual([
      'a',
      'a0',
      'a01',
      'a1',
      'a-1',
      'a.1',
      'ab1',
    ]);
    const big = '9'.repeat(100);
    expect(sortedBy(naturalKey, [`x${big}`, 'x1', `x1${big}`])).toEqual(['x1', `x${big}`, `x1${big}`]);
  });

  it('orders versions by precedence, before every other tag', () => {
    expect(
      sortedBy(semverKey, [
        'latest',
        'v1.0.0',
        '1.0.0-rc.1',
        '1.0.0-rc.10',
        '1.0.0-rc.2',
        '1.0.0-alpha',
        '1.0.0-alpha.1',
        '1.0.0-alpha.beta',
        '1.0.0-beta',
        '1.0.0-1',
        '1.0.0-01',
        '1',
        '1.0',
        '3.19',
        'v10',
        '01.2.3',
        '1.0.0-9007199254740992',
        '1.0.0-9007199254740991',
      ]),
    ).toEqual([
      // semver.org 2.0.0 section 11: 1.0.0-alpha < alpha.1 < alpha.beta < beta < rc.1 < 1.0.0;
      // numeric identifiers first, then by value.
      '1.0.0-1',
      '1.0.0-9007199254740991',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-rc.1',
      '1.0.0-rc.2',
      '1.0.0-rc.10',
      // The same version written three ways: by name.
      '1',
      '1.0',
      'v1.0.0',
      '3.19',
      'v10',
      // Not versions (a leading zero, a number beyond 2^53 - 1): by name.
      '1.0.0-01',
      '1.0.0-9007199254740992',
      '01.2.3',
      'latest',
    ]);
  });
});
