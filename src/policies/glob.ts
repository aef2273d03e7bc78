// The patterns of namespace rules (immutable tags, retention's kept tags): the same syntax as the
// repository patterns of webhooks (src/notifications/patterns.ts). A pattern matches the whole
// name, case-sensitively; `*` stands for any run of characters (`/` included, possibly empty); every
// other character stands for itself (`?`, `[` and `.` are not special). Examples:
//   v*         v1, v1.2.3, vnext (not 1.0)
//   1.*        1.0, 1.2.3 (not 10.0)
//   latest     exactly latest
//   team/*     every repository under team/, nested ones too, not team itself

/** A tag pattern: the characters of a tag (OCI dist-spec `<reference>`), and `*`. */
export const TAG_PATTERN = /^[a-zA-Z0-9_.*-]{1,128}$/;
/** A repository pattern: the characters of a repository name, and `*`. */
export const REPOSITORY_PATTERN = /^[a-z0-9._/*-]{1,255}$/;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A predicate true for the names `pattern` matches. */
export function compileGlob(pattern: string): (name: string) => boolean {
  if (pattern === '*') return () => true;
  if (!pattern.includes('*')) return (name) => name === pattern;
  const regexp = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 'su');
  return (name) => regexp.test(name);
}

/** A predicate true for the names any of `patterns` matches (none: false). */
export function compileGlobs(patterns: readonly string[]): (name: string) => boolean {
  const matchers = patterns.map(compileGlob);
  return (name) => matchers.some((matches) => matches(name));
}
