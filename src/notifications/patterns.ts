// Which registry events an endpoint gets: one of its `actions`, on a repository one of its
// `repositories` patterns matches (notifications.endpoints[] in config/default.yaml).
//
// Repository patterns are matched against the whole repository name, case-sensitively:
//   *             every repository
//   team-a/*      every repository under team-a/, nested ones too (team-a/app, team-a/tools/ci),
//                 but not team-a itself
//   */app         every repository whose last components are /app (team-a/app, x/y/app), not app
//   team-a/app    exactly that repository
// `*` stands for any run of characters, `/` included, possibly empty; every other character stands
// for itself (`?`, `[` and `.` are not special).
import type { NotificationEndpointConfig } from '../config/schema.js';
import type { RegistryEvent } from '../events/registry-event.js';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A predicate true for the repository names any of `patterns` matches. */
export function compileRepositoryPatterns(patterns: readonly string[]): (repository: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const source = patterns.map((pattern) => pattern.split('*').map(escapeRegExp).join('.*')).join('|');
  const regexp = new RegExp(`^(?:${source})$`, 'u');
  return (repository) => regexp.test(repository);
}

/** A predicate true for the events `endpoint` gets. */
export function compileEventFilter(
  endpoint: Pick<NotificationEndpointConfig, 'actions' | 'repositories'>,
): (event: RegistryEvent) => boolean {
  const actions = new Set<string>(endpoint.actions);
  const matches = compileRepositoryPatterns(endpoint.repositories);
  return (event) => actions.has(event.action) && matches(event.target.repository);
}
