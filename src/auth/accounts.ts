// Account and namespace management, and checking credentials: the rules on top of AccountStore.
// Names:
//   users       [a-z0-9]+([._-][a-z0-9]+)*, at most 64 characters
//   robots      ROBOT_PREFIX + a name of the same form (given with or without the prefix)
//   namespaces  one repository path component (OCI dist-spec `<name>` grammar), at most 128 characters
// Personal namespaces (when enabled): every user implicitly owns, as admin, the namespace named after
// them. It exists as long as the user does; it is stored only once it gets members or is made public,
// and user names and namespace names then share one space (neither may take the other's name).
// Errors are AccountError subclasses (src/auth/errors.ts). Nothing here caches: every call reads the
// store, so changes made by the CLI in another process take effect at once. An operation whose checks
// and writes must hold together is one unit of work (AccountStore.transaction), and password hashing
// stays outside it.
// An account's createdAt tells it from an earlier account of the same name (tokens carry it, see
// tokens.ts), so creation stamps never repeat within a service: when the clock has not moved past the
// last stamp made or deleted here (a robot deleted and re-created within a millisecond), the next
// millisecond is used. In another process (the CLI) the clock has long moved on.
import { NAME_COMPONENT } from '../registry/references.js';
import {
  AccountNotFoundError,
  InvalidInputError,
  LastAdminError,
  MembershipNotFoundError,
  NameTakenError,
  NamespaceNotFoundError,
} from './errors.js';
import { parseHtpasswd, type HtpasswdRejection } from './htpasswd.js';
import {
  ROBOT_PREFIX,
  ROLES,
  type Account,
  type AccountKind,
  type AccountStore,
  type Membership,
  type Namespace,
  type Role,
  type StoredAccount,
} from './model.js';
import {
  hashPassword,
  hashRobotSecret,
  newPassword,
  newRobotSecret,
  verifyAgainstNothing,
  verifySecret,
} from './passwords.js';

export interface AccountServiceDeps {
  store: AccountStore;
  clock: () => number;
  /** auth.personalNamespaces: each user is admin of the namespace named after them. */
  personalNamespaces: boolean;
}

export interface Grant {
  namespace: string;
  role: Role;
}

export interface HtpasswdImport {
  added: string[];
  updated: string[];
  /** Already present and left alone (not overwriting, or the hash is unchanged). */
  skipped: string[];
  rejected: HtpasswdRejection[];
}

const ACCOUNT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const ACCOUNT_NAME_MAX = 64;
const NAMESPACE_NAME = new RegExp(`^${NAME_COMPONENT}$`);
const NAMESPACE_NAME_MAX = 128;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 1024;

/** `ci` and `robot+ci` both name the robot `robot+ci`. */
export function robotAccountName(name: string): string {
  return name.startsWith(ROBOT_PREFIX) ? name : ROBOT_PREFIX + name;
}

function accountNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty';
  if (name.length > ACCOUNT_NAME_MAX) return `longer than ${ACCOUNT_NAME_MAX} characters`;
  if (!ACCOUNT_NAME.test(name)) return 'use lowercase letters and digits, separated by single . _ or -';
  return undefined;
}

function checkUserName(name: string): void {
  const problem = accountNameProblem(name);
  if (problem) throw new InvalidInputError('user name', problem);
}

/** Checks a full robot name (with prefix). */
function checkRobotName(fullName: string): void {
  const problem = accountNameProblem(fullName.slice(ROBOT_PREFIX.length));
  if (problem) throw new InvalidInputError('robot name', problem);
}

function checkNamespaceName(name: string): void {
  if (name.length === 0) throw new InvalidInputError('namespace name', 'empty');
  if (name.length > NAMESPACE_NAME_MAX) {
    throw new InvalidInputError('namespace name', `longer than ${NAMESPACE_NAME_MAX} characters`);
  }
  if (!NAMESPACE_NAME.test(name)) {
    throw new InvalidInputError(
      'namespace name',
      'use lowercase letters and digits, separated by . _ __ or -',
    );
  }
}

