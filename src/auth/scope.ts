// The Docker token spec's scope vocabulary (docs/spec/auth/scope.md):
//   scope         := resourcescope [ ' ' resourcescope ]*
//   resourcescope := resourcetype ":" resourcename ":" action [ ',' action ]*
// A resource name may itself hold ':' (a registry host with a port), so the type ends at the first
// ':' and the actions start after the last one. `repository(plugin)`-style classes are kept as typed.
// Requests are parsed leniently, like CNCF Distribution's token server (ResolveScopeSpecifiers logs and
// skips what it cannot parse): a malformed scope, or a `repository` scope whose name the registry
// would refuse (parseRepoName: `team-a/../team-b/secret`, upper case, a host and port), is dropped, so
// the token grants nothing on it, and the rest of the request is answered. The registry answers such a
// name with 400 NAME_INVALID anyway.
import { NameInvalidError } from '../registry/errors.js';
import { parseRepoName } from '../registry/references.js';

export type RepositoryAction = 'pull' | 'push' | 'delete';

/** One entry of a token's `access` claim, and one requirement of a route. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export const repositoryAccess = (name: string, ...actions: RepositoryAction[]): Access => ({
  type: 'repository',
  name,
  actions,
});

export const catalogAccess: Access = { type: 'registry', name: 'catalog', actions: ['*'] };

/** What `docker search` asks a token for (moby registry/search.go) before GET /v1/search. */
export const catalogSearchAccess: Access = { type: 'registry', name: 'catalog', actions: ['search'] };

/** Required of a Bearer token by the management API (/api/v1), on top of the account's own rights. */
export const managementAccess: Access = { type: 'registry', name: 'management', actions: ['*'] };

export interface ParsedScopes {
  access: Access[];
  /** Scopes dropped as malformed or naming a repository the registry would refuse, as sent. */
  ignored: string[];
}

function isRepositoryName(name: string): boolean {
  try {
    parseRepoName(name);
    return true;
  } catch (err) {
    if (err instanceof NameInvalidError) return false;
    throw err;
  }
}

/** Parses one or more scope strings (each may hold several space-separated scopes), keeping what it dropped. */
export function parseScopeList(values: readonly string[]): ParsedScopes {
  const parsed: Access[] = [];
  const ignored: string[] = [];
  for (const value of values) {
    for (const item of value.split(' ')) {
      if (item === '') continue;
      const first = item.indexOf(':');
      const last = item.lastIndexOf(':');
      const type = item.slice(0, first);
      const name = item.slice(first + 1, last);
      const actions = [
        ...new Set(
          item
            .slice(last + 1)
            .split(',')
            .filter(Boolean),
        ),
      ];
      const wellFormed = first > 0 && last > first + 1 && actions.length > 0;
      if (!wellFormed || (type === 'repository' && !isRepositoryName(name))) ignored.push(item);
      else parsed.push({ type, name, actions });
    }
  }
  return { access: mergeAccess(parsed), ignored };
}

/** Parses one or more scope strings; drops malformed ones and invalid repository names (see above). */
export function parseScopes(values: readonly string[]): Access[] {
  return parseScopeList(values).access;
}

export function formatScope(access: readonly Access[]): string {
  return access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
}

/** Folds entries for the same resource together, keeping action order of first appearance. */
export function mergeAccess(access: readonly Access[]): Access[] {
  const byResource = new Map<string, Access>();
  for (const entry of access) {
    const key = `${entry.type}\u0000${entry.name}`;
    const found = byResource.get(key);
    if (!found) byResource.set(key, { type: entry.type, name: entry.name, actions: [...entry.actions] });
    else for (const action of entry.actions) if (!found.actions.includes(action)) found.actions.push(action);
  }
  return [...byResource.values()];
}

/** Whether `granted` (a token's access claim) covers every action of every entry of `required`. */
export function covers(granted: readonly Access[], required: readonly Access[]): boolean {
  return required.every((need) => {
    const have = granted
      .filter((g) => g.type === need.type && g.name === need.name)
      .flatMap((g) => g.actions);
    return need.actions.every((action) => have.includes(action) || have.includes('*'));
  });
}

/** What of `required` is not covered by `granted`, per resource. */
export function missing(granted: readonly Access[], required: readonly Access[]): Access[] {
  const out: Access[] = [];
  for (const need of required) {
    const have = granted
      .filter((g) => g.type === need.type && g.name === need.name)
      .flatMap((g) => g.actions);
    const lacking = need.actions.filter((action) => !have.includes(action) && !have.includes('*'));
    if (lacking.length > 0) out.push({ type: need.type, name: need.name, actions: lacking });
  }
  return out;
}
