// namespace rules (src/policies): immutable tags, quotas, retention. Written with issue 11.
//
// Rules are keyed by the namespace string (a repository name's first component), in every auth mode.
//
// Usage, kept by the database itself so that a quota check is one lookup: namespace_digests counts,
// per namespace and digest, the rows holding it (repository_blobs links and manifests of the
// namespace's repositories), and namespace_usage the sum of the sizes of the digests counted there, each
// once. The triggers below keep both in step with every insert and delete; a deleted repository has
// its namespace counted again (its rows go by cascade, after its name). Writes to one SQLite database
// are serialized, so the counts never race. Existing content is counted when the migration runs.
export const up = `
CREATE TABLE immutable_tag_rules (
  namespace          TEXT NOT NULL,
  position           INTEGER NOT NULL,
  tag_pattern        TEXT NOT NULL,
  repository_pattern TEXT,
  PRIMARY KEY (namespace, position)
) WITHOUT ROWID;

CREATE TABLE namespace_quotas (
  namespace   TEXT PRIMARY KEY,
  limit_bytes INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE namespace_usage (
  namespace TEXT PRIMARY KEY,
  bytes     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE namespace_digests (
  namespace TEXT NOT NULL,
  digest    TEXT NOT NULL,
  refs      INTEGER NOT NULL,
  size      INTEGER NOT NULL,
  PRIMARY KEY (namespace, digest)
) WITHOUT ROWID;

-- keep_patterns: a JSON array of tag patterns.
CREATE TABLE retention_policies (
  scope             TEXT NOT NULL CHECK (scope IN ('namespace', 'repository')),
  name              TEXT NOT NULL,
  keep_latest_count INTEGER,
  keep_latest_by    TEXT CHECK (keep_latest_by IN ('pushed', 'pulled')),
  keep_patterns     TEXT NOT NULL,
  untagged_after    TEXT,
  updated_at        INTEGER NOT NULL,
  PRIMARY KEY (scope, name)
) WITHOUT ROWID;

CREATE VIEW repository_namespaces (id, namespace) AS
  SELECT id, CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
  FROM repositories;

-- One row inserted here counts (delta 1) or uncounts (delta -1) one holder of a digest.
CREATE VIEW namespace_digest_changes (namespace, digest, size, delta) AS
  SELECT NULL, NULL, NULL, NULL WHERE 0;

-- A digest's first holder in the namespace adds its size (the usage row is made with it).
CREATE TRIGGER namespace_digest_counted INSTEAD OF INSERT ON namespace_digest_changes
WHEN NEW.namespace IS NOT NULL AND NEW.delta > 0
BEGIN
  INSERT INTO namespace_digests (namespace, digest, refs, size) VALUES (NEW.namespace, NEW.digest, 1, NEW.size)
  ON CONFLICT (namespace, digest) DO UPDATE SET refs = refs + 1;
  INSERT INTO namespace_usage (namespace, bytes)
  SELECT NEW.namespace, NEW.size
  WHERE (SELECT refs FROM namespace_digests WHERE namespace = NEW.namespace AND digest = NEW.digest) = 1
  ON CONFLICT (namespace) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

-- Its last holder takes it away.
CREATE TRIGGER namespace_digest_uncounted INSTEAD OF INSERT ON namespace_digest_changes
WHEN NEW.namespace IS NOT NULL AND NEW.delta < 0
BEGIN
  UPDATE namespace_digests SET refs = refs - 1 WHERE namespace = NEW.namespace AND digest = NEW.digest;
  UPDATE namespace_usage
  SET bytes = bytes - (SELECT size FROM namespace_digests WHERE namespace = NEW.namespace AND digest = NEW.digest)
  WHERE namespace = NEW.namespace
    AND EXISTS (SELECT 1 FROM namespace_digests WHERE namespace = NEW.namespace AND digest = NEW.digest AND refs <= 0);
  DELETE FROM namespace_digests WHERE namespace = NEW.namespace AND digest = NEW.digest AND refs <= 0;
END;

-- One row inserted here counts a namespace's digests and usage again from the index.
CREATE VIEW namespace_recounts (namespace) AS SELECT NULL WHERE 0;

CREATE TRIGGER namespace_recount INSTEAD OF INSERT ON namespace_recounts
BEGIN
  DELETE FROM namespace_digests WHERE namespace = NEW.namespace;
  INSERT INTO namespace_digests (namespace, digest, refs, size)
  SELECT NEW.namespace, digest, count(*), max(size) FROM (
    SELECT rb.digest, b.size FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
    WHERE r.name = NEW.namespace OR (r.name >= NEW.namespace || '/' AND r.name < NEW.namespace || '0')
    UNION ALL
    SELECT m.digest, m.size FROM repositories r JOIN manifests m ON m.repository_id = r.id
    WHERE r.name = NEW.namespace OR (r.name >= NEW.namespace || '/' AND r.name < NEW.namespace || '0')
  ) GROUP BY digest;
  INSERT INTO namespace_usage (namespace, bytes) VALUES (NEW.namespace, 0) ON CONFLICT DO NOTHING;
  UPDATE namespace_usage
  SET bytes = coalesce((SELECT sum(size) FROM namespace_digests WHERE namespace = NEW.namespace), 0)
  WHERE namespace = NEW.namespace;
END;

CREATE TRIGGER repository_blobs_count AFTER INSERT ON repository_blobs
BEGIN
  INSERT INTO namespace_digest_changes (namespace, digest, size, delta)
  SELECT (SELECT namespace FROM repository_namespaces WHERE id = NEW.repository_id), NEW.digest, b.size, 1
  FROM blobs b WHERE b.digest = NEW.digest;
END;

CREATE TRIGGER repository_blobs_uncount AFTER DELETE ON repository_blobs
BEGIN
  INSERT INTO namespace_digest_changes (namespace, digest, size, delta)
  VALUES ((SELECT namespace FROM repository_namespaces WHERE id = OLD.repository_id), OLD.digest, 0, -1);
END;

CREATE TRIGGER manifests_count AFTER INSERT ON manifests
BEGIN
  INSERT INTO namespace_digest_changes (namespace, digest, size, delta)
  VALUES ((SELECT namespace FROM repository_namespaces WHERE id = NEW.repository_id), NEW.digest, NEW.size, 1);
END;

CREATE TRIGGER manifests_uncount AFTER DELETE ON manifests
BEGIN
  INSERT INTO namespace_digest_changes (namespace, digest, size, delta)
  VALUES ((SELECT namespace FROM repository_namespaces WHERE id = OLD.repository_id), OLD.digest, 0, -1);
END;

-- A repository deleted: its links and manifests go by cascade, once its row (and so its name) is gone,
-- so the triggers above cannot tell their namespace (they do nothing). The namespace is counted again.
CREATE TRIGGER repositories_recount AFTER DELETE ON repositories
BEGIN
  INSERT INTO namespace_recounts (namespace)
  VALUES (CASE WHEN instr(OLD.name, '/') > 0 THEN substr(OLD.name, 1, instr(OLD.name, '/') - 1) ELSE OLD.name END);
END;

INSERT INTO namespace_digests (namespace, digest, refs, size)
SELECT namespace, digest, count(*), max(size) FROM (
  SELECT rn.namespace, rb.digest, b.size FROM repository_blobs rb
  JOIN repository_namespaces rn ON rn.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
  UNION ALL
  SELECT rn.namespace, m.digest, m.size FROM manifests m JOIN repository_namespaces rn ON rn.id = m.repository_id
) GROUP BY namespace, digest;

INSERT INTO namespace_usage (namespace, bytes)
SELECT namespace, sum(size) FROM namespace_digests GROUP BY namespace;
`;
