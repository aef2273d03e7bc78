// AccountStore on PostgreSQL, for replicas sharing one database: the only place with accounts,
// namespaces and membership SQL for it. Every method is one parameterized statement at READ
// COMMITTED, on any pooled connection; referential rules are the schema's foreign keys with
// ON DELETE CASCADE (migrations/003-accounts.ts).
//
// A unit of work (`transaction`) is BEGIN ... COMMIT on one pooled connection (db.ts inTransaction),
// whose first statement takes a transaction-level advisory lock: units of work run one at a time
// across every replica, as SQLite's BEGIN IMMEDIATE makes them on one file. READ COMMITTED alone
// would let two replicas both pass a check such as "not the last admin" (src/auth/accounts.ts) and
// both write. Calls outside units of work take no lock: they never see a unit's uncommitted writes
// (another connection), and wait only for the row locks a unit holds. A statement that fails inside
// a unit of work (a missing namespace in setMember) aborts its transaction: later calls in it reject
// and it rolls back.
//
// No cache: a replica cannot know, without asking the database, that another replica changed an
// account (and asking costs the round trip the lookup costs), while a deleted account or a new secret
// must take effect at once on every replica. Each getAccount is one primary-key lookup.
//
// Failures of an unreachable or restarting server become StoreUnavailableError (unavailable.ts), in
// the store a unit of work is given as in this one.
import type { QueryResult, QueryResultRow } from 'pg';
import type {
  Account,
  AccountKind,
  AccountStore,
  Membership,
  Namespace,
  Role,
  StoredAccount,
} from '../../auth/model.js';
import { inTransaction, toNumber, type BigintColumn, type PostgresPool } from './db.js';
import { reportingUnavailable } from './unavailable.js';

interface AccountRow {
  name: string;
  kind: AccountKind;
  admin: boolean;
  credential_version: number;
  description: string | null;
  created_at: BigintColumn;
}

interface StoredAccountRow extends AccountRow {
  secret_hash: string;
}

interface NamespaceRow {
  name: string;
  public: boolean;
  created_at: BigintColumn;
}

/** Key of the advisory lock a unit of work holds until it ends (any constant unique to Berth). */
const UNIT_OF_WORK_LOCK = 0x6265_7274_6861; // "bertha"

const ACCOUNT_COLUMNS = 'name, kind, admin, credential_version, description, created_at';
const MEMBERSHIP_COLUMNS = 'namespace, account, role';

function toAccount(row: AccountRow): Account {
  return {
    name: row.name,
    kind: row.kind,
    admin: row.admin,
    credentialVersion: row.credential_version,
    description: row.description,
    createdAt: toNumber(row.created_at),
  };
}

function toNamespace(row: NamespaceRow): Namespace {
  return { name: row.name, public: row.public, createdAt: toNumber(row.created_at) };
}

/** Runs one parameterized statement: on the pool, or on the connection of a unit of work. */
type Query = <R extends QueryResultRow>(text: string, values: unknown[]) => Promise<QueryResult<R>>;

type AccountMethods = Omit<AccountStore, 'transaction'>;

