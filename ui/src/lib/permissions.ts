// What the signed-in browser may do, to show only the buttons that will work. Berth decides every
// request itself (a hidden button is a convenience, not a protection): the same rules as
// src/auth/policy.ts, read from /api/v1/me in token mode.
import type { SessionState } from './session.js';
import type { RepositoryAction, Role } from './types.js';

const ROLE_ACTIONS: Record<Role, readonly RepositoryAction[]> = {
  read: ['pull'],
  write: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};

/** `team` of `team/app`: namespaces are the first component of repository names. */
export const namespaceOf = (repository: string): string => repository.split('/')[0] ?? repository;

/** Whether the caller may do everything (auth none, an htpasswd user, a global administrator). */
export function isAdministrator(state: SessionState): boolean {
  if (state.kind === 'open') return true;
  if (state.kind !== 'signed-in') return false;
  return state.info.authMode === 'htpasswd' || state.user.admin;
}

function roleIn(state: SessionState, namespace: string): Role | undefined {
  return state.kind === 'signed-in'
    ? state.user.memberships.find((m) => m.namespace === namespace)?.role
    : undefined;
}

export function isNamespaceAdmin(state: SessionState, namespace: string): boolean {
  return isAdministrator(state) || roleIn(state, namespace) === 'admin';
}

/** Namespaces where the caller holds the admin role (token mode). */
export function administeredNamespaces(state: SessionState): string[] {
  return state.kind === 'signed-in'
    ? state.user.memberships.filter((m) => m.role === 'admin').map((m) => m.namespace)
    : [];
}

/** Whether the caller may pull, push or delete in `repository` (pull assumes it could read it). */
export function can(state: SessionState, action: RepositoryAction, repository: string): boolean {
  if (!('info' in state)) return false;
  if (action !== 'pull' && state.info.readOnly) return false;
  if (action === 'delete' && !state.info.deleteEnabled) return false;
  if (action === 'pull' || isAdministrator(state)) return true;
  const role = roleIn(state, namespaceOf(repository));
  return role !== undefined && ROLE_ACTIONS[role].includes(action);
}
