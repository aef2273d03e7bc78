// Garbage collection: the tables and triggers of the SQLite migration 009-gc.ts (see it for what
// each trigger queues), for PostgreSQL, plus gc_hold(): a writer's hold in one round trip.
//
// Holds and sweeps exclude each other through transaction-level advisory locks on (GC_LOCK_CLASS,
// hashtext(digest)): gc_hold() takes them shared, a review or a sweep exclusive. The lock is taken
// in a statement of its own before the rows are read, so under READ COMMITTED the reading statement
// sees every hold or sweep committed by a transaction that had the lock before: a sweeper never
// misses a hold taken concurrently, and a writer never misses a sweep (PostgreSQL "Advisory Locks";
// a VOLATILE function's statements each take a fresh snapshot). Two digests sharing a hash only
// serialize each other.

/** First key of the advisory locks on digests (two-key form: apart from single-key locks). */
export const GC_LOCK_CLASS = 0x6763; // "gc"

const now = `floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

export const up = `
CREATE TABLE gc_manifest_queue (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repository_id BIGINT NOT NULL,
  digest        TEXT COLLATE "C" NOT NULL,
  queued_at     BIGINT NOT NULL
);
CREATE INDEX gc_manifest_queue_candidate ON gc_manifest_queue(repository_id, digest, queued_at, id);

CREATE TABLE gc_blob_queue (
  id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  digest    TEXT COLLATE "C" NOT NULL,
  queued_at BIGINT NOT NULL
);
CREATE INDEX gc_blob_queue_candidate ON gc_blob_queue(digest, queued_at, id);

CREATE TABLE gc_upload_queue (
  id        TEXT COLLATE "C" PRIMARY KEY,
  queued_at BIGINT NOT NULL
);
CREATE INDEX gc_upload_queue_due ON gc_upload_queue(queued_at);

CREATE TABLE gc_holds (
  digest TEXT COLLATE "C" NOT NULL,
  holder TEXT COLLATE "C" NOT NULL,
  until  BIGINT NOT NULL,
  PRIMARY KEY (digest, holder)
);
CREATE INDEX gc_holds_holder ON gc_holds(holder);

CREATE TABLE gc_sweeps (
  digest TEXT COLLATE "C" PRIMARY KEY,
  holder TEXT COLLATE "C" NOT NULL,
  until  BIGINT NOT NULL
);

CREATE TABLE gc_orphans (
  key        TEXT COLLATE "C" PRIMARY KEY,
  first_seen BIGINT NOT NULL,
  last_seen  BIGINT NOT NULL
);

CREATE FUNCTION gc_hold(p_digests text[], p_holder text, p_now bigint, p_until bigint)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(${GC_LOCK_CLASS}, hashtext(d))
  FROM (SELECT DISTINCT d FROM unnest(p_digests) AS d ORDER BY d) AS sorted;
  IF EXISTS (SELECT 1 FROM gc_sweeps s WHERE s.digest = ANY(p_digests) AND s.until > p_now) THEN
    RETURN false;
  END IF;
  INSERT INTO gc_holds (digest, holder, until)
  SELECT DISTINCT d, p_holder, p_until FROM unnest(p_digests) AS d
  ON CONFLICT (digest, holder) DO UPDATE SET until = EXCLUDED.until;
  RETURN true;
END $$;

CREATE FUNCTION gc_queue_tag_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  VALUES (OLD.repository_id, OLD.digest, ${now});
  RETURN NULL;
END $$;
CREATE TRIGGER gc_tag_moved AFTER UPDATE OF digest ON tags
  FOR EACH ROW WHEN (OLD.digest IS DISTINCT FROM NEW.digest) EXECUTE FUNCTION gc_queue_tag_manifest();
CREATE TRIGGER gc_tag_deleted AFTER DELETE ON tags
  FOR EACH ROW EXECUTE FUNCTION gc_queue_tag_manifest();

CREATE FUNCTION gc_queue_deleted_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at) VALUES (OLD.digest, ${now});
  INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
  SELECT repository_id, digest, ${now} FROM manifests
  WHERE repository_id = OLD.repository_id AND subject_digest = OLD.digest;
  RETURN NULL;
END $$;
CREATE TRIGGER gc_manifest_deleted AFTER DELETE ON manifests
  FOR EACH ROW EXECUTE FUNCTION gc_queue_deleted_manifest();

CREATE FUNCTION gc_queue_referrer_without_subject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM manifests WHERE repository_id = NEW.repository_id AND digest = NEW.subject_digest
  ) THEN
    INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
    VALUES (NEW.repository_id, NEW.digest, ${now});
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER gc_referrer_without_subject AFTER INSERT ON manifests
  FOR EACH ROW WHEN (NEW.subject_digest IS NOT NULL) EXECUTE FUNCTION gc_queue_referrer_without_subject();

CREATE FUNCTION gc_queue_deleted_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.kind = 'blob' THEN
    INSERT INTO gc_blob_queue (digest, queued_at) VALUES (OLD.target_digest, ${now});
  ELSE
    INSERT INTO gc_manifest_queue (repository_id, digest, queued_at)
    VALUES (OLD.repository_id, OLD.target_digest, ${now});
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER gc_reference_deleted AFTER DELETE ON manifest_references
  FOR EACH ROW EXECUTE FUNCTION gc_queue_deleted_reference();

CREATE FUNCTION gc_queue_linked_blob() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO gc_blob_queue (digest, queued_at)
  VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.digest ELSE NEW.digest END, ${now});
  RETURN NULL;
END $$;
CREATE TRIGGER gc_blob_linked AFTER INSERT ON repository_blobs
  FOR EACH ROW EXECUTE FUNCTION gc_queue_linked_blob();
CREATE TRIGGER gc_blob_unlinked AFTER DELETE ON repository_blobs
  FOR EACH ROW EXECUTE FUNCTION gc_queue_linked_blob();

CREATE FUNCTION gc_queue_deleted_upload() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO gc_upload_queue (id, queued_at) VALUES (OLD.id, ${now})
  ON CONFLICT (id) DO UPDATE SET queued_at = EXCLUDED.queued_at;
  RETURN NULL;
END $$;
CREATE TRIGGER gc_upload_deleted AFTER DELETE ON uploads
  FOR EACH ROW EXECUTE FUNCTION gc_queue_deleted_upload();

-- Deferred to the commit: the triggers of rows that the foreign keys' cascades delete fire after the
-- repository's own AFTER triggers, and queue entries for it that must go too.
CREATE FUNCTION gc_forget_repository() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM gc_manifest_queue WHERE repository_id = OLD.id;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER gc_repository_deleted AFTER DELETE ON repositories
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gc_forget_repository();
`;
