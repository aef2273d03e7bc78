// The orders tags are listed in besides push time, as comparators: the specification that the stored
// sort keys of tag-sort-keys.ts, by which the metadata index serves those listings, are proven against
// (test/unit/tag-sort-keys.test.ts). Both are total orders: names that compare equal otherwise are
// ordered by their bytes.
// - name: numeric-aware, runs of digits compare by value (v2 < v10 < v10a), the rest by bytes;
// - semver: versions first, by semantic version precedence (semver.org 2.0.0 section 11), then every
//   other tag by name. A version is `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`, missing parts being 0
//   (`3.19` is 3.19.0, as image tags often are).
import { createRequire } from 'node:module';
import type * as Semver from 'semver';
import type { SortOrder } from './catalog-store.js';

type Compare = (a: string, b: string) => number;

const byBytes: Compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const isDigit = (c: string) => c >= '0' && c <= '9';

/** Digit and non-digit runs of a name. */
const runsOf = (name: string) => name.match(/\d+|\D+/g) ?? [];

function compareRuns(x: readonly string[], y: readonly string[]): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p === q) continue;
    if (isDigit(p[0] as string) && isDigit(q[0] as string)) {
      const pv = p.replace(/^0+/, '');
      const qv = q.replace(/^0+/, '');
      if (pv.length !== qv.length) return pv.length - qv.length;
      if (pv !== qv) return byBytes(pv, qv);
      continue; // the same number written with other leading zeros: the bytes decide at the end
    }
    return byBytes(p, q);
  }
  return x.length - y.length;
}

/** Numeric-aware comparison of two names (see above). */
export function compareNatural(a: string, b: string): number {
  return compareRuns(runsOf(a), runsOf(b)) || byBytes(a, b);
}

const VERSION = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$/;

/**
 * The semver package, loaded only when tags are listed in semver order (`sort=semver`): a registry never
 * asked for that order does not carry it. CommonJS, so `require` keeps this synchronous, and require's
 * cache makes every later call cheap.
 */
function loadSemver(): typeof Semver {
  return createRequire(import.meta.url)('semver') as typeof Semver;
}

/**
 * The semantic version a tag names, or null. As for MAJOR, MINOR and PATCH (which semver refuses
 * beyond), a numeric prerelease identifier beyond Number.MAX_SAFE_INTEGER makes no version: semver
 * would compare it as a rounded number, an order no stored key (tag-sort-keys.ts) can give.
 */
export function versionOf(tag: string, semver = loadSemver()): Semver.SemVer | null {
  const match = VERSION.exec(tag);
  if (!match) return null;
  const [, major, minor = '0', patch = '0', prerelease] = match;
  const unsafe = (id: string) => /^\d+$/.test(id) && Number(id) > Number.MAX_SAFE_INTEGER;
  if (prerelease?.split('.').some(unsafe)) return null;
  return semver.parse(`${major}.${minor}.${patch}${prerelease ? `-${prerelease}` : ''}`);
}

/** Analyses each name once, however often the sort compares it. */
function memo<V>(analyse: (name: string) => V): (name: string) => V {
  const seen = new Map<string, V>();
  return (name) => {
    let value = seen.get(name);
    if (value === undefined && !seen.has(name)) {
      value = analyse(name);
      seen.set(name, value);
    }
    return value as V;
  };
}

/** The comparison of tag names for `sort` in `order` (desc is asc reversed). */
export function tagOrder(sort: 'name' | 'semver', order: SortOrder): Compare {
  const runs = memo(runsOf);
  const natural: Compare = (a, b) => compareRuns(runs(a), runs(b)) || byBytes(a, b);
  let compare = natural;
  if (sort === 'semver') {
    const semver = loadSemver();
    const version = memo((name) => versionOf(name, semver));
    compare = (a, b) => {
      const va = version(a);
      const vb = version(b);
      if (va && vb) return semver.compare(va, vb) || natural(a, b);
      if (va || vb) return va ? -1 : 1;
      return natural(a, b);
    };
  }
  return order === 'asc' ? compare : (a, b) => compare(b, a);
}
