// Moving from one machine to replicas: copies a SQLite metadata database (the metadata index, the
// accounts, namespaces and memberships, the pull-through mirror's cached tags, cached content and
// counters, the webhook outbox's pending deliveries and per-endpoint outcomes, the namespace
// rules: immutable tags, quotas and retention policies, then garbage collection's run history) into
// an empty PostgreSQL one (`berth db copy`). Every table is copied row for row in one PostgreSQL transaction,
// parents before children, keeping repository ids, outbox numbers (so deliveries keep their order),
// secret hashes and credential versions (tokens issued before stay valid); then the row counts of both
// sides are compared. Nothing is written unless the whole copy succeeds. Berth must not be writing to
// the SQLite database meanwhile (stop it, or copy a backup).
import type { SqliteDatabase } from './db.js';
import { inTransaction, type PostgresClient, type PostgresPool } from './postgres/db.js';

interface CopiedTable {
  name: string;
  columns: readonly string[];
  /** An identity column whose sequence must continue after the copied values. */
  identity?: string;
}

/**
 * In dependency order. Columns are those both schemas share. SQLite's 0/1 flags (admin, public) go
 * into PostgreSQL BOOLEAN columns, which accept them. Not copied, as passing state: job leases, and
 * the login throttle's failures and known addresses (owners' addresses become known again at their
 * next login).
 */
export const COPIED_TABLES: readonly CopiedTable[] = [
  {
    name: 'repositories',
    columns: [
      'id',
      'name',
      'created_at',
      'description',
      'last_push_at',
      'last_pull_at',
      'pull_count',
      'size',
      'tag_count',
      'manifest_count',
    ],
    identity: 'id',
  },
  { name: 'blobs', columns: ['digest', 'size', 'created_at'] },
  { name: 'repository_blobs', columns: ['repository_id', 'digest', 'created_at'] },
  {
    name: 'manifests',
    columns: [
      'repository_id',
      'digest',
      'media_type',
      'size',
      'artifact_type',
      'subject_digest',
      'annotations',
      'created_at',
      'total_size',
      'image_created',
      'platforms',
      'last_pulled_at',
    ],
  },
  {
    name: 'tags',
    columns: ['repository_id', 'name', 'digest', 'updated_at', 'last_pulled_at', 'name_key', 'semver_key'],
  },
  { name: 'manifest_references', columns: ['repository_id', 'manifest_digest', 'kind', 'target_digest'] },
  {
    name: 'uploads',
    columns: ['id', 'repository', 'size', 'started_at', 'updated_at', 'lease_holder', 'lease_until'],
  },
  {
    name: 'accounts',
    columns: ['name', 'kind', 'admin', 'secret_hash', 'credential_version', 'description', 'created_at'],
  },
  { name: 'namespaces', columns: ['name', 'public', 'created_at'] },
  { name: 'namespace_members', columns: ['namespace', 'account', 'role'] },
  { name: 'mirror_tags', columns: ['repository', 'tag', 'digest', 'checked_at'] },
  {
    name: 'mirror_content',
    columns: ['repository', 'digest', 'upstream', 'kind', 'size', 'cached_at', 'last_pulled_at'],
  },
  {
    name: 'mirror_counters',
    columns: ['upstream', 'hits', 'misses', 'stale_hits', 'bytes_from_cache', 'bytes_from_upstream'],
  },
  {
    name: 'outbox',
    columns: [
      'seq',
      'endpoint',
      'event_id',
      'repository',
      'payload',
      'created_at',
      'attempts',
      'next_attempt_at',
      'claim_holder',
      'claim_until',
      'last_error',
    ],
    identity: 'seq',
  },
  {
    name: 'outbox_endpoints',
    columns: ['endpoint', 'delivered', 'dropped', 'last_success_at', 'last_failure_at', 'last_error'],
  },
  // Namespace rules. Their usage counts are not copied: PostgreSQL's triggers count the links and
  // manifests again as they are copied (postgres/migrations/009-policies.ts).
  { name: 'immutable_tag_rules', columns: ['namespace', 'position', 'tag_pattern', 'repository_pattern'] },
  { name: 'namespace_quotas', columns: ['namespace', 'limit_bytes', 'updated_at'] },
  {
    name: 'retention_policies',
    columns: [
      'scope',
      'name',
      'keep_latest_count',
      'keep_latest_by',
      'keep_patterns',
      'untagged_after',
      'updated_at',
    ],
  },
  // Garbage collection's run history (ids kept: they are the API's cursors).
  {
    name: 'gc_runs',
    columns: [
      'id',
      'trigger',
      'dry_run',
      'delay_ms',
      'host',
      'started_at',
      'finished_at',
      'status',
      'error',
      'manifests_deleted',
      'links_removed',
      'blobs_deleted',
      'bytes_freed',
      'orphans_deleted',
      'orphan_bytes',
      'orphans_left',
      'uploads_purged',
      'upload_leftovers',
      'held',
    ],
    identity: 'id',
  },
];

