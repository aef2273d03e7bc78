// Garbage collection run history (src/gc/runs.ts records it; contracts in src/gc/gc-store.ts): one row
// per run, whatever started it (trigger: the server's schedule, `berth gc`, the management API),
// numbered in the order runs started (id, AUTOINCREMENT so that a number is never used twice, even
// after the last row went: ids are the API's cursors). A run is recorded as running once it holds the
// `gc-run` job lease and gets its outcome when it ends: the counters of its report when it succeeded,
// the error when it failed. Recording a run closes the rows still running (their process died) and
// keeps only the newest GC_RUNS_KEPT rows. Times are ms since the epoch.
export const up = `
CREATE TABLE gc_runs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  trigger           TEXT NOT NULL CHECK (trigger IN ('scheduled', 'cli', 'api')),
  dry_run           INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
  delay_ms          INTEGER NOT NULL,
  host              TEXT NOT NULL,
  started_at        INTEGER NOT NULL,
  finished_at       INTEGER,
  status            TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  error             TEXT,
  manifests_deleted INTEGER,
  links_removed     INTEGER,
  blobs_deleted     INTEGER,
  bytes_freed       INTEGER,
  orphans_deleted   INTEGER,
  orphan_bytes      INTEGER,
  orphans_left      INTEGER,
  uploads_purged    INTEGER,
  upload_leftovers  INTEGER,
  held              INTEGER
);
CREATE INDEX gc_runs_running ON gc_runs(status) WHERE status = 'running';
`;