function accountMethods(query: Query): AccountMethods {
  const rows = async <R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> =>
    (await query<R>(text, values)).rows;
  const changedOne = async (text: string, values: unknown[]): Promise<boolean> =>
    (await query(text, values)).rowCount === 1;

  return {
    async getAccount(name) {
      const [row] = await rows<StoredAccountRow>(
        `SELECT ${ACCOUNT_COLUMNS}, secret_hash FROM accounts WHERE name = $1`,
        [name],
      );
      return row && { ...toAccount(row), secretHash: row.secret_hash };
    },
    async listAccounts(kind) {
      const found = await rows<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE ($1::text IS NULL OR kind = $1) ORDER BY name`,
        [kind ?? null],
      );
      return found.map(toAccount);
    },
    async countAccounts() {
      const [row] = await rows<{ count: BigintColumn }>('SELECT count(*) FROM accounts', []);
      return toNumber(row?.count ?? 0);
    },
    insertAccount: (account: StoredAccount) =>
      changedOne(
        `INSERT INTO accounts (${ACCOUNT_COLUMNS}, secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (name) DO NOTHING`,
        [
          account.name,
          account.kind,
          account.admin,
          account.credentialVersion,
          account.description,
          account.createdAt,
          account.secretHash,
        ],
      ),
    updateSecret: (name, secretHash) =>
      changedOne(
        `UPDATE accounts SET secret_hash = $2, credential_version = credential_version + 1
         WHERE name = $1`,
        [name, secretHash],
      ),
    setAdmin: (name, admin) => changedOne('UPDATE accounts SET admin = $2 WHERE name = $1', [name, admin]),
    deleteAccount: (name) => changedOne('DELETE FROM accounts WHERE name = $1', [name]),

    async getNamespace(name) {
      const [row] = await rows<NamespaceRow>(
        'SELECT name, public, created_at FROM namespaces WHERE name = $1',
        [name],
      );
      return row && toNamespace(row);
    },
    async listNamespaces() {
      const found = await rows<NamespaceRow>(
        'SELECT name, public, created_at FROM namespaces ORDER BY name',
        [],
      );
      return found.map(toNamespace);
    },
    insertNamespace: (namespace) =>
      changedOne(
        `INSERT INTO namespaces (name, public, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING`,
        [namespace.name, namespace.public, namespace.createdAt],
      ),
    setNamespacePublic: (name, isPublic) =>
      changedOne('UPDATE namespaces SET public = $2 WHERE name = $1', [name, isPublic]),
    deleteNamespace: (name) => changedOne('DELETE FROM namespaces WHERE name = $1', [name]),

    /** Rejects with PostgreSQL's foreign key violation (23503) when the namespace or the account is missing. */
    async setMember({ namespace, account, role }) {
      await query(
        `INSERT INTO namespace_members (${MEMBERSHIP_COLUMNS}) VALUES ($1, $2, $3)
         ON CONFLICT (namespace, account) DO UPDATE SET role = excluded.role`,
        [namespace, account, role],
      );
    },
    removeMember: (namespace, account) =>
      changedOne('DELETE FROM namespace_members WHERE namespace = $1 AND account = $2', [namespace, account]),
    async getRole(namespace, account) {
      const [row] = await rows<{ role: Role }>(
        'SELECT role FROM namespace_members WHERE namespace = $1 AND account = $2',
        [namespace, account],
      );
      return row?.role;
    },
    listMembers: (namespace) =>
      rows<Membership>(
        `SELECT ${MEMBERSHIP_COLUMNS} FROM namespace_members WHERE namespace = $1 ORDER BY account`,
        [namespace],
      ),
    membershipsOf: (account) =>
      rows<Membership>(
        `SELECT ${MEMBERSHIP_COLUMNS} FROM namespace_members WHERE account = $1 ORDER BY namespace`,
        [account],
      ),
  };
}

/** The accounts on `pool`. Each replica (and the CLI) builds its own on its own pool. */
export function createPostgresAccountStore(pool: PostgresPool): AccountStore {
  return reportingUnavailable<AccountStore>({
    ...accountMethods((text, values) => pool.query(text, values)),
    transaction: (work) =>
      inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [UNIT_OF_WORK_LOCK]);
        let open = true;
        const scoped: AccountStore = reportingUnavailable<AccountStore>({
          ...accountMethods((text, values) =>
            open
              ? client.query(text, values)
              : Promise.reject(new Error('the unit of work of this store has ended')),
          ),
          transaction: async (nested) => nested(scoped),
        });
        try {
          return await work(scoped);
        } finally {
          // Before COMMIT or ROLLBACK: nothing issued after `work` settled runs in its transaction.
          open = false;
        }
      }),
  });
}
