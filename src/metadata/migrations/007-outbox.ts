// The webhook outbox (src/notifications/outbox-store.ts):
// - outbox: one row per pending delivery of an event to an endpoint, numbered in enqueue order (seq,
//   AUTOINCREMENT so that a number is never used twice, even after the last row went). A worker claims
//   the head of each repository's queue for an endpoint (outbox_queue: the smallest seq per
//   (endpoint, repository)); a row leaves the table when delivered or dropped (outbox_created finds
//   those older than maxAge);
// - outbox_endpoints: per endpoint, what happened to the rows that left: delivered and dropped counts,
//   the last success and the last failure with its error.
// Endpoints are names from the configuration, not rows: an endpoint removed from it keeps its pending
// rows until they age out.
export const up = `
CREATE TABLE outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  endpoint        TEXT NOT NULL,
  event_id        TEXT NOT NULL,
  repository      TEXT NOT NULL,
  payload         TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  claim_holder    TEXT,
  claim_until     INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
);
CREATE INDEX outbox_queue ON outbox(endpoint, repository, seq);
CREATE INDEX outbox_created ON outbox(created_at);

CREATE TABLE outbox_endpoints (
  endpoint        TEXT PRIMARY KEY,
  delivered       INTEGER NOT NULL DEFAULT 0,
  dropped         INTEGER NOT NULL DEFAULT 0,
  last_success_at INTEGER,
  last_failure_at INTEGER,
  last_error      TEXT
) WITHOUT ROWID;
`;
