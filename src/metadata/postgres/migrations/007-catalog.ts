// What the management API lists and sorts by: the columns of the SQLite migration 008-catalog.ts
// (see there), with the per-repository counters (size, tag_count, manifest_count, last_push_at and
// created_at's move to the first manifest of an empty repository) kept another way. Replicas push to
// one repository at once, and a trigger updating the repositories row would lock it in the middle of
// every push's transaction, after the manifest and before the tag: two pushes of one tag, or a push
// and a delete, would then take the same locks in opposite orders and deadlock. So the triggers only
// append to repository_changes (an insert never waits for another), and the catalog store folds the
// changes into the repositories rows before it reads them (postgres-catalog-store.ts: one statement,
// under an advisory lock so that folds never run side by side).
export const up = `
ALTER TABLE repositories ADD COLUMN description TEXT;
ALTER TABLE repositories ADD COLUMN last_push_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pull_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN tag_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN manifest_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN total_size BIGINT;
ALTER TABLE manifests ADD COLUMN image_created TEXT;
ALTER TABLE manifests ADD COLUMN platforms TEXT;
ALTER TABLE manifests ADD COLUMN last_pulled_at BIGINT;
ALTER TABLE tags ADD COLUMN last_pulled_at BIGINT;

UPDATE manifests SET total_size = size
  + coalesce((SELECT sum(b.size) FROM manifest_references r JOIN blobs b ON b.digest = r.target_digest
              WHERE r.repository_id = manifests.repository_id AND r.manifest_digest = manifests.digest
                AND r.kind = 'blob'), 0)
  + coalesce((SELECT sum(c.size) FROM manifest_references r
              JOIN manifests c ON c.repository_id = r.repository_id AND c.digest = r.target_digest
              WHERE r.repository_id = manifests.repository_id AND r.manifest_digest = manifests.digest
                AND r.kind = 'manifest'), 0);

UPDATE repositories SET
  size = coalesce((SELECT sum(b.size) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                   WHERE rb.repository_id = repositories.id), 0)
       + coalesce((SELECT sum(m.size) FROM manifests m WHERE m.repository_id = repositories.id), 0),
  tag_count = (SELECT count(*) FROM tags t WHERE t.repository_id = repositories.id),
  manifest_count = (SELECT count(*) FROM manifests m WHERE m.repository_id = repositories.id),
  last_push_at = GREATEST(
    coalesce((SELECT max(m.created_at) FROM manifests m WHERE m.repository_id = repositories.id), 0),
    coalesce((SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = repositories.id), 0));

CREATE INDEX repositories_listed ON repositories(name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_push ON repositories(last_push_at, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_pull ON repositories(last_pull_at, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_size ON repositories(size, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_tags ON repositories(tag_count, name) WHERE manifest_count > 0;
CREATE INDEX tags_by_push ON tags(repository_id, updated_at, name);

-- One row per change to a repository's counters, until the next fold. pushed_at: when content
-- arrived (0 for removals); added_at: when a manifest was added (0 otherwise).
CREATE TABLE repository_changes (
  repository_id BIGINT NOT NULL,
  size          BIGINT NOT NULL DEFAULT 0,
  tags          BIGINT NOT NULL DEFAULT 0,
  manifests     BIGINT NOT NULL DEFAULT 0,
  pushed_at     BIGINT NOT NULL DEFAULT 0,
  added_at      BIGINT NOT NULL DEFAULT 0
);

-- A blob row outlives its links (repository_blobs references it), so its size is there on unlink.
CREATE FUNCTION catalog_count_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO repository_changes (repository_id, size)
      SELECT NEW.repository_id, b.size FROM blobs b WHERE b.digest = NEW.digest;
  ELSE
    INSERT INTO repository_changes (repository_id, size)
      SELECT OLD.repository_id, -b.size FROM blobs b WHERE b.digest = OLD.digest;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER catalog_count_link AFTER INSERT OR DELETE ON repository_blobs
  FOR EACH ROW EXECUTE FUNCTION catalog_count_link();

CREATE FUNCTION catalog_count_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO repository_changes (repository_id, size, manifests, pushed_at, added_at)
      VALUES (NEW.repository_id, NEW.size, 1, NEW.created_at, NEW.created_at);
  ELSE
    INSERT INTO repository_changes (repository_id, size, manifests)
      VALUES (OLD.repository_id, -OLD.size, -1);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER catalog_count_manifest AFTER INSERT OR DELETE ON manifests
  FOR EACH ROW EXECUTE FUNCTION catalog_count_manifest();

CREATE FUNCTION catalog_count_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO repository_changes (repository_id, tags, pushed_at) VALUES (NEW.repository_id, 1, NEW.updated_at);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO repository_changes (repository_id, pushed_at) VALUES (NEW.repository_id, NEW.updated_at);
  ELSE
    INSERT INTO repository_changes (repository_id, tags) VALUES (OLD.repository_id, -1);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER catalog_count_tag AFTER INSERT OR DELETE OR UPDATE OF updated_at ON tags
  FOR EACH ROW EXECUTE FUNCTION catalog_count_tag();
`;
