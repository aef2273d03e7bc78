// LoginThrottleStore on PostgreSQL, shared by every replica: the only place with the login throttle's
// SQL for it (tables of migrations/004-login-throttle.ts). Each call is one statement at READ
// COMMITTED on any pooled connection (a write and its trimming are data-modifying CTEs of one
// statement), outside every unit of work, so a failure recorded by one replica counts on all of them
// from the moment the call returns.
//
// Every delete is of rows that are going anyway (trimmed, pruned, forgiven), so it takes them FOR
// UPDATE SKIP LOCKED: a row another statement holds is left to it (only deletes and the refresh of a
// known address lock these rows), and deletes never wait for each other, so replicas trimming and
// pruning the same rows at once cannot deadlock. The one wait left is an upsert of a known address
// whose row another statement holds; should two of them deadlock (two new addresses of one account
// at once, each trimming the other's), PostgreSQL aborts one statement, which undoes all of it, and
// it is run again. Failures of an unreachable server become StoreUnavailableError (unavailable.ts).
import type { QueryResult, QueryResultRow } from 'pg';
import type { LoginThrottleStore } from '../../auth/login-throttle-store.js';
import { toNumber, type BigintColumn, type PostgresPool } from './db.js';
import { reportingUnavailable } from './unavailable.js';

/** SQLSTATE deadlock_detected. */
const DEADLOCK = '40P01';
/** Runs of one statement, the first included, before a deadlock is passed on. */
const DEADLOCK_ATTEMPTS = 3;

export function createPostgresLoginThrottleStore(pool: PostgresPool): LoginThrottleStore {
  async function query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await pool.query<R>(text, values);
      } catch (err) {
        if ((err as { code?: unknown }).code !== DEADLOCK || attempt >= DEADLOCK_ATTEMPTS) throw err;
      }
    }
  }

  return reportingUnavailable<LoginThrottleStore>({
    async addFailure(keys, source, at) {
      // Each key keeps the new failure and its newest keep - 1 others: the DELETE sees the rows as
      // they were before the statement, so it ranks the others only.
      await query(
        `WITH recorded(key, keep) AS (SELECT * FROM unnest($1::text[], $2::int[])),
         inserted AS (
           INSERT INTO login_failures (key, source, at) SELECT key, $3, $4 FROM recorded
         )
         DELETE FROM login_failures WHERE id IN (
           SELECT id FROM login_failures WHERE id IN (
             SELECT id FROM (
               SELECT f.id, recorded.keep,
                      row_number() OVER (PARTITION BY f.key ORDER BY f.at DESC, f.id DESC) AS newer
               FROM login_failures f JOIN recorded ON f.key = recorded.key
             ) ranked
             WHERE newer >= keep
           )
           FOR UPDATE SKIP LOCKED
         )`,
        [keys.map((k) => k.key), keys.map((k) => k.keep), source, at],
      );
    },
    async recentFailures(key, since, limit) {
      const { rows } = await query<{ at: BigintColumn }>(
        'SELECT at FROM login_failures WHERE key = $1 AND at > $2 ORDER BY at DESC, id DESC LIMIT $3',
        [key, since, Math.max(0, limit)],
      );
      return rows.map((row) => toNumber(row.at));
    },
    async forgetFailures(key, source) {
      await query(
        `DELETE FROM login_failures WHERE id IN (
           SELECT id FROM login_failures WHERE key = $1 AND source = $2 FOR UPDATE SKIP LOCKED
         )`,
        [key, source],
      );
    },
    async rememberAddress(account, address, at, keep) {
      await query(
        `WITH upserted AS (
           INSERT INTO login_known_addresses (account, address, last_success_at) VALUES ($1, $2, $3)
           ON CONFLICT (account, address) DO UPDATE
           SET last_success_at = GREATEST(login_known_addresses.last_success_at, excluded.last_success_at)
         )
         DELETE FROM login_known_addresses WHERE account = $1 AND address IN (
           SELECT address FROM login_known_addresses
           WHERE account = $1 AND address <> $2 AND address NOT IN (
             SELECT address FROM login_known_addresses WHERE account = $1 AND address <> $2
             ORDER BY last_success_at DESC, address LIMIT $4
           )
           FOR UPDATE SKIP LOCKED
         )`,
        [account, address, at, Math.max(0, keep - 1)],
      );
    },
    async isKnownAddress(account, address, since) {
      const { rows } = await query(
        `SELECT 1 FROM login_known_addresses
         WHERE account = $1 AND address = $2 AND last_success_at > $3`,
        [account, address, since],
      );
      return rows.length > 0;
    },
    async prune({ failuresUpTo, addressesUpTo, maxFailures }) {
      await query(
        `WITH failures AS (
           DELETE FROM login_failures WHERE id IN (
             SELECT id FROM login_failures
             WHERE at <= $1 OR id <= (SELECT max(id) FROM login_failures) - $3
             FOR UPDATE SKIP LOCKED
           )
         )
         DELETE FROM login_known_addresses WHERE (account, address) IN (
           SELECT account, address FROM login_known_addresses WHERE last_success_at <= $2
           FOR UPDATE SKIP LOCKED
         )`,
        [failuresUpTo, addressesUpTo, Math.max(0, maxFailures)],
      );
    },
  });
}
