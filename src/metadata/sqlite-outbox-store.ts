// OutboxStore on SQLite: the only place with the webhook outbox's SQL for it (tables of
// migrations/007-outbox.ts). Each call is one statement, or one IMMEDIATE transaction of a few, run
// synchronously through the connection's lock (connection-lock.ts), so that it never lands inside a
// unit of work open on the same connection (and is never undone by its rollback). Enqueueing one
// event for one endpoint is a single INSERT: the whole cost a request pays for its webhooks.
// Processes sharing the database file share the queue; a claim is one UPDATE, so two of them never
// claim the same delivery.
import type {
  DroppedDelivery,
  OutboxDelivery,
  OutboxEndpointStatus,
  OutboxStore,
} from '../notifications/outbox-store.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

interface DeliveryRow {
  seq: number;
  endpoint: string;
  event_id: string;
  repository: string;
  payload: string;
  created_at: number;
  attempts: number;
}

interface DroppedRow {
  seq: number;
  endpoint: string;
  event_id: string;
  repository: string;
  created_at: number;
  attempts: number;
  last_error: string | null;
}

interface StatusRow {
  endpoint: string;
  pending: number;
  retrying: number;
  oldest_pending_at: number | null;
  delivered: number;
  dropped: number;
  last_success_at: number | null;
  last_failure_at: number | null;
  last_error: string | null;
}

const toDelivery = (row: DeliveryRow): OutboxDelivery => ({
  seq: row.seq,
  endpoint: row.endpoint,
  eventId: row.event_id,
  repository: row.repository,
  payload: row.payload,
  createdAt: row.created_at,
  attempts: row.attempts,
});

const toDropped = (row: DroppedRow): DroppedDelivery => ({
  endpoint: row.endpoint,
  eventId: row.event_id,
  repository: row.repository,
  createdAt: row.created_at,
  attempts: row.attempts,
  lastError: row.last_error,
});

const toStatus = (row: StatusRow): OutboxEndpointStatus => ({
  endpoint: row.endpoint,
  pending: row.pending,
  retrying: row.retrying,
  oldestPendingAt: row.oldest_pending_at,
  delivered: row.delivered,
  dropped: row.dropped,
  lastSuccessAt: row.last_success_at,
  lastFailureAt: row.last_failure_at,
  lastError: row.last_error,
});

const bySeq = (a: { seq: number }, b: { seq: number }) => a.seq - b.seq;

