// namespace rules: see the SQLite migration 010-policies.ts (the same tables, counts and triggers).
//
// Concurrency: every count change locks its namespace's usage row first (an upsert), then the
// digest's row, so changes in one namespace are serialized on that row until their transaction ends
// and never take the two in opposite orders. A digest's first holder (refs reaching 1) adds its size
// and its last holder (refs reaching 0) takes it away, as read back from the row it changed. Writes
// in one namespace thus wait for each other's commit (transactions of the index are a few
// statements); other namespaces are unaffected.
export const up = `
CREATE TABLE immutable_tag_rules (
  namespace          TEXT COLLATE "C" NOT NULL,
  position           INTEGER NOT NULL,
  tag_pattern        TEXT COLLATE "C" NOT NULL,
  repository_pattern TEXT COLLATE "C",
  PRIMARY KEY (namespace, position)
);

CREATE TABLE namespace_quotas (
  namespace   TEXT COLLATE "C" PRIMARY KEY,
  limit_bytes BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);

CREATE TABLE namespace_usage (
  namespace TEXT COLLATE "C" PRIMARY KEY,
  bytes     BIGINT NOT NULL
);

CREATE TABLE namespace_digests (
  namespace TEXT COLLATE "C" NOT NULL,
  digest    TEXT COLLATE "C" NOT NULL,
  refs      BIGINT NOT NULL,
  size      BIGINT NOT NULL,
  PRIMARY KEY (namespace, digest)
);

-- keep_patterns: a JSON array of tag patterns, kept as written, like SQLite's TEXT column.
CREATE TABLE retention_policies (
  scope             TEXT NOT NULL CHECK (scope IN ('namespace', 'repository')),
  name              TEXT COLLATE "C" NOT NULL,
  keep_latest_count INTEGER,
  keep_latest_by    TEXT CHECK (keep_latest_by IN ('pushed', 'pulled')),
  keep_patterns     JSON NOT NULL,
  untagged_after    TEXT,
  updated_at        BIGINT NOT NULL,
  PRIMARY KEY (scope, name)
);

CREATE FUNCTION berth_namespace_of(repo BIGINT) RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT split_part(name, '/', 1) FROM repositories WHERE id = repo
$$;

-- Counts (delta 1) or uncounts (delta -1) one holder of a digest in a namespace.
CREATE FUNCTION berth_count_digest(ns TEXT, d TEXT, sz BIGINT, delta INTEGER) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  remaining BIGINT;
  counted   BIGINT;
BEGIN
  IF ns IS NULL THEN RETURN; END IF;
  INSERT INTO namespace_usage (namespace, bytes) VALUES (ns, 0)
  ON CONFLICT (namespace) DO UPDATE SET bytes = namespace_usage.bytes;
  IF delta > 0 THEN
    INSERT INTO namespace_digests (namespace, digest, refs, size) VALUES (ns, d, 1, sz)
    ON CONFLICT (namespace, digest) DO UPDATE SET refs = namespace_digests.refs + 1
    RETURNING refs INTO remaining;
    IF remaining = 1 THEN
      UPDATE namespace_usage SET bytes = bytes + sz WHERE namespace = ns;
    END IF;
  ELSE
    UPDATE namespace_digests SET refs = refs - 1 WHERE namespace = ns AND digest = d
    RETURNING refs, size INTO remaining, counted;
    IF remaining <= 0 THEN
      DELETE FROM namespace_digests WHERE namespace = ns AND digest = d;
      UPDATE namespace_usage SET bytes = bytes - counted WHERE namespace = ns;
    END IF;
  END IF;
END
$$;

-- Counts a namespace's digests and usage again from the index.
CREATE FUNCTION berth_recount_namespace(ns TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO namespace_usage (namespace, bytes) VALUES (ns, 0)
  ON CONFLICT (namespace) DO UPDATE SET bytes = namespace_usage.bytes;
  DELETE FROM namespace_digests WHERE namespace = ns;
  INSERT INTO namespace_digests (namespace, digest, refs, size)
  SELECT ns, digest, count(*), max(size) FROM (
    SELECT rb.digest, b.size FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
    WHERE r.name = ns OR (r.name >= ns || '/' AND r.name < ns || '0')
    UNION ALL
    SELECT m.digest, m.size FROM repositories r JOIN manifests m ON m.repository_id = r.id
    WHERE r.name = ns OR (r.name >= ns || '/' AND r.name < ns || '0')
  ) AS holders GROUP BY digest;
  UPDATE namespace_usage
  SET bytes = coalesce((SELECT sum(size) FROM namespace_digests WHERE namespace = ns), 0)
  WHERE namespace = ns;
END
$$;

CREATE FUNCTION berth_quota_count_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM berth_count_digest(berth_namespace_of(NEW.repository_id), NEW.digest,
      (SELECT size FROM blobs WHERE digest = NEW.digest), 1);
  ELSE
    PERFORM berth_count_digest(berth_namespace_of(OLD.repository_id), OLD.digest, 0, -1);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION berth_quota_count_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM berth_count_digest(berth_namespace_of(NEW.repository_id), NEW.digest, NEW.size, 1);
  ELSE
    PERFORM berth_count_digest(berth_namespace_of(OLD.repository_id), OLD.digest, 0, -1);
  END IF;
  RETURN NULL;
END
$$;

-- A repository deleted: its links and manifests go by cascade, once its row (and so its name) is gone,
-- so the triggers above cannot tell their namespace (they do nothing). The namespace is counted again.
CREATE FUNCTION berth_quota_recount_repository() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM berth_recount_namespace(split_part(OLD.name, '/', 1));
  RETURN NULL;
END
$$;

-- AFTER ROW triggers fire by name: foreign-key cascades and the catalog's counters (which lock the
-- repository's row) come first, so the namespace's usage row is always locked after them.
CREATE TRIGGER quota_count_link AFTER INSERT OR DELETE ON repository_blobs
FOR EACH ROW EXECUTE FUNCTION berth_quota_count_link();
CREATE TRIGGER quota_count_manifest AFTER INSERT OR DELETE ON manifests
FOR EACH ROW EXECUTE FUNCTION berth_quota_count_manifest();
CREATE TRIGGER quota_recount_repository AFTER DELETE ON repositories
FOR EACH ROW EXECUTE FUNCTION berth_quota_recount_repository();

INSERT INTO namespace_digests (namespace, digest, refs, size)
SELECT namespace, digest, count(*), max(size) FROM (
  SELECT split_part(r.name, '/', 1) AS namespace, rb.digest, b.size FROM repository_blobs rb
  JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
  UNION ALL
  SELECT split_part(r.name, '/', 1), m.digest, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
) AS holders GROUP BY namespace, digest;

INSERT INTO namespace_usage (namespace, bytes)
SELECT namespace, sum(size) FROM namespace_digests GROUP BY namespace;
`;
