// Garbage collection (src/gc): review queues filled by triggers, digest holds and sweep markers (the
// content guard), and notes on storage objects that no record knows. Contracts: src/gc/gc-store.ts.
//
// Queues are append-only logs (no unique key, so an event never waits on another transaction's),
// read grouped by candidate; queued_at is the database's clock in ms (julianday('now') holds
// SQLite's ms clock as a float: rounded back to the ms). Triggers:
// - tags: moved or deleted  -> the manifest it pointed at;
// - manifests: deleted      -> its own bytes (blob queue) and the manifests whose subject it was;
//              inserted      -> itself, when it is a referrer whose subject is not in the repository;
// - manifest_references: deleted (with their manifest) -> the blob or child manifest referenced;
// - repository_blobs: inserted or deleted -> the blob;
// - uploads: deleted        -> the session's storage;
// - repositories: deleted   -> its manifest queue entries go (cascades fired the triggers above first).
// Triggers fire for rows that foreign-key cascades delete, too.
const now = `CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)`;

export const up = `
CREATE TABLE gc_manifest_queue (
  id            INTEGER PRIMARY KEY,
  repository_id INTEGER NOT NULL,
  digest        TEXT NOT NULL,
  queued_at     INTEGER NOT NULL
);
CREATE INDEX gc_manifest_queue_candidate ON gc_manifest_queue(repository_id, digest, queued_at);

CREATE TABLE gc_blob_queue (
  id        INTEGER PRIMARY KEY,
  digest    TEXT NOT NULL,
  queued_at INTEGER NOT NULL
);
CREATE INDEX gc_blob_queue_candidate ON gc_blob_queue(digest, queued_at);

CREATE TABLE gc_upload_queue (
  id        TEXT PRIMARY KEY,
  queued_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX gc_upload_queue_due ON gc_upload_queue(queued_at);

-- Writers' holds: shared per digest (one row per holder), until a time in ms.
CREATE TABLE gc_holds (
  digest TEXT NOT NULL,
  holder TEXT NOT NULL,
  until  INTEGER NOT NULL,
  PRIMARY KEY (digest, holder)
) WITHOUT ROWID;
CREATE INDEX gc_holds_holder ON gc_holds(holder);

-- Sweep markers: one sweeper per digest, from the deletion of its record to that of its bytes.
CREATE TABLE gc_sweeps (
  digest TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  until  INTEGER NOT NULL
) WITHOUT ROWID;

-- Storage keys that no record knows: when a run first and last saw them so.
CREATE TABLE gc_orphans (
  key        TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER gc_tag_moved AFTER UPDATE OF digest ON tags WHEN OLD.digest <> NEW.digest
BEGIN
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  VALUES (OLD.repository_id, OLD.digest, ${now});
END;

CREATE TRIGGER gc_tag_deleted AFTER DELETE ON tags
BEGIN
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  VALUES (OLD.repository_id, OLD.digest, ${now});
END;

CREATE TRIGGER gc_manifest_deleted AFTER DELETE ON manifests
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at) VALUES (OLD.digest, ${now});
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  SELECT repository_id, digest, ${now} FROM manifests
  WHERE repository_id = OLD.repository_id AND subject_digest = OLD.digest;
END;

CREATE TRIGGER gc_referrer_without_subject AFTER INSERT ON manifests
WHEN NEW.subject_digest IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM manifests WHERE repository_id = NEW.repository_id AND digest = NEW.subject_digest
)
BEGIN
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  VALUES (NEW.repository_id, NEW.digest, ${now});
END;

CREATE TRIGGER gc_reference_deleted AFTER DELETE ON manifest_references
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at)
  SELECT OLD.target_digest, ${now} WHERE OLD.kind = 'blob';
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  SELECT OLD.repository_id, OLD.target_digest, ${now} WHERE OLD.kind = 'manifest';
END;

CREATE TRIGGER gc_blob_linked AFTER INSERT ON repository_blobs
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at) VALUES (NEW.digest, ${now});
END;

CREATE TRIGGER gc_blob_unlinked AFTER DELETE ON repository_blobs
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at) VALUES (OLD.digest, ${now});
END;

CREATE TRIGGER gc_upload_deleted AFTER DELETE ON uploads
BEGIN
  INSERT INTO gc_upload_queue (id, queued_at) VALUES (OLD.id, ${now})
  ON CONFLICT (id) DO UPDATE SET queued_at = excluded.queued_at;
END;

CREATE TRIGGER gc_repository_deleted AFTER DELETE ON repositories
BEGIN
  DELETE FROM gc_manifest_queue WHERE repository_id = OLD.id;
END;
`;
