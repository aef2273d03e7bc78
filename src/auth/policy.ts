// Who may do what: the intersection of what is asked and what the principal may do. Asking for more
// is not an error (Docker token spec: the token simply grants less). Rules:
// - a global admin may do everything;
// - an account has its role's actions in a namespace it belongs to (incl. its personal namespace);
// - anyone, anonymous included, may pull from a public namespace;
// - `registry:catalog:*` (and `registry:catalog:search`, which `docker search` asks for) is granted to
//   everyone: the catalog and search results are filtered to what the caller may read.
// - `registry:management:*` is granted to accounts (users and robots) only, never to anonymous or
//   external principals: it lets a token reach the management API, where each route still checks
//   what the account may do.
import {
  ROLE_ACTIONS,
  namespaceOf,
  type Membership,
  type Namespace,
  type Principal,
  type Role,
} from './model.js';
import { catalogAccess, managementAccess, mergeAccess, type Access, type RepositoryAction } from './scope.js';

/** What the policy reads of the account directory. */
export interface PolicyDirectory {
  roleIn(namespace: string, account: string): Promise<Role | undefined>;
  getNamespace(name: string): Promise<Namespace | undefined>;
  /** Every role the account (exact name) holds, its personal namespace's included. */
  rolesOf(account: string): Promise<readonly Membership[]>;
  publicNamespaces(): Promise<readonly string[]>;
}

const ALL_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete'];
const NO_ACTIONS: readonly RepositoryAction[] = [];

const isRepository = (access: Access) => access.type === 'repository';

export function createAccessPolicy(directory: PolicyDirectory) {
  async function repositoryActions(
    principal: Principal,
    repository: string,
  ): Promise<readonly RepositoryAction[]> {
    if (principal.kind === 'external') return NO_ACTIONS;
    if (principal.kind === 'account' && principal.admin) return ALL_ACTIONS;
    const namespace = namespaceOf(repository);
    const role = principal.kind === 'account' ? await directory.roleIn(namespace, principal.name) : undefined;
    if (role) return ROLE_ACTIONS[role];
    return (await directory.getNamespace(namespace))?.public ? ['pull'] : NO_ACTIONS;
  }

  /** The repository actions the principal has in each namespace named by `requests`, looked up once each. */
  async function actionsByNamespace(
    principal: Principal,
    requests: readonly Access[],
  ): Promise<Map<string, readonly RepositoryAction[]>> {
    const namespaces = [...new Set(requests.filter(isRepository).map((r) => namespaceOf(r.name)))];
    const actions = await Promise.all(namespaces.map((namespace) => repositoryActions(principal, namespace)));
    return new Map(namespaces.map((namespace, i) => [namespace, actions[i] ?? NO_ACTIONS]));
  }

  function allowedOf(
    principal: Principal,
    request: Access,
    byNamespace: ReadonlyMap<string, readonly RepositoryAction[]>,
  ): string[] {
    if (isRepository(request)) {
      const allowed = byNamespace.get(namespaceOf(request.name)) ?? NO_ACTIONS;
      return request.actions.filter((a) => (allowed as readonly string[]).includes(a));
    }
    if (request.type === catalogAccess.type && request.name === catalogAccess.name) {
      return principal.kind === 'external' ? [] : request.actions.filter((a) => a === '*' || a === 'search');
    }
    if (request.type === managementAccess.type && request.name === managementAccess.name) {
      return principal.kind === 'account' ? request.actions.filter((a) => a === '*') : [];
    }
    return [];
  }

  return {
    repositoryActions,

    /** The part of `requested` the principal may have; resources with nothing granted keep empty actions. */
    async grant(principal: Principal, requested: readonly Access[]): Promise<Access[]> {
      const merged = mergeAccess(requested);
      const byNamespace = await actionsByNamespace(principal, merged);
      return merged.map((request) => ({ ...request, actions: allowedOf(principal, request, byNamespace) }));
    },

    /** Whether the principal may have all of `required`. */
    async allows(principal: Principal, required: readonly Access[]): Promise<boolean> {
      const byNamespace = await actionsByNamespace(principal, required);
      return required.every(
        (request) => allowedOf(principal, request, byNamespace).length === request.actions.length,
      );
    },

    /**
     * A filter for listings (the catalog): repositories the principal may pull. What it needs (the
     * principal's roles and the public namespaces) is read once, here, so the filter itself is
     * synchronous and may be asked about any number of repositories.
     */
    async readable(principal: Principal): Promise<(repository: string) => boolean> {
      if (principal.kind === 'external') return () => false;
      if (principal.kind === 'account' && principal.admin) return () => true;
      const [roles, publicNamespaces] = await Promise.all([
        principal.kind === 'account' ? directory.rolesOf(principal.name) : [],
        directory.publicNamespaces(),
      ]);
      const pullable = roles.filter((m) => ROLE_ACTIONS[m.role].includes('pull')).map((m) => m.namespace);
      const visible = new Set([...publicNamespaces, ...pullable]);
      return (repository) => visible.has(namespaceOf(repository));
    },
  };
}

export type AccessPolicy = ReturnType<typeof createAccessPolicy>;
