// The accounts and access model: users and robot accounts, namespaces with members and roles.
// A namespace is the first path component of a repository name (`team-a` for `team-a/app`; `app` for
// `app`). Roles grant repository actions (Docker token spec, docs/spec/auth/scope.md):
//   read -> pull, write -> pull + push, admin -> pull + push + delete (and managing the namespace).
import type { RepositoryAction } from './scope.js';

export type Role = 'read' | 'write' | 'admin';
export const ROLES: readonly Role[] = ['read', 'write', 'admin'];

export const ROLE_ACTIONS: Record<Role, readonly RepositoryAction[]> = {
  read: ['pull'],
  write: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};

export type AccountKind = 'user' | 'robot';

/** Robot account names carry this prefix (`robot+ci`), so they never collide with users. */
export const ROBOT_PREFIX = 'robot+';

export interface Account {
  name: string;
  kind: AccountKind;
  /** Global administrator: every action on every repository, and account management. */
  admin: boolean;
  /** Bumped whenever the secret changes; refresh tokens minted under an older version are void. */
  credentialVersion: number;
  description: string | null;
  createdAt: number;
}

export interface StoredAccount extends Account {
  /** PHC-style hash: `$scrypt$...` (passwords), `$sha256$...` (robot secrets) or bcrypt `$2y$...`. */
  secretHash: string;
}

export interface Namespace {
  name: string;
  /** Anyone, including anonymous clients, may pull. */
  public: boolean;
  createdAt: number;
}

export interface Membership {
  namespace: string;
  account: string;
  role: Role;
}

/** Persistence for accounts and namespaces (implemented in src/metadata). Synchronous, like SQLite. */
export interface AccountStore {
  /** Runs `work` as one transaction: all of its writes happen, or none (work must not await). */
  transaction<T>(work: () => T): T;
  getAccount(name: string): StoredAccount | undefined;
  listAccounts(kind?: AccountKind): Account[];
  countAccounts(): number;
  /** Returns false when the name is taken. */
  insertAccount(account: StoredAccount): boolean;
  /** Replaces the secret and bumps credentialVersion; false when no such account. */
  updateSecret(name: string, secretHash: string): boolean;
  setAdmin(name: string, admin: boolean): boolean;
  /** Deletes the account and its memberships; false when no such account. */
  deleteAccount(name: string): boolean;

  getNamespace(name: string): Namespace | undefined;
  listNamespaces(): Namespace[];
  /** Returns false when the name is taken. */
  insertNamespace(namespace: Namespace): boolean;
  setNamespacePublic(name: string, isPublic: boolean): boolean;
  /** Deletes the namespace and its memberships (not its repositories); false when no such namespace. */
  deleteNamespace(name: string): boolean;

  /** Adds or replaces the account's role in the namespace. */
  setMember(membership: Membership): void;
  removeMember(namespace: string, account: string): boolean;
  getRole(namespace: string, account: string): Role | undefined;
  listMembers(namespace: string): Membership[];
  membershipsOf(account: string): Membership[];
}

/** Who is making a request, once their credentials or token have been checked. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'account'; name: string; accountKind: AccountKind; admin: boolean }
  /** A token from a trusted external issuer: its access claim is all Berth knows of it. */
  | { kind: 'external'; subject: string; issuer: string };

export const ANONYMOUS: Principal = { kind: 'anonymous' };

export function namespaceOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}

export function principalOf(account: Account): Principal {
  return { kind: 'account', name: account.name, accountKind: account.kind, admin: account.admin };
}

/** How a principal is named in logs and in a token's `sub` ('' for anonymous). */
export function subjectOf(principal: Principal): string {
  if (principal.kind === 'anonymous') return '';
  return principal.kind === 'account' ? principal.name : principal.subject;
}
