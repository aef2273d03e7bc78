// AccountStore on SQLite: the only place with accounts, namespaces and membership SQL.
// Every method is one prepared statement, run synchronously and answered as a settled promise; a unit
// of work is BEGIN IMMEDIATE ... COMMIT holding the connection's lock (connection-lock.ts), so that
// no other call on the connection runs inside it while its body awaits. Referential rules (a
// membership names an existing namespace and account, and goes with either) are foreign keys with
// ON DELETE CASCADE.
import type {
  Account,
  AccountKind,
  AccountStore,
  Membership,
  Namespace,
  Role,
  StoredAccount,
} from '../auth/model.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock, settle } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

interface AccountRow {
  name: string;
  kind: AccountKind;
  admin: number;
  credential_version: number;
  description: string | null;
  created_at: number;
}

interface StoredAccountRow extends AccountRow {
  secret_hash: string;
}

interface NamespaceRow {
  name: string;
  public: number;
  created_at: number;
}

const ACCOUNT_COLUMNS = 'name, kind, admin, credential_version, description, created_at';

function toAccount(row: AccountRow): Account {
  return {
    name: row.name,
    kind: row.kind,
    admin: row.admin === 1,
    credentialVersion: row.credential_version,
    description: row.description,
    createdAt: row.created_at,
  };
}

function toNamespace(row: NamespaceRow): Namespace {
  return { name: row.name, public: row.public === 1, createdAt: row.created_at };
}

/** Accounts remembered between requests at most (each verified token looks its account up). */
const ACCOUNT_CACHE_MAX = 10_000;

/** Every method but `transaction`, answered synchronously. */
type SyncAccountStore = Synchronous<Omit<AccountStore, 'transaction'>>;

/**
 * Account lookups are cached, because every request with a token looks up its account (so a deleted
 * account loses access at once). The cache is dropped on every write through this store, at the end of
 * every unit of work (a rollback may undo what was read into it inside), and whenever
 * `PRAGMA data_version` shows a commit by another connection (the `berth user ...` CLI, another Berth).
 * While a unit of work is open, calls from outside it wait (connection-lock.ts), so they never read
 * its uncommitted writes, from the database or from the cache.
 */
