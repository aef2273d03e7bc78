import { describe, expect, it } from 'vitest';
import { DigestInvalidError, NameInvalidError, TagInvalidError } from '../../src/registry/errors.js';
import { parseDigest, parseReference, parseRepoName, parseTag } from '../../src/registry/references.js';

const hex64 = 'a'.repeat(64);

describe('parseRepoName', () => {
  it.each(['library/busybox', 'a', 'a-b/c.d/e_f', 'a__b', 'a--b/c', 'x'.repeat(255)])(
    'accepts %s',
    (name) => {
      expect(parseRepoName(name)).toBe(name);
    },
  );
  it.each([
    '',
    'A',
    'a//b',
    '../x',
    '..',
    'a/..',
    '/a',
    'a/',
    '-a',
    'a-',
    'a.',
    'a___b',
    'a b',
    'x'.repeat(256),
  ])('rejects %j', (name) => {
    expect(() => parseRepoName(name)).toThrow(NameInvalidError);
  });
});

describe('parseTag', () => {
  it.each(['latest', 'v1.0.0', '_x', 'A-b_c.d', 'x'.repeat(128)])('accepts %s', (tag) => {
    expect(parseTag(tag)).toBe(tag);
  });
  it.each(['', '-x', '.x', 'a/b', 'a:b', 'x'.repeat(129)])('rejects %j', (tag) => {
    expect(() => parseTag(tag)).toThrow(TagInvalidError);
  });
});

describe('parseDigest', () => {
  it('accepts sha256 and sha512 digests', () => {
    expect(parseDigest(`sha256:${hex64}`)).toBe(`sha256:${hex64}`);
    expect(parseDigest(`sha512:${'0'.repeat(128)}`)).toBe(`sha512:${'0'.repeat(128)}`);
  });
  it.each([`sha256:${'A'.repeat(64)}`, 'sha256:abc', `md5:${hex64}`, hex64, `sha256:${hex64}0`, `:${hex64}`])(
    'rejects %j',
    (digest) => {
      expect(() => parseDigest(digest)).toThrow(DigestInvalidError);
    },
  );
});

describe('parseReference', () => {
  it('tells tags from digests', () => {
    expect(parseReference('v1')).toEqual({ kind: 'tag', tag: 'v1' });
    expect(parseReference(`sha256:${hex64}`)).toEqual({ kind: 'digest', digest: `sha256:${hex64}` });
  });
});
