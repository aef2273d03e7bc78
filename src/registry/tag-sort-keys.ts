// Sort keys of tag names, stored beside each tag so that the metadata index serves `sort=name` and
// `sort=semver` listings by keyset, as it serves `sort=pushed`. Ordering rows by (key, name), both
// compared bytewise (SQLite's BINARY collation, PostgreSQL's COLLATE "C"), gives exactly the orders of
// tag-order.ts's comparators, tie-breaks included (test/unit/tag-sort-keys.test.ts proves it with
// fast-check); the name itself is the last tie-break, so it is not part of the key.
//
// Keys are ASCII. Tag characters are `[A-Za-z0-9_.-]`, of which `-` (0x2D) is the lowest; the
// encodings use a few bytes below it as markers, so that a shorter run or identifier sorts before a
// longer one it is a prefix of:
//   number    3-digit count of its digits, leading zeros dropped, then the digits (`007` → `0017`,
//             `0` → `000`): the count compares first, so values compare by magnitude.
//   natural   the name's runs: a digit run as a number; any other run as itself then `!` (0x21).
//             `v1.10` → `v!` `0011` `.!` `00210`. Runs are prefix-free, so comparing the concatenation
//             compares run by run and a name with fewer runs comes first, as compareRuns does.
//   semver    `0`, then for a version: major, minor and patch as numbers; `.` for a release, or `-`,
//             each prerelease identifier (`#` and a number when numeric, `$`, itself and `!` when not)
//             and `!` for a prerelease (`-` < `.`: a prerelease precedes its release; `!` < `#` < `$`:
//             fewer identifiers, then numeric identifiers, first); then the natural key.
//             For any other tag, `1` then the natural key: versions come first.
// A version is what tag-order.ts accepts: `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`, missing parts 0,
// valid as semver.org 2.0.0 (no leading zeros, no empty identifier) with every number in it, numeric
// prerelease identifiers included, at most Number.MAX_SAFE_INTEGER (the semver package compares numbers
// as JavaScript numbers).
import type { TagKey, TagSort } from './catalog-store.js';

/** After a non-digit run, an alphanumeric identifier and a prerelease: below every tag character. */
const END = '!';
const NUMERIC_IDENTIFIER = '#';
const ALPHANUMERIC_IDENTIFIER = '$';
const VERSION = '0';
const NOT_A_VERSION = '1';
const PRERELEASE = '-';
const RELEASE = '.';

/** An unsigned decimal integer (leading zeros allowed), ordered by value. */
function numberKey(digits: string): string {
  const value = digits.replace(/^0+/, '');
  return String(value.length).padStart(3, '0') + value;
}

/** Numeric-aware order: digit runs by value, other runs by bytes, fewer runs first. */
export function naturalKey(tag: string): string {
  let key = '';
  for (const run of tag.match(/\d+|\D+/g) ?? []) {
    key += run.charCodeAt(0) >= 0x30 && run.charCodeAt(0) <= 0x39 ? numberKey(run) : run + END;
  }
  return key;
}

const VERSION_FORM = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$/;
const MAIN_PART = /^(?:0|[1-9]\d*)$/;
const IDENTIFIER = /^(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)$/;
const NUMERIC = /^\d+$/;

/** The version key of `tag` (semver precedence), or null when it names no version. */
function versionKey(tag: string): string | null {
  const match = VERSION_FORM.exec(tag);
  if (!match) return null;
  const [, major = '', minor = '0', patch = '0', prerelease] = match;
  let key = '';
  for (const part of [major, minor, patch]) {
    if (!MAIN_PART.test(part) || Number(part) > Number.MAX_SAFE_INTEGER) return null;
    key += numberKey(part);
  }
  if (prerelease === undefined) return key + RELEASE;
  key += PRERELEASE;
  for (const identifier of prerelease.split('.')) {
    if (!IDENTIFIER.test(identifier)) return null;
    if (!NUMERIC.test(identifier)) {
      key += ALPHANUMERIC_IDENTIFIER + identifier + END;
    } else if (Number(identifier) <= Number.MAX_SAFE_INTEGER) {
      key += NUMERIC_IDENTIFIER + numberKey(identifier);
    } else {
      return null;
    }
  }
  return key + END;
}

/** Versions first, by semantic version precedence, then natural order; then other tags naturally. */
export function semverKey(tag: string): string {
  const version = versionKey(tag);
  return version === null ? NOT_A_VERSION + naturalKey(tag) : VERSION + version + naturalKey(tag);
}

/** What a listing in `sort` orders by (then by name) at the position `after`: its push time or key. */
export function tagSortValue(sort: TagSort, after: TagKey): number | string {
  return sort === 'pushed'
    ? after.pushedAt
    : sort === 'name'
      ? naturalKey(after.name)
      : semverKey(after.name);
}
