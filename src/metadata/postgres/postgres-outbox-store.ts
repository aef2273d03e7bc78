// OutboxStore on PostgreSQL, shared by every replica: the only place with the webhook outbox's SQL
// for it (tables of migrations/006-outbox.ts). Each call is one statement at READ COMMITTED on any
// pooled connection, prepared once per connection (db.ts `statement`); a call that also counts an
// outcome is one statement with a data-modifying CTE. A claim is one UPDATE whose conditions are
// checked again on each row it waits for, so a row another worker claimed meanwhile is skipped, never
// claimed twice. Order: `seq` comes from an identity column, assigned when the INSERT runs; the
// notifier issues one enqueue at a time per process, so a process's events are numbered and committed
// in the order they happened (events of two replicas at the same moment have no order between them).
// BIGINT columns and sums arrive as strings and are converted to numbers (toNumber). Failures of an
// unreachable server become StoreUnavailableError (unavailable.ts).
import type {
  DroppedDelivery,
  OutboxDelivery,
  OutboxEndpointStatus,
  OutboxStore,
} from '../../notifications/outbox-store.js';
import { statement, toNumber, type BigintColumn, type PostgresPool } from './db.js';
import { reportingUnavailable } from './unavailable.js';

interface DeliveryRow {
  seq: BigintColumn;
  endpoint: string;
  event_id: string;
  repository: string;
  payload: string;
  created_at: BigintColumn;
  attempts: number;
}

interface DroppedRow {
  seq: BigintColumn;
  endpoint: string;
  event_id: string;
  repository: string;
  created_at: BigintColumn;
  attempts: number;
  last_error: string | null;
}

interface StatusRow {
  endpoint: string;
  pending: BigintColumn;
  retrying: BigintColumn;
  oldest_pending_at: BigintColumn | null;
  delivered: BigintColumn;
  dropped: BigintColumn;
  last_success_at: BigintColumn | null;
  last_failure_at: BigintColumn | null;
  last_error: string | null;
}

const orNull = (value: BigintColumn | null) => (value === null ? null : toNumber(value));

const toDelivery = (row: DeliveryRow): OutboxDelivery => ({
  seq: toNumber(row.seq),
  endpoint: row.endpoint,
  eventId: row.event_id,
  repository: row.repository,
  payload: row.payload,
  createdAt: toNumber(row.created_at),
  attempts: row.attempts,
});

const toDropped = (row: DroppedRow): DroppedDelivery => ({
  endpoint: row.endpoint,
  eventId: row.event_id,
  repository: row.repository,
  createdAt: toNumber(row.created_at),
  attempts: row.attempts,
  lastError: row.last_error,
});

const toStatus = (row: StatusRow): OutboxEndpointStatus => ({
  endpoint: row.endpoint,
  pending: toNumber(row.pending),
  retrying: toNumber(row.retrying),
  oldestPendingAt: orNull(row.oldest_pending_at),
  delivered: toNumber(row.delivered),
  dropped: toNumber(row.dropped),
  lastSuccessAt: orNull(row.last_success_at),
  lastFailureAt: orNull(row.last_failure_at),
  lastError: row.last_error,
});

