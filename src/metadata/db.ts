// Opens the SQLite metadata database (WAL) and brings its schema up to date.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS, type Migration } from './migrations/index.js';

export type SqliteDatabase = Database.Database;

/** Opens `path` (':memory:' for tests) and applies every migration newer than the stored version. */
export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  try {
    migrate(db, migrations);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * A probe that answers whether another connection (another Berth process, the CLI) has committed to
 * the database since the probe last ran: SQLite's `PRAGMA data_version` changes only then.
 */
export function otherConnectionsCommitted(db: SqliteDatabase): () => boolean {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seen = dataVersion.get() as number;
  return () => {
    const now = dataVersion.get() as number;
    if (now === seen) return false;
    seen = now;
    return true;
  };
}

export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies the pending migrations in one IMMEDIATE transaction, reading the version inside it, so that
 * processes opening one database at the same moment (replicas, the CLI) apply each migration once.
 */
function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const latest = migrations.at(-1)?.version ?? 0;
  if (schemaVersion(db) === latest) return;
  db.transaction(() => {
    const current = schemaVersion(db);
    if (current > latest) {
      throw new Error(
        `metadata database schema v${current} is newer than this Berth (v${latest}); upgrade Berth`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.up);
      migration.backfill?.(db);
      db.pragma(`user_version = ${migration.version}`);
    }
  }).immediate();
}
