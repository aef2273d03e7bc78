// Opens a pool of connections to the PostgreSQL metadata database and brings its schema up to date.
// Several replicas may start against one database at once: migrations run under a session-level
// advisory lock, so exactly one applies each version and the others wait, then find nothing to do.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations/index.js';

export type PostgresPool = pg.Pool;
export type PostgresClient = pg.PoolClient;

export interface PostgresOptions {
  /** postgres://user:password@host:port/database (libpq-style query parameters such as sslmode apply). */
  url: string;
  /** Most connections open at once. */
  poolSize?: number;
  /** The server cancels a statement running longer than this (0: no limit). */
  statementTimeoutMs?: number;
  /** A request for a connection fails after waiting this long for one. */
  connectTimeoutMs?: number;
  /**
   * Told when an idle pooled connection fails (the server restarted, the network dropped it). The
   * pool has already discarded it and opens a new one when needed; nothing else is affected.
   */
  onIdleError?: (err: Error) => void;
}

export const POSTGRES_DEFAULTS = {
  poolSize: 10,
  statementTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
} as const;

/** A BIGINT column as node-postgres returns it: a string (values beyond 2^53 would not fit a number). */
export type BigintColumn = string | number;

/** A BIGINT as a number; throws rather than round a value beyond 2^53. */
export function toNumber(value: BigintColumn): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`metadata value ${value} is not a safe integer`);
  return n;
}

/**
 * A query of fixed text as a named statement: prepared once per pooled connection instead of parsed
 * and planned on every call (a third less server CPU per lookup). The name is the text's hash, so
 * stores sharing a pool can never give one name two texts. Only for texts that never vary with the
 * values: each distinct text stays prepared on every connection that ran it.
 */
const statementNames = new Map<string, string>();
export function statement(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `berth_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/** Key of the advisory lock held while migrating (any constant unique to Berth's schema). */
const MIGRATION_LOCK = 0x6265_7274_686d; // "berthm"

/**
 * A pool on `options.url`. Connecting is lazy: the first query (migratePostgres, in
 * openPostgresDatabase) is where an unreachable server shows.
 */
export function createPostgresPool(options: PostgresOptions): PostgresPool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? POSTGRES_DEFAULTS.poolSize,
    statement_timeout: options.statementTimeoutMs ?? POSTGRES_DEFAULTS.statementTimeoutMs,
    connectionTimeoutMillis: options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs,
    application_name: 'berth',
  });
  // Without a listener, an idle connection's error would be thrown as an uncaught 'error' event.
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

/** A pool on `options.url` whose schema is up to date. */
export async function openPostgresDatabase(
  options: PostgresOptions,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<PostgresPool> {
  const pool = createPostgresPool(options);
  try {
    await migratePostgres(pool, migrations);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return pool;
}

/** The newest migration applied to the database; 0 for an empty database. */
export async function postgresSchemaVersion(db: PostgresPool | PostgresClient): Promise<number> {
  const { rows } = await db.query<{ version: number | null }>(
    `SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0
       ELSE (SELECT COALESCE(MAX(version), 0) FROM schema_migrations) END AS version`,
  );
  return rows[0]?.version ?? 0;
}

/**
 * Applies, in order and each in its own transaction, every migration newer than the database's
 * version. Refuses a database whose schema is newer than `migrations` know. Holds the advisory lock
 * on one connection throughout; the wait for another replica's migrations and the migrations
 * themselves are not bounded by the statement timeout.
 */
export async function migratePostgres(
  pool: PostgresPool,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<void> {
  const client = await pool.connect();
  // A connection in an unknown state is closed rather than pooled; closing it also drops its lock.
  let broken: Error | undefined;
  try {
    await client.query('SET statement_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version    INTEGER PRIMARY KEY,
           applied_at BIGINT NOT NULL
         )`,
      );
      const current = await postgresSchemaVersion(client);
      const latest = migrations.at(-1)?.version ?? 0;
      if (current > latest) {
        throw new Error(
          `metadata database schema v${current} is newer than this Berth (v${latest}); upgrade Berth`,
        );
      }
      for (const migration of migrations) {
        if (migration.version <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.up);
          await migration.backfill?.(client);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            migration.version,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (err) {
          // On failure the connection is closed below, which ends the transaction anyway.
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
        .catch((unlockErr: Error) => (broken = unlockErr));
    }
    await client.query('RESET statement_timeout');
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Runs `work` in one transaction on one pooled connection: BEGIN, then COMMIT when it resolves, or
 * ROLLBACK and the rejection when it rejects. The connection goes back to the pool exactly once, and
 * is closed instead when COMMIT or ROLLBACK failed (its state is then unknown) or the connection
 * failed meanwhile. The pool listens for the errors of idle connections only: a connection that
 * fails while checked out and between two statements (`work` awaiting something else, the server
 * restarting) emits an 'error' that would be an uncaught exception without the listener here.
 */
export async function inTransaction<T>(
  pool: PostgresPool,
  work: (client: PostgresClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    try {
      await client.query('COMMIT');
    } catch (err) {
      broken = err as Error;
      throw err;
    }
    return result;
  } catch (err) {
    if (!broken) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
