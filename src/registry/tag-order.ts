// The orders tags are listed in besides push time, worked out in memory (a repository holds at most
// some thousands of tags; the catalog sorts the names of one repository, then reads the page's rows).
// Both are total orders: names that compare equal otherwise are ordered by their bytes.
// - name: numeric-aware, runs of digits compare by value (v2 < v10 < v10a), the rest by bytes;
// - semver: versions first, by semantic version precedence (semver.org 2.0.0 section 11), then every
//   other tag by name. A version is `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`, missing parts being 0
//   (`3.19` is 3.19.0, as image tags often are).
import semver from 'semver';
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

/** The semantic version a tag names, or null. */
export function versionOf(tag: string): semver.SemVer | null {
  const match = VERSION.exec(tag);
  if (!match) return null;
  const [, major, minor = '0', patch = '0', prerelease] = match;
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
    const version = memo(versionOf);
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

/** The index of the first of `sorted` (sorted by `compare`) that comes after `name`, present or not. */
export function positionAfter(sorted: readonly string[], name: string, compare: Compare): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(sorted[mid] as string, name) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