function checkPassword(password: string): void {
  if (password.length < PASSWORD_MIN) {
    throw new InvalidInputError('password', `shorter than ${PASSWORD_MIN} characters`);
  }
  if (password.length > PASSWORD_MAX) {
    throw new InvalidInputError('password', `longer than ${PASSWORD_MAX} characters`);
  }
}

export function parseRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new InvalidInputError('role', `${role} is not one of ${ROLES.join(', ')}`);
  }
  return role as Role;
}

function publicView({ secretHash: _secretHash, ...account }: StoredAccount): Account {
  return account;
}

export function createAccountService({ store, clock, personalNamespaces }: AccountServiceDeps) {
  let lastStamp = Number.NEGATIVE_INFINITY;
  /** A creation time later than every account created or deleted through this service. */
  function creationStamp(): number {
    lastStamp = Math.max(clock(), lastStamp + 1);
    return lastStamp;
  }

  // The helpers read and write through `s`: the service's store, or the one a unit of work is given.

  async function requireAccount(s: AccountStore, name: string): Promise<StoredAccount> {
    const account = await s.getAccount(name);
    if (!account) throw new AccountNotFoundError(name);
    return account;
  }

  /** `name` exactly, or the robot `robot+name`; refused when both a user and a robot could be meant. */
  async function resolveAccount(s: AccountStore, name: string): Promise<StoredAccount> {
    const [exact, robot] = await Promise.all([
      s.getAccount(name),
      name.startsWith(ROBOT_PREFIX) ? undefined : s.getAccount(robotAccountName(name)),
    ]);
    if (exact && robot) {
      throw new InvalidInputError('account', `both ${name} and ${robot.name} exist: name the one you mean`);
    }
    const account = exact ?? robot;
    if (!account) throw new AccountNotFoundError(name);
    return account;
  }

  /** The user whose personal namespace this is, if personal namespaces are on and there is one. */
  async function personalOwner(s: AccountStore, namespace: string): Promise<StoredAccount | undefined> {
    if (!personalNamespaces) return undefined;
    const account = await s.getAccount(namespace);
    return account?.kind === 'user' ? account : undefined;
  }

  async function findNamespace(s: AccountStore, name: string): Promise<Namespace | undefined> {
    const stored = await s.getNamespace(name);
    if (stored) return stored;
    const owner = await personalOwner(s, name);
    return owner && { name, public: false, createdAt: owner.createdAt };
  }

  async function requireNamespace(s: AccountStore, name: string): Promise<Namespace> {
    const namespace = await findNamespace(s, name);
    if (!namespace) throw new NamespaceNotFoundError(name);
    return namespace;
  }

  /** Stores a personal namespace's row before its first member or setting; no-op for stored ones. */
  async function materialize(s: AccountStore, namespace: Namespace): Promise<void> {
    await s.insertNamespace(namespace);
  }

  function ownerMembership(namespace: string): Membership {
    return { namespace, account: namespace, role: 'admin' };
  }

  async function refuseLastAdmin(s: AccountStore, account: StoredAccount): Promise<void> {
    if (!account.admin) return;
    const admins = (await s.listAccounts()).filter((a) => a.admin).length;
    if (admins <= 1) throw new LastAdminError(account.name);
  }

  async function refuseNamespaceNamed(s: AccountStore, name: string): Promise<void> {
    if (personalNamespaces && (await s.getNamespace(name))) throw new NameTakenError(name, 'namespace');
  }

  async function addUser(
    name: string,
    password: string,
    options: { admin?: boolean; description?: string | null } = {},
  ): Promise<Account> {
    checkUserName(name);
    checkPassword(password);
    if (await store.getAccount(name)) throw new NameTakenError(name, 'account');
    await refuseNamespaceNamed(store, name);
    const account: StoredAccount = {
      name,
      kind: 'user',
      admin: options.admin ?? false,
      credentialVersion: 1,
      description: options.description ?? null,
      createdAt: creationStamp(),
      secretHash: await hashPassword(password),
    };
    // Checked again with the insert, after the hashing: another writer may have taken the name meanwhile.
    await store.transaction(async (s) => {
      await refuseNamespaceNamed(s, name);
      if (!(await s.insertAccount(account))) throw new NameTakenError(name, 'account');
    });
    return publicView(account);
  }

  return {
    addUser,

    /** Replaces a user's password; the credential version moves on, voiding refresh tokens. */
    async setPassword(name: string, password: string): Promise<void> {
      const account = await requireAccount(store, name);
      if (account.kind !== 'user') {
        throw new InvalidInputError('account', `${name} is a robot account; rotate its secret instead`);
      }
      checkPassword(password);
      const secretHash = await hashPassword(password);
      if (!(await store.updateSecret(name, secretHash))) throw new AccountNotFoundError(name);
    },

    /** Grants or withdraws global administration (users only); the last admin cannot be demoted. */
    async setAdmin(name: string, admin: boolean): Promise<void> {
      // One unit of work: the last-admin check holds against another process demoting an admin too.
      await store.transaction(async (s) => {
        const account = await requireAccount(s, name);
        if (admin && account.kind === 'robot') {
          throw new InvalidInputError(
            'account',
            'robot accounts cannot be administrators; grant namespace roles',
          );
        }
        if (!admin) await refuseLastAdmin(s, account);
        await s.setAdmin(name, admin);
      });
    },

    /** Deletes an account (exact name), its memberships and, for a user, its personal namespace's row. */
    async removeAccount(name: string): Promise<void> {
      // One unit of work: the last-admin check holds against another process removing an admin too.
      await store.transaction(async (s) => {
        const account = await requireAccount(s, name);
        await refuseLastAdmin(s, account);
        await s.deleteAccount(name);
        lastStamp = Math.max(lastStamp, account.createdAt);
        if (personalNamespaces && account.kind === 'user') await s.deleteNamespace(name);
      });
    },

    async getAccount(name: string): Promise<Account | undefined> {
      const account = await store.getAccount(name);
      return account && publicView(account);
    },

    listAccounts(kind?: AccountKind): Promise<Account[]> {
      return store.listAccounts(kind);
    },

    /** Creates a robot with a new secret, returned here and never again; grants are checked first. */
    async addRobot(
      name: string,
      options: { description?: string | null; grants?: readonly Grant[] } = {},
    ): Promise<{ account: Account; secret: string }> {
      const fullName = robotAccountName(name);
      checkRobotName(fullName);
      const grants = await Promise.all(
        (options.grants ?? []).map(async (grant) => ({
          namespace: await requireNamespace(store, grant.namespace),
          role: parseRole(grant.role),
        })),
      );
      const secret = newRobotSecret();
      const account: StoredAccount = {
        name: fullName,
        kind: 'robot',
        admin: false,
        credentialVersion: 1,
        description: options.description ?? null,
        createdAt: creationStamp(),
        secretHash: hashRobotSecret(secret),
      };
      await store.transaction(async (s) => {
        if (!(await s.insertAccount(account))) throw new NameTakenError(fullName, 'account');
        for (const { namespace, role } of grants) {
          await materialize(s, namespace);
          await s.setMember({ namespace: namespace.name, account: fullName, role });
        }
      });
      return { account: publicView(account), secret };
    },

    /** Replaces a robot's secret, returning the new one; refresh tokens issued before are void. */
    async rotateRobotSecret(name: string): Promise<string> {
      const fullName = robotAccountName(name);
      const account = await store.getAccount(fullName);
      if (account?.kind !== 'robot') throw new AccountNotFoundError(fullName);
      const secret = newRobotSecret();
      if (!(await store.updateSecret(fullName, hashRobotSecret(secret)))) {
        throw new AccountNotFoundError(fullName);
      }
      return secret;
    },

    /**
     * The account when `secret` is its password (users) or secret (robots), else undefined. The name
     * is exact (robots log in as `robot+ci`). An unknown name costs one verification all the same.
     */
    async authenticate(name: string, secret: string): Promise<Account | undefined> {
      const account = await store.getAccount(name);
      if (!account) {
        await verifyAgainstNothing(secret, name.startsWith(ROBOT_PREFIX) ? 'robot' : 'password');
        return undefined;
      }
      return (await verifySecret(account.secretHash, secret)) ? publicView(account) : undefined;
    },

    /**
     * First start: when there are no accounts at all, creates the global admin `name` with `password`,
     * or with a generated one that is returned (the only time it is shown). Otherwise does nothing,
     * even when `name` exists without being admin.
     */
    async ensureAdmin(name: string, password?: string): Promise<{ created: boolean; password?: string }> {
      if ((await store.countAccounts()) > 0) return { created: false };
      const chosen = password ?? newPassword();
      try {
        await addUser(name, chosen, { admin: true });
      } catch (err) {
        if (err instanceof NameTakenError && (await store.getAccount(name))) return { created: false };
        throw err;
      }
      return password === undefined ? { created: true, password: chosen } : { created: true };
    },

    /**
     * Adds the bcrypt entries of an htpasswd file as users, keeping their hashes. Existing users are
     * skipped unless `overwrite`; names Berth does not accept are rejected, with their line.
     */
    async importHtpasswd(text: string, options: { overwrite?: boolean } = {}): Promise<HtpasswdImport> {
      const parsed = parseHtpasswd(text);
      const result: HtpasswdImport = { added: [], updated: [], skipped: [], rejected: [...parsed.rejected] };
      // One unit of work: a file is imported whole or not at all.
      await store.transaction(async (s) => {
        for (const [name, hash] of parsed.entries) {
          const line = parsed.lines.get(name) ?? 0;
          const problem = accountNameProblem(name);
          const existing = problem ? undefined : await s.getAccount(name);
          if (problem) {
            result.rejected.push({ line, user: name, reason: `invalid user name: ${problem}` });
          } else if (existing) {
            if (options.overwrite && existing.secretHash !== hash && (await s.updateSecret(name, hash))) {
              result.updated.push(name);
            } else {
              result.skipped.push(name);
            }
          } else if (personalNamespaces && (await s.getNamespace(name))) {
            result.rejected.push({ line, user: name, reason: 'the name is taken by a namespace' });
          } else {
            const added = await s.insertAccount({
              name,
              kind: 'user',
              admin: false,
              credentialVersion: 1,
              description: null,
              createdAt: creationStamp(),
              secretHash: hash,
            });
            (added ? result.added : result.skipped).push(name);
          }
        }
      });
      result.rejected.sort((a, b) => a.line - b.line);
      return result;
    },

    async addNamespace(name: string, options: { public?: boolean } = {}): Promise<Namespace> {
      checkNamespaceName(name);
      const namespace: Namespace = { name, public: options.public ?? false, createdAt: clock() };
      await store.transaction(async (s) => {
        if (personalNamespaces && (await s.getAccount(name))) throw new NameTakenError(name, 'account');
        if (!(await s.insertNamespace(namespace))) throw new NameTakenError(name, 'namespace');
      });
      return namespace;
    },

    /** Deletes a namespace and its memberships (its repositories stay). Personal namespaces go with their user. */
    async removeNamespace(name: string): Promise<void> {
      if (await personalOwner(store, name)) {
        throw new InvalidInputError('namespace', `${name} is the personal namespace of user ${name}`);
      }
      if (!(await store.deleteNamespace(name))) throw new NamespaceNotFoundError(name);
    },

    async setNamespacePublic(name: string, isPublic: boolean): Promise<void> {
      await store.transaction(async (s) => {
        const namespace = await requireNamespace(s, name);
        await materialize(s, namespace);
        await s.setNamespacePublic(name, isPublic);
      });
    },

    /** A stored namespace, or a user's personal one (private until made public). */
    getNamespace: (name: string): Promise<Namespace | undefined> => findNamespace(store, name),

    /** Stored namespaces and, when enabled, every user's personal namespace, by name. */
    async listNamespaces(): Promise<Namespace[]> {
      const byName = new Map((await store.listNamespaces()).map((n) => [n.name, n]));
      if (personalNamespaces) {
        for (const user of await store.listAccounts('user')) {
          if (!byName.has(user.name)) {
            byName.set(user.name, { name: user.name, public: false, createdAt: user.createdAt });
          }
        }
      }
      return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    /** The names of the public namespaces (a personal namespace is stored once made public). */
    async publicNamespaces(): Promise<string[]> {
      return (await store.listNamespaces()).filter((n) => n.public).map((n) => n.name);
    },

    /** Gives `account` (robots with or without prefix) `role` in `namespace`, replacing any earlier role. */
    async setMember(namespace: string, account: string, role: string): Promise<Membership> {
      const parsedRole = parseRole(role);
      const target = await requireNamespace(store, namespace);
      const member = await resolveAccount(store, account);
      if ((await personalOwner(store, namespace))?.name === member.name) {
        throw new InvalidInputError('member', `${member.name} owns the personal namespace ${namespace}`);
      }
      const membership: Membership = { namespace, account: member.name, role: parsedRole };
      await store.transaction(async (s) => {
        await materialize(s, target);
        await s.setMember(membership);
      });
      return membership;
    },

    async removeMember(namespace: string, account: string): Promise<void> {
      await requireNamespace(store, namespace);
      const member = (await store.getAccount(account)) ?? (await store.getAccount(robotAccountName(account)));
      const name = member?.name ?? account;
      if ((await personalOwner(store, namespace))?.name === name) {
        throw new InvalidInputError('member', `${name} owns the personal namespace ${namespace}`);
      }
      if (!(await store.removeMember(namespace, name))) throw new MembershipNotFoundError(namespace, account);
    },

    /** Who holds which role in the namespace, the owner of a personal namespace first. */
    async listMembers(namespace: string): Promise<Membership[]> {
      await requireNamespace(store, namespace);
      const owner = await personalOwner(store, namespace);
      const stored = await store.listMembers(namespace);
      return owner ? [ownerMembership(namespace), ...stored] : stored;
    },

    /** The account's roles (robots with or without prefix), its personal namespace first. */
    async membershipsOf(account: string): Promise<Membership[]> {
      const member = await resolveAccount(store, account);
      const stored = await store.membershipsOf(member.name);
      return personalNamespaces && member.kind === 'user'
        ? [ownerMembership(member.name), ...stored]
        : stored;
    },

    /**
     * The roles `accountName` (exact, unlike membershipsOf) holds, its personal namespace first; none
     * when there is no such account. Global administration is not a role: callers check it themselves.
     */
    async rolesOf(accountName: string): Promise<Membership[]> {
      const [account, stored] = await Promise.all([
        personalNamespaces ? store.getAccount(accountName) : undefined,
        store.membershipsOf(accountName),
      ]);
      return account?.kind === 'user' ? [ownerMembership(accountName), ...stored] : stored;
    },

    /**
     * The role `accountName` (exact) holds in `namespace`, counting a user's personal namespace.
     * Global administration (Account.admin) is not a role: callers check it themselves.
     */
    async roleIn(namespace: string, accountName: string): Promise<Role | undefined> {
      if ((await personalOwner(store, namespace))?.name === accountName) return 'admin';
      return store.getRole(namespace, accountName);
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
