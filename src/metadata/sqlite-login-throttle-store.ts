// LoginThrottleStore on SQLite: the only place with the login throttle's SQL for it (tables of
// migrations/005-login-throttle.ts). Each call is one statement, or one IMMEDIATE transaction of a
// few, run synchronously through the connection's lock (connection-lock.ts), so that it never lands
// inside an account unit of work that is open on the same connection (and is never undone by its
// rollback). Processes sharing the database file see each other's failures and known addresses.
import type { FailureKey, LoginThrottleStore } from '../auth/login-throttle-store.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

export function createSqliteLoginThrottleStore(db: SqliteDatabase): LoginThrottleStore {
  const statements = {
    insertFailure: db.prepare('INSERT INTO login_failures (key, source, at) VALUES (?, ?, ?)'),
    trimFailures: db.prepare(
      `DELETE FROM login_failures WHERE key = @key AND id <> @id AND id NOT IN
         (SELECT id FROM login_failures WHERE key = @key AND id <> @id ORDER BY at DESC, id DESC LIMIT @others)`,
    ),
    recentFailures: db
      .prepare('SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at DESC, id DESC LIMIT ?')
      .pluck(),
    forgetFailures: db.prepare('DELETE FROM login_failures WHERE key = ? AND source = ?'),
    upsertAddress: db.prepare(
      `INSERT INTO login_known_addresses (account, address, last_success_at) VALUES (@account, @address, @at)
       ON CONFLICT (account, address) DO UPDATE SET last_success_at = max(last_success_at, excluded.last_success_at)`,
    ),
    trimAddresses: db.prepare(
      `DELETE FROM login_known_addresses WHERE account = @account AND address <> @address AND address NOT IN
         (SELECT address FROM login_known_addresses WHERE account = @account AND address <> @address
          ORDER BY last_success_at DESC, address LIMIT @others)`,
    ),
    isKnownAddress: db
      .prepare(
        'SELECT 1 FROM login_known_addresses WHERE account = ? AND address = ? AND last_success_at > ?',
      )
      .pluck(),
    pruneFailures: db.prepare('DELETE FROM login_failures WHERE at <= ?'),
    capFailures: db.prepare(
      'DELETE FROM login_failures WHERE id <= (SELECT max(id) FROM login_failures) - ?',
    ),
    pruneAddresses: db.prepare('DELETE FROM login_known_addresses WHERE last_success_at <= ?'),
  };

  const addFailure = db.transaction((keys: readonly FailureKey[], source: string, at: number) => {
    for (const { key, keep } of keys) {
      const id = statements.insertFailure.run(key, source, at).lastInsertRowid;
      // SQLite reads a negative LIMIT as none: never below 0.
      statements.trimFailures.run({ key, id, others: Math.max(0, keep - 1) });
    }
  });
  const rememberAddress = db.transaction((account: string, address: string, at: number, keep: number) => {
    statements.upsertAddress.run({ account, address, at });
    statements.trimAddresses.run({ account, address, others: Math.max(0, keep - 1) });
  });
  const prune = db.transaction((failuresUpTo: number, addressesUpTo: number, maxFailures: number) => {
    statements.pruneFailures.run(failuresUpTo);
    statements.capFailures.run(maxFailures);
    statements.pruneAddresses.run(addressesUpTo);
  });

  const sync: Synchronous<LoginThrottleStore> = {
    addFailure: (keys, source, at) => addFailure.immediate(keys, source, at),
    recentFailures: (key, since, limit) =>
      statements.recentFailures.all(key, since, Math.max(0, limit)) as number[],
    forgetFailures(key, source) {
      statements.forgetFailures.run(key, source);
    },
    rememberAddress: (account, address, at, keep) => rememberAddress.immediate(account, address, at, keep),
    isKnownAddress: (account, address, since) =>
      statements.isKnownAddress.get(account, address, since) !== undefined,
    prune: ({ failuresUpTo, addressesUpTo, maxFailures }) =>
      prune.immediate(failuresUpTo, addressesUpTo, Math.max(0, maxFailures)),
  };

  return asAsync<LoginThrottleStore>(sync, connectionLock(db).run);
}
