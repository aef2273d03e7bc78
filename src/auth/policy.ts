// Who may do what: the intersection of what is asked and what the principal may do. Asking for more
// is not an error (Docker token spec: the token simply grants less). Rules:
// - a global admin may do everything;
// - an account has its role's actions in a namespace it belongs to (incl. its personal namespace);
// - anyone, anonymous included, may pull from a public namespace;
// - `registry:catalog:*` is granted to everyone: the catalog is filtered to what the caller may read.
// - `registry:management:*` is granted to accounts (users and robots) only, never to anonymous or
//   external principals: it lets a token reach the management API, where each route still checks
//   what the account may do.
import { ROLE_ACTIONS, namespaceOf, type Namespace, type Principal, type Role } from './model.js';
import { catalogAccess, managementAccess, mergeAccess, type Access, type RepositoryAction } from './scope.js';

/** What the policy reads of the account directory. */
export interface PolicyDirectory {
  roleIn(namespace: string, account: string): Role | undefined;
  getNamespace(name: string): Namespace | undefined;
}

const ALL_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete'];

export function createAccessPolicy(directory: PolicyDirectory) {
  function repositoryActions(principal: Principal, repository: string): readonly RepositoryAction[] {
    if (principal.kind === 'external') return [];
    if (principal.kind === 'account' && principal.admin) return ALL_ACTIONS;
    const namespace = namespaceOf(repository);
    const role = principal.kind === 'account' ? directory.roleIn(namespace, principal.name) : undefined;
    if (role) return ROLE_ACTIONS[role];
    return directory.getNamespace(namespace)?.public ? ['pull'] : [];
  }

  function allowedOf(principal: Principal, request: Access): string[] {
    if (request.type === 'repository') {
      const allowed = repositoryActions(principal, request.name);
      return request.actions.filter((a) => (allowed as readonly string[]).includes(a));
    }
    if (request.type === catalogAccess.type && request.name === catalogAccess.name) {
      return principal.kind === 'external' ? [] : request.actions.filter((a) => a === '*');
    }
    if (request.type === managementAccess.type && request.name === managementAccess.name) {
      return principal.kind === 'account' ? request.actions.filter((a) => a === '*') : [];
    }
    return [];
  }

  return {
    repositoryActions,

    /** The part of `requested` the principal may have; resources with nothing granted keep empty actions. */
    grant(principal: Principal, requested: readonly Access[]): Access[] {
      return mergeAccess(requested).map((request) => ({
        ...request,
        actions: allowedOf(principal, request),
      }));
    },

    /** Whether the principal may have all of `required`. */
    allows(principal: Principal, required: readonly Access[]): boolean {
      return required.every((request) => allowedOf(principal, request).length === request.actions.length);
    },

    /** A filter for listings (the catalog): repositories the principal may pull. */
    readable(principal: Principal): (repository: string) => boolean {
      if (principal.kind === 'account' && principal.admin) return () => true;
      const byNamespace = new Map<string, boolean>();
      return (repository) => {
        const namespace = namespaceOf(repository);
        let visible = byNamespace.get(namespace);
        if (visible === undefined) {
          visible = repositoryActions(principal, repository).includes('pull');
          byNamespace.set(namespace, visible);
        }
        return visible;
      };
    },
  };
}

export type AccessPolicy = ReturnType<typeof createAccessPolicy>;
