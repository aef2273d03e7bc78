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

/**
 * Persistence for accounts and namespaces (implemented in src/metadata). Asynchronous, so that a
 * networked database (PostgreSQL) implements it as well as an embedded one (SQLite). Each call on its
 * own is atomic; several calls that must hold together are one unit of work (`transaction`).
 */
export interface AccountStore {
  /**
   * Runs `work` as one unit of work: one transaction whose writes all happen, or none. It commits when
   * `work` resolves and rolls back when it throws or rejects, after any number of awaits.
   * - `work` makes its calls through the store it is given, which runs them inside the transaction.
   *   That store is only good until `work` settles; calling it later rejects.
   * - Calls on this store (the outer one) from elsewhere while the unit of work is open never see its
   *   uncommitted writes: an embedded database makes them wait until it ends (SQLite: the whole
   *   process shares one connection), a networked one answers them from another connection. So `work`
   *   must never call the outer store (on SQLite that call would wait for `work`, which waits for it).
   * - `transaction` on the given store just runs its `work` within the same unit of work.
   * - The unit of work holds the database's write lock while open (on SQLite, the connection): keep
   *   slow work such as password hashing or network calls out of it.
   */
  transaction<T>(work: (store: AccountStore) => Promise<T>): Promise<T>;
  getAccount(name: string): Promise<StoredAccount | undefined>;
  listAccounts(kind?: AccountKind): Promise<Account[]>;
  countAccounts(): Promise<number>;
  /** Returns false when the name is taken. */
  insertAccount(account: StoredAccount): Promise<boolean>;
  /** Replaces the secret and bumps credentialVersion; false when no such account. */
  updateSecret(name: string, secretHash: string): Promise<boolean>;
  setAdmin(name: string, admin: boolean): Promise<boolean>;
  /** Deletes the account and its memberships; false when no such account. */
  deleteAccount(name: string): Promise<boolean>;

  getNamespace(name: string): Promise<Namespace | undefined>;
  listNamespaces(): Promise<Namespace[]>;
  /** Returns false when the name is taken. */
  insertNamespace(namespace: Namespace): Promise<boolean>;
  setNamespacePublic(name: string, isPublic: boolean): Promise<boolean>;
  /** Deletes the namespace and its memberships (not its repositories); false when no such namespace. */
  deleteNamespace(name: string): Promise<boolean>;

  /** Adds or replaces the account's role in the namespace; rejects when either does not exist. */
  setMember(membership: Membership): Promise<void>;
  removeMember(namespace: string, account: string): Promise<boolean>;
  getRole(namespace: string, account: string): Promise<Role | undefined>;
  listMembers(namespace: string): Promise<Membership[]>;
  membershipsOf(account: string): Promise<Membership[]>;
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