const BATCH_ROWS = 500;

export interface CopyReport {
  /** Rows copied per table. */
  rows: Record<string, number>;
}

async function insertBatch(client: PostgresClient, table: CopiedTable, rows: unknown[][]): Promise<void> {
  const width = table.columns.length;
  const values = rows
    .map((_, r) => `(${table.columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`)
    .join(', ');
  await client.query(`INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES ${values}`, rows.flat());
}

async function copyTable(
  sqlite: SqliteDatabase,
  client: PostgresClient,
  table: CopiedTable,
): Promise<number> {
  const select = sqlite.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name}`).raw();
  let batch: unknown[][] = [];
  let copied = 0;
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    if (batch.length === BATCH_ROWS) {
      await insertBatch(client, table, batch);
      copied += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) await insertBatch(client, table, batch);
  return copied + batch.length;
}

/**
 * The review queues of garbage collection (migrations/009-gc.ts), whose copied rows join those that
 * the copy's own inserts made PostgreSQL's triggers queue (so their counts are not compared). Holds,
 * sweep markers and orphan notes are passing state and are not copied.
 */
async function copyGcQueues(sqlite: SqliteDatabase, client: PostgresClient): Promise<void> {
  const queues: Array<{ name: string; columns: readonly string[]; conflict?: string }> = [
    { name: 'gc_manifest_queue', columns: ['repository_id', 'digest', 'queued_at'] },
    { name: 'gc_blob_queue', columns: ['digest', 'queued_at'] },
    { name: 'gc_upload_queue', columns: ['id', 'queued_at'], conflict: ' ON CONFLICT (id) DO NOTHING' },
  ];
  for (const queue of queues) {
    const select = sqlite.prepare(`SELECT ${queue.columns.join(', ')} FROM ${queue.name}`).raw();
    const rows = select.all() as unknown[][];
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const batch = rows.slice(i, i + BATCH_ROWS);
      const width = queue.columns.length;
      const values = batch.map(
        (_, r) => `(${queue.columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`,
      );
      await client.query(
        `INSERT INTO ${queue.name} (${queue.columns.join(', ')}) VALUES ${values.join(', ')}${queue.conflict ?? ''}`,
        batch.flat(),
      );
    }
  }
}

/** Copies every table; refuses a PostgreSQL database that already holds rows in any of them. */
export async function copySqliteToPostgres(
  sqlite: SqliteDatabase,
  pool: PostgresPool,
  tables: readonly CopiedTable[] = COPIED_TABLES,
): Promise<CopyReport> {
  return inTransaction(pool, async (client) => {
    for (const table of tables) {
      const { rows } = await client.query(`SELECT 1 FROM ${table.name} LIMIT 1`);
      if (rows.length > 0)
        throw new Error(`the PostgreSQL database already has ${table.name}: copy into an empty one`);
    }
    const report: CopyReport = { rows: {} };
    for (const table of tables) report.rows[table.name] = await copyTable(sqlite, client, table);
    // The repositories' counters came with them: what the catalog triggers recorded of the copy's
    // inserts (postgres/migrations/007-catalog.ts) would count everything twice.
    await client.query('DELETE FROM repository_changes');
    // Garbage collection's pending reviews (src/gc), added to those that the copy's inserts queued.
    await copyGcQueues(sqlite, client);
    // New repositories get ids, and new outbox rows numbers, after the copied ones.
    for (const { name, identity } of tables) {
      if (identity === undefined) continue;
      await client.query(
        `SELECT setval(pg_get_serial_sequence('${name}', '${identity}'), COALESCE(MAX(${identity}), 0) + 1, false) FROM ${name}`,
      );
    }
    for (const table of tables) {
      const { rows } = await client.query<{ count: string }>(`SELECT count(*) FROM ${table.name}`);
      const expected = sqlite.prepare(`SELECT count(*) FROM ${table.name}`).pluck().get() as number;
      if (Number(rows[0]?.count) !== expected) {
        throw new Error(`${table.name}: ${rows[0]?.count} rows in PostgreSQL, ${expected} in SQLite`);
      }
    }
    return report;
  });
}