export function createSqliteOutboxStore(db: SqliteDatabase): OutboxStore {
  const statements = {
    enqueue: db.prepare(
      `INSERT INTO outbox (endpoint, event_id, repository, payload, created_at, next_attempt_at)
       VALUES (@endpoint, @eventId, @repository, @payload, @at, @at)`,
    ),
    // The heads, by a loose scan of outbox_queue: each repository with pending deliveries found from
    // the previous one, and its smallest seq, one index seek each. The cost grows with the number of
    // repositories waiting, not with the number of deliveries queued behind them.
    claim: db.prepare(
      `WITH RECURSIVE repos(repository) AS (
         SELECT min(repository) FROM outbox WHERE endpoint = @endpoint
         UNION ALL
         SELECT (SELECT min(repository) FROM outbox WHERE endpoint = @endpoint AND repository > repos.repository)
         FROM repos WHERE repos.repository IS NOT NULL
       ),
       heads(seq) AS (
         SELECT (SELECT min(seq) FROM outbox WHERE endpoint = @endpoint AND repository = repos.repository)
         FROM repos WHERE repos.repository IS NOT NULL
       )
       UPDATE outbox SET claim_holder = @holder, claim_until = @until
       WHERE seq IN (
         SELECT o.seq FROM heads JOIN outbox o ON o.seq = heads.seq
         WHERE o.next_attempt_at <= @now AND o.claim_until <= @now
         ORDER BY o.seq LIMIT @limit
       )
       RETURNING seq, endpoint, event_id, repository, payload, created_at, attempts`,
    ),
    remove: db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING endpoint').pluck(),
    countDelivered: db.prepare(
      `INSERT INTO outbox_endpoints (endpoint, delivered, last_success_at) VALUES (@endpoint, 1, @at)
       ON CONFLICT (endpoint) DO UPDATE SET delivered = delivered + 1,
         last_success_at = max(coalesce(last_success_at, 0), excluded.last_success_at)`,
    ),
    fail: db
      .prepare(
        `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = @nextAttemptAt, last_error = @error,
         claim_holder = NULL, claim_until = 0
       WHERE seq = @seq AND claim_holder = @holder
       RETURNING endpoint`,
      )
      .pluck(),
    recordFailure: db.prepare(
      `INSERT INTO outbox_endpoints (endpoint, last_failure_at, last_error) VALUES (@endpoint, @at, @error)
       ON CONFLICT (endpoint) DO UPDATE SET last_failure_at = excluded.last_failure_at,
         last_error = excluded.last_error
       WHERE coalesce(last_failure_at, 0) <= excluded.last_failure_at`,
    ),
    // Along outbox_created, whose entries end with the rowid (seq): no sort.
    expired: db.prepare(
      `SELECT seq, endpoint, event_id, repository, created_at, attempts, last_error FROM outbox
       WHERE created_at < @createdBefore ORDER BY created_at, seq LIMIT @limit`,
    ),
    countDropped: db.prepare(
      `INSERT INTO outbox_endpoints (endpoint, dropped) VALUES (@endpoint, @count)
       ON CONFLICT (endpoint) DO UPDATE SET dropped = dropped + excluded.dropped`,
    ),
    listStatus: db.prepare(
      `SELECT endpoint, sum(pending) AS pending, sum(retrying) AS retrying,
         min(oldest_pending_at) AS oldest_pending_at, sum(delivered) AS delivered, sum(dropped) AS dropped,
         max(last_success_at) AS last_success_at, max(last_failure_at) AS last_failure_at,
         max(last_error) AS last_error
       FROM (
         SELECT endpoint, 0 AS pending, 0 AS retrying, NULL AS oldest_pending_at, delivered, dropped,
           last_success_at, last_failure_at, last_error
         FROM outbox_endpoints
         UNION ALL
         SELECT endpoint, count(*), sum(attempts > 0), min(created_at), 0, 0, NULL, NULL, NULL
         FROM outbox GROUP BY endpoint
       )
       GROUP BY endpoint ORDER BY endpoint`,
    ),
  };

  const enqueue = db.transaction((rows: ReadonlyArray<Record<string, unknown>>) => {
    for (const row of rows) statements.enqueue.run(row);
  });
  const markDelivered = db.transaction((seq: number, at: number) => {
    const endpoint = statements.remove.get(seq) as string | undefined;
    if (endpoint === undefined) return false;
    statements.countDelivered.run({ endpoint, at });
    return true;
  });
  const markFailed = db.transaction(
    (seq: number, holder: string, at: number, next: number, error: string) => {
      const endpoint = statements.fail.get({ seq, holder, nextAttemptAt: next, error }) as string | undefined;
      if (endpoint === undefined) return false;
      statements.recordFailure.run({ endpoint, at, error });
      return true;
    },
  );
  const dropExpired = db.transaction((createdBefore: number, limit: number) => {
    const rows = statements.expired.all({ createdBefore, limit }) as DroppedRow[];
    const counts = new Map<string, number>();
    for (const row of rows) {
      if (statements.remove.get(row.seq) === undefined) continue;
      counts.set(row.endpoint, (counts.get(row.endpoint) ?? 0) + 1);
    }
    for (const [endpoint, count] of counts) statements.countDropped.run({ endpoint, count });
    return rows.sort(bySeq).map(toDropped);
  });

  const sync: Synchronous<OutboxStore> = {
    enqueue(entries, at) {
      const rows = entries.flatMap(({ eventId, repository, payload, endpoints }) =>
        endpoints.map((endpoint) => ({ endpoint, eventId, repository, payload, at })),
      );
      if (rows.length === 1) statements.enqueue.run(rows[0]);
      else if (rows.length > 1) enqueue.immediate(rows);
    },
    claim(endpoint, { holder, now, until, limit }) {
      if (limit <= 0) return [];
      const rows = statements.claim.all({ endpoint, holder, now, until, limit }) as DeliveryRow[];
      return rows.sort(bySeq).map(toDelivery);
    },
    markDelivered: (seq, at) => markDelivered.immediate(seq, at),
    markFailed: (seq, holder, { at, nextAttemptAt, error }) =>
      markFailed.immediate(seq, holder, at, nextAttemptAt, error),
    dropExpired: (createdBefore, limit) => (limit <= 0 ? [] : dropExpired.immediate(createdBefore, limit)),
    listStatus: () => (statements.listStatus.all() as StatusRow[]).map(toStatus),
  };

  return asAsync<OutboxStore>(sync, connectionLock(db).run);
}