export function createPostgresOutboxStore(pool: PostgresPool): OutboxStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;
  const run = async (text: string, values: unknown[]): Promise<void> => {
    await pool.query(statement(text, values));
  };
  const counted = async (text: string, values: unknown[]): Promise<number> =>
    (await rows<{ count: number }>(text, values))[0]?.count ?? 0;

  return reportingUnavailable<OutboxStore>({
    async enqueue(entries, at) {
      const deliveries = entries.flatMap(({ eventId, repository, payload, endpoints }) =>
        endpoints.map((endpoint) => ({ endpoint, eventId, repository, payload })),
      );
      if (deliveries.length === 0) return;
      const [only] = deliveries;
      if (deliveries.length === 1 && only) {
        await run(
          `INSERT INTO outbox (endpoint, event_id, repository, payload, created_at, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $5)`,
          [only.endpoint, only.eventId, only.repository, only.payload, at],
        );
        return;
      }
      // One statement, numbered in the order given.
      await run(
        `INSERT INTO outbox (endpoint, event_id, repository, payload, created_at, next_attempt_at)
         SELECT endpoint, event_id, repository, payload, $5::bigint, $5::bigint
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           WITH ORDINALITY AS d(endpoint, event_id, repository, payload, n)
         ORDER BY n`,
        [
          deliveries.map((d) => d.endpoint),
          deliveries.map((d) => d.eventId),
          deliveries.map((d) => d.repository),
          deliveries.map((d) => d.payload),
          at,
        ],
      );
    },
    async claim(endpoint, { holder, now, until, limit }) {
      if (limit <= 0) return [];
      // The heads, by a loose scan of outbox_queue (each repository with pending deliveries found from
      // the previous one, and its smallest seq: one index seek each, however many deliveries queue
      // behind them); those due and unclaimed, earliest first; then each claimed unless another worker
      // claimed it meanwhile.
      const claimed = await rows<DeliveryRow>(
        `WITH RECURSIVE repos AS (
           (SELECT repository FROM outbox WHERE endpoint = $1 ORDER BY repository LIMIT 1)
           UNION ALL
           SELECT (SELECT o.repository FROM outbox o WHERE o.endpoint = $1 AND o.repository > repos.repository
                   ORDER BY o.repository LIMIT 1)
           FROM repos WHERE repos.repository IS NOT NULL
         ),
         heads AS (
           SELECT head.seq, head.next_attempt_at, head.claim_until FROM repos
           CROSS JOIN LATERAL (
             SELECT seq, next_attempt_at, claim_until FROM outbox
             WHERE endpoint = $1 AND repository = repos.repository ORDER BY seq LIMIT 1
           ) AS head
         ),
         due AS (
           SELECT seq FROM heads WHERE next_attempt_at <= $2 AND claim_until <= $2 ORDER BY seq LIMIT $4
         )
         UPDATE outbox o SET claim_holder = $3, claim_until = $5 FROM due
         WHERE o.seq = due.seq AND o.next_attempt_at <= $2 AND o.claim_until <= $2
         RETURNING o.seq, o.endpoint, o.event_id, o.repository, o.payload, o.created_at, o.attempts`,
        [endpoint, now, holder, limit, until],
      );
      return claimed.map(toDelivery).sort((a, b) => a.seq - b.seq);
    },
    async markDelivered(seq, at) {
      const count = await counted(
        `WITH gone AS (DELETE FROM outbox WHERE seq = $1 RETURNING endpoint),
         recorded AS (
           INSERT INTO outbox_endpoints AS s (endpoint, delivered, last_success_at)
           SELECT endpoint, 1, $2::bigint FROM gone
           ON CONFLICT (endpoint) DO UPDATE SET delivered = s.delivered + 1,
             last_success_at = GREATEST(s.last_success_at, excluded.last_success_at)
         )
         SELECT count(*)::int AS count FROM gone`,
        [seq, at],
      );
      return count === 1;
    },
    async markFailed(seq, holder, { at, nextAttemptAt, error }) {
      const count = await counted(
        `WITH failed AS (
           UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $3, last_error = $5,
             claim_holder = NULL, claim_until = 0
           WHERE seq = $1 AND claim_holder = $2
           RETURNING endpoint
         ),
         recorded AS (
           INSERT INTO outbox_endpoints AS s (endpoint, last_failure_at, last_error)
           SELECT endpoint, $4::bigint, $5::text FROM failed
           ON CONFLICT (endpoint) DO UPDATE SET last_failure_at = excluded.last_failure_at,
             last_error = excluded.last_error
           WHERE s.last_failure_at IS NULL OR s.last_failure_at <= excluded.last_failure_at
         )
         SELECT count(*)::int AS count FROM failed`,
        [seq, holder, nextAttemptAt, at, error],
      );
      return count === 1;
    },
    async dropExpired(createdBefore, limit) {
      if (limit <= 0) return [];
      const dropped = await rows<DroppedRow>(
        `WITH gone AS (
           DELETE FROM outbox WHERE seq IN (
             SELECT seq FROM outbox WHERE created_at < $1 ORDER BY created_at, seq LIMIT $2
           )
           RETURNING seq, endpoint, event_id, repository, created_at, attempts, last_error
         ),
         recorded AS (
           INSERT INTO outbox_endpoints AS s (endpoint, dropped)
           SELECT endpoint, count(*) FROM gone GROUP BY endpoint
           ON CONFLICT (endpoint) DO UPDATE SET dropped = s.dropped + excluded.dropped
         )
         SELECT seq, endpoint, event_id, repository, created_at, attempts, last_error FROM gone ORDER BY seq`,
        [createdBefore, limit],
      );
      return dropped.map(toDropped);
    },
    async listStatus() {
      const found = await rows<StatusRow>(
        `SELECT endpoint, sum(pending) AS pending, sum(retrying) AS retrying,
           min(oldest_pending_at) AS oldest_pending_at, sum(delivered) AS delivered, sum(dropped) AS dropped,
           max(last_success_at) AS last_success_at, max(last_failure_at) AS last_failure_at,
           max(last_error) AS last_error
         FROM (
           SELECT endpoint, 0::bigint AS pending, 0::bigint AS retrying, NULL::bigint AS oldest_pending_at,
             delivered, dropped, last_success_at, last_failure_at, last_error
           FROM outbox_endpoints
           UNION ALL
           SELECT endpoint, count(*), count(*) FILTER (WHERE attempts > 0), min(created_at), 0, 0,
             NULL, NULL, NULL
           FROM outbox GROUP BY endpoint
         ) AS parts
         GROUP BY endpoint ORDER BY endpoint`,
        [],
      );
      return found.map(toStatus);
    },
  });
}
