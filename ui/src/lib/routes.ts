// The UI's own URLs (src/http/ui.ts answers them with index.html). Repository names hold '/', so a
// repository's sub-pages follow `/-/`, which no name component can be (OCI names: [a-z0-9] at both
// ends of a component):
//   /                                        repositories
//   /repositories/team/app                   a repository and its tags
//   /repositories/team/app/-/tags/1.0        a tag
//   /repositories/team/app/-/manifests/sha256:…   a manifest by digest (index children, referrers)
//   /admin[/section[/name]]                  administration
//   /sign-in?next=/…                         sign-in, then back to `next`

const enc = (part: string) => encodeURIComponent(part).replace(/%3A/gi, ':');
const encName = (name: string) => name.split('/').map(enc).join('/');

export const routes = {
  repositories: (query = '') => `/${query}`,
  repository: (name: string) => `/repositories/${encName(name)}`,
  tag: (name: string, tag: string) => `/repositories/${encName(name)}/-/tags/${enc(tag)}`,
  manifest: (name: string, digest: string) => `/repositories/${encName(name)}/-/manifests/${enc(digest)}`,
  admin: (section?: string, item?: string) =>
    `/admin${section ? `/${enc(section)}` : ''}${item ? `/${encName(item)}` : ''}`,
  signIn: (next?: string) => `/sign-in${next && next !== '/' ? `?next=${enc(next)}` : ''}`,
};

export type RepositoryRoute =
  | { kind: 'repository'; name: string }
  | { kind: 'tag'; name: string; tag: string }
  | { kind: 'manifest'; name: string; digest: string };

/** The page a `/repositories/<rest>` URL names (`rest` already decoded), or undefined. */
export function parseRepositoryRoute(rest: string): RepositoryRoute | undefined {
  const path = rest.replace(/^\/+|\/+$/g, '');
  const at = path.indexOf('/-/');
  if (at < 0) return path ? { kind: 'repository', name: path } : undefined;
  const name = path.slice(0, at);
  const [kind, ...value] = path.slice(at + 3).split('/');
  const reference = value.join('/');
  if (!name || !reference) return undefined;
  if (kind === 'tags') return { kind: 'tag', name, tag: reference };
  if (kind === 'manifests') return { kind: 'manifest', name, digest: reference };
  return undefined;
}

/** Where `next` may send the browser after sign-in: a path of this UI only, never another site. */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}
