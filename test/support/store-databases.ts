// Databases for the store tests: a SQLite file that several connections share (the store and its
// "sibling", as the conformance suites want), PostgreSQL stores on a fresh database of a test server,
// the check that a store works on a database migrated from every earlier schema version, and tag names
// for the tests of the tag sort keys' migration.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase, schemaVersion, type SqliteDatabase } from '../../src/metadata/db.js';
import { MIGRATIONS } from '../../src/metadata/migrations/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/metadata/postgres/migrations/index.js';
import { openPostgresDatabase, postgresSchemaVersion } from '../../src/metadata/postgres/db.js';
import { openPostgresMetadata, type PostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import type { PostgresServer } from './postgres.js';

/** What the exported store conformance suites take: a store, another on the same database, cleanup. */
export interface ConformanceStores<S> {
  store: S;
  sibling: () => Promise<S>;
  cleanup: () => Promise<void>;
}

/** A SQLite file in a temporary directory; `open` adds a connection (migrated as far as asked). */
export async function sqliteFile() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-store-'));
  const path = join(dir, 'berth.db');
  const databases: SqliteDatabase[] = [];
  return {
    open(migrations = MIGRATIONS): SqliteDatabase {
      const db = openDatabase(path, migrations);
      databases.push(db);
      return db;
    },
    async cleanup() {
      for (const db of databases) if (db.open) db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Conformance stores on one SQLite file, each on a connection of its own. */
export function sqliteStores<S>(create: (db: SqliteDatabase) => S): () => Promise<ConformanceStores<S>> {
  return async () => {
    const { open, cleanup } = await sqliteFile();
    return { store: create(open()), sibling: async () => create(open()), cleanup };
  };
}

/** One test per earlier schema version: a database created there, migrated to the latest, then `use`d. */
export function itWorksOnMigratedSqlite(use: (db: SqliteDatabase) => Promise<void>): void {
  it.each(MIGRATIONS.slice(0, -1).map((m) => m.version))(
    'works on a v%i database migrated to the latest version',
    async (version) => {
      const { open, cleanup } = await sqliteFile();
      try {
        open(MIGRATIONS.slice(0, version)).close();
        const db = open();
        expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
        await use(db);
      } finally {
        await cleanup();
      }
    },
  );
}

/** Conformance stores on a fresh database of `server()`, each from a pool of its own. */
export function postgresStores<S>(
  server: () => PostgresServer,
  pick: (metadata: PostgresMetadata) => S,
): () => Promise<ConformanceStores<S>> {
  return async () => {
    const database = await server().createDatabase();
    const opened: PostgresMetadata[] = [];
    const open = async () => {
      const metadata = await openPostgresMetadata({ url: database.url, poolSize: 4 });
      opened.push(metadata);
      return pick(metadata);
    };
    return {
      store: await open(),
      sibling: open,
      async cleanup() {
        await Promise.all(opened.map((metadata) => metadata.close()));
        await database.drop();
      },
    };
  };
}

/** As itWorksOnMigratedSqlite, on a fresh PostgreSQL database of `server()` per version. */
export function itWorksOnMigratedPostgres(
  server: () => PostgresServer,
  use: (metadata: PostgresMetadata) => Promise<void>,
): void {
  it.each(POSTGRES_MIGRATIONS.slice(0, -1).map((m) => m.version))(
    'works on a v%i database migrated to the latest version',
    async (version) => {
      const database = await server().createDatabase();
      try {
        const old = await openPostgresDatabase({ url: database.url }, POSTGRES_MIGRATIONS.slice(0, version));
        expect(await postgresSchemaVersion(old)).toBe(version);
        await old.end();
        const metadata = await openPostgresMetadata({ url: database.url, poolSize: 2 });
        try {
          expect(await postgresSchemaVersion(metadata.pool)).toBe(POSTGRES_MIGRATIONS.at(-1)?.version);
          await use(metadata);
        } finally {
          await metadata.close();
        }
      } finally {
        await database.drop();
      }
    },
  );
}

/**
 * The query plans of the statements that `create` prepares on `db` (a store factory): `plan(pattern)`
 * explains the one statement matching `pattern`, every parameter bound to `sample`.
 */
export function preparedStatementPlans(
  db: SqliteDatabase,
  create: (db: SqliteDatabase) => unknown,
  sample: unknown = 1,
): (pattern: RegExp) => string {
  const prepared: string[] = [];
  const recording = new Proxy(db, {
    get(target, property) {
      if (property === 'prepare') {
        return (sql: string) => {
          prepared.push(sql);
          return target.prepare(sql);
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  create(recording);
  return (pattern) => {
    const matching = prepared.filter((sql) => pattern.test(sql));
    expect(matching).toHaveLength(1);
    const sql = matching[0] as string;
    const named = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((m) => [m[1], sample]));
    const explain = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
    const rows = (sql.includes('?') ? explain.all(sample) : explain.all(named)) as Array<{ detail: string }>;
    return rows.map((row) => row.detail).join('\n');
  };
}

/**
 * 2,500 distinct tag names (more than a batch of the sort keys' backfill, migrations 012 and postgres
 * 011) in a scrambled order: versions with and without `v`, prereleases, and other names.
 */
export function sortKeyTagNames(): string[] {
  const names: string[] = [];
  for (let i = 0; i < 2_500; i++) {
    const j = (i * 7_919) % 2_500;
    const forms = [
      `v${j % 13}.${j % 7}.${j}`,
      `${j % 5}.${j}-rc.${j % 3}`,
      `build-${j}`,
      `${j % 11}.${j}`,
      `Release_${j}`,
    ];
    names.push(forms[i % forms.length] as string);
  }
  return names;
}
