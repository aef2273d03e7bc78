// What the management API lists and sorts by (src/registry/catalog-store.ts):
// - repositories: a description; when content was last pushed (a manifest stored, a tag pushed or
//   moved) and pulled, and how often it was pulled (0: never); and, kept by the triggers below in the
//   transaction of each change, so that listing 20,000 repositories reads one index:
//     size            the distinct blobs it links plus its manifests' own bytes (deduplicated bytes),
//     tag_count, manifest_count,
//   and created_at now moves to the time of the first manifest whenever the repository goes from no
//   manifests to one (a deleted repository pushed again is new).
// - manifests: the total size of what they reference, the image config's `created`, the platforms of
//   an index (JSON), and when they were last pulled;
// - tags: when they were last pulled (tags.updated_at is when the tag was last pushed or moved).
// Only repositories holding manifests are listed (as in the /v2 catalog): the sort indexes are
// partial on that. Existing rows are counted here, before the triggers exist.
export const up = `
ALTER TABLE repositories ADD COLUMN description TEXT;
ALTER TABLE repositories ADD COLUMN last_push_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pull_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN pull_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN tag_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN manifest_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN total_size INTEGER;
ALTER TABLE manifests ADD COLUMN image_created TEXT;
ALTER TABLE manifests ADD COLUMN platforms TEXT;
ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;
ALTER TABLE tags ADD COLUMN last_pulled_at INTEGER;

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
  last_push_at = max(
    coalesce((SELECT max(m.created_at) FROM manifests m WHERE m.repository_id = repositories.id), 0),
    coalesce((SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = repositories.id), 0));

CREATE INDEX repositories_listed ON repositories(name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_push ON repositories(last_push_at, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_pull ON repositories(last_pull_at, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_size ON repositories(size, name) WHERE manifest_count > 0;
CREATE INDEX repositories_by_tags ON repositories(tag_count, name) WHERE manifest_count > 0;
CREATE INDEX tags_by_push ON tags(repository_id, updated_at, name);

-- A blob row outlives its links (repository_blobs references it), so its size is there on unlink.
CREATE TRIGGER catalog_blob_linked AFTER INSERT ON repository_blobs BEGIN
  UPDATE repositories SET size = size + coalesce((SELECT size FROM blobs WHERE digest = NEW.digest), 0)
  WHERE id = NEW.repository_id;
END;
CREATE TRIGGER catalog_blob_unlinked AFTER DELETE ON repository_blobs BEGIN
  UPDATE repositories SET size = size - coalesce((SELECT size FROM blobs WHERE digest = OLD.digest), 0)
  WHERE id = OLD.repository_id;
END;
CREATE TRIGGER catalog_manifest_added AFTER INSERT ON manifests BEGIN
  UPDATE repositories SET manifest_count = manifest_count + 1, size = size + NEW.size,
    created_at = CASE WHEN manifest_count = 0 THEN NEW.created_at ELSE created_at END,
    last_push_at = max(last_push_at, NEW.created_at)
  WHERE id = NEW.repository_id;
END;
CREATE TRIGGER catalog_manifest_removed AFTER DELETE ON manifests BEGIN
  UPDATE repositories SET manifest_count = manifest_count - 1, size = size - OLD.size
  WHERE id = OLD.repository_id;
END;
CREATE TRIGGER catalog_tag_added AFTER INSERT ON tags BEGIN
  UPDATE repositories SET tag_count = tag_count + 1, last_push_at = max(last_push_at, NEW.updated_at)
  WHERE id = NEW.repository_id;
END;
CREATE TRIGGER catalog_tag_moved AFTER UPDATE OF updated_at ON tags BEGIN
  UPDATE repositories SET last_push_at = max(last_push_at, NEW.updated_at) WHERE id = NEW.repository_id;
END;
CREATE TRIGGER catalog_tag_removed AFTER DELETE ON tags BEGIN
  UPDATE repositories SET tag_count = tag_count - 1 WHERE id = OLD.repository_id;
END;
`;