export function createSqliteAccountStore(db: SqliteDatabase): AccountStore {
  const statements = {
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    getAccount: db.prepare(`SELECT ${ACCOUNT_COLUMNS}, secret_hash FROM accounts WHERE name = ?`),
    listAccounts: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY name`),
    listAccountsOfKind: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE kind = ? ORDER BY name`),
    countAccounts: db.prepare('SELECT count(*) FROM accounts').pluck(),
    insertAccount: db.prepare(
      `INSERT INTO accounts (${ACCOUNT_COLUMNS}, secret_hash)
       VALUES (@name, @kind, @admin, @credentialVersion, @description, @createdAt, @secretHash)
       ON CONFLICT (name) DO NOTHING`,
    ),
    updateSecret: db.prepare(
      `UPDATE accounts SET secret_hash = @secretHash, credential_version = credential_version + 1
       WHERE name = @name`,
    ),
    setAdmin: db.prepare('UPDATE accounts SET admin = @admin WHERE name = @name'),
    deleteAccount: db.prepare('DELETE FROM accounts WHERE name = ?'),

    getNamespace: db.prepare('SELECT name, public, created_at FROM namespaces WHERE name = ?'),
    listNamespaces: db.prepare('SELECT name, public, created_at FROM namespaces ORDER BY name'),
    insertNamespace: db.prepare(
      `INSERT INTO namespaces (name, public, created_at) VALUES (@name, @public, @createdAt)
       ON CONFLICT (name) DO NOTHING`,
    ),
    setNamespacePublic: db.prepare('UPDATE namespaces SET public = @public WHERE name = @name'),
    deleteNamespace: db.prepare('DELETE FROM namespaces WHERE name = ?'),

    upsertMember: db.prepare(
      `INSERT INTO namespace_members (namespace, account, role) VALUES (@namespace, @account, @role)
       ON CONFLICT (namespace, account) DO UPDATE SET role = excluded.role`,
    ),
    deleteMember: db.prepare('DELETE FROM namespace_members WHERE namespace = ? AND account = ?'),
    getRole: db.prepare('SELECT role FROM namespace_members WHERE namespace = ? AND account = ?').pluck(),
    listMembers: db.prepare(
      'SELECT namespace, account, role FROM namespace_members WHERE namespace = ? ORDER BY account',
    ),
    membershipsOf: db.prepare(
      'SELECT namespace, account, role FROM namespace_members WHERE account = ? ORDER BY namespace',
    ),
  };

  const accounts = new Map<string, StoredAccount | undefined>();
  let seenVersion = -1;
  /** Wraps a write so the cache never outlives it. */
  const writes =
    <A extends unknown[], R>(write: (...args: A) => R) =>
    (...args: A): R => {
      accounts.clear();
      return write(...args);
    };

  const sync: SyncAccountStore = {
    getAccount(name) {
      const version = statements.dataVersion.get() as number;
      if (version !== seenVersion) {
        accounts.clear();
        seenVersion = version;
      }
      if (accounts.has(name)) return accounts.get(name);
      const row = statements.getAccount.get(name) as StoredAccountRow | undefined;
      const account = row && { ...toAccount(row), secretHash: row.secret_hash };
      if (accounts.size >= ACCOUNT_CACHE_MAX) accounts.clear();
      accounts.set(name, account);
      return account;
    },
    listAccounts(kind) {
      const rows = (
        kind ? statements.listAccountsOfKind.all(kind) : statements.listAccounts.all()
      ) as AccountRow[];
      return rows.map(toAccount);
    },
    countAccounts: () => statements.countAccounts.get() as number,
    insertAccount: writes((account: StoredAccount) => {
      const result = statements.insertAccount.run({
        name: account.name,
        kind: account.kind,
        admin: account.admin ? 1 : 0,
        credentialVersion: account.credentialVersion,
        description: account.description,
        createdAt: account.createdAt,
        secretHash: account.secretHash,
      });
      return result.changes === 1;
    }),
    updateSecret: writes(
      (name: string, secretHash: string) => statements.updateSecret.run({ name, secretHash }).changes === 1,
    ),
    setAdmin: writes(
      (name: string, admin: boolean) => statements.setAdmin.run({ name, admin: admin ? 1 : 0 }).changes === 1,
    ),
    deleteAccount: writes((name: string) => statements.deleteAccount.run(name).changes === 1),

    getNamespace(name) {
      const row = statements.getNamespace.get(name) as NamespaceRow | undefined;
      return row && toNamespace(row);
    },
    listNamespaces: () => (statements.listNamespaces.all() as NamespaceRow[]).map(toNamespace),
    insertNamespace(namespace) {
      const result = statements.insertNamespace.run({
        name: namespace.name,
        public: namespace.public ? 1 : 0,
        createdAt: namespace.createdAt,
      });
      return result.changes === 1;
    },
    setNamespacePublic: (name, isPublic) =>
      statements.setNamespacePublic.run({ name, public: isPublic ? 1 : 0 }).changes === 1,
    deleteNamespace: (name) => statements.deleteNamespace.run(name).changes === 1,

    /** Throws a SQLite FOREIGN KEY error when the namespace or the account does not exist. */
    setMember({ namespace, account, role }) {
      statements.upsertMember.run({ namespace, account, role });
    },
    removeMember: (namespace, account) => statements.deleteMember.run(namespace, account).changes === 1,
    getRole: (namespace, account) => statements.getRole.get(namespace, account) as Role | undefined,
    listMembers: (namespace) => statements.listMembers.all(namespace) as Membership[],
    membershipsOf: (account) => statements.membershipsOf.all(account) as Membership[],
  };

  const lock = connectionLock(db);

  /** The store a unit of work is given: straight on the connection, and only while the work is open. */
  function scopedStore(isOpen: () => boolean): AccountStore {
    const scoped: AccountStore = {
      ...asAsync<Omit<AccountStore, 'transaction'>>(sync, (call) =>
        isOpen() ? settle(call) : Promise.reject(new Error('the unit of work of this store has ended')),
      ),
      transaction: async (work) => work(scoped),
    };
    return scoped;
  }

  return {
    ...asAsync<Omit<AccountStore, 'transaction'>>(sync, lock.run),
    transaction(work) {
      let open = true;
      const scoped = scopedStore(() => open);
      return lock.unitOfWork(
        () => work(scoped),
        () => {
          open = false;
          accounts.clear();
        },
      );
    },
  };
}
