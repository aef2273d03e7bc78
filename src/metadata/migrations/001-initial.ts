// Repositories, blobs, manifests, tags, references and upload sessions. Catalog, tag lists,
// referrers and existence checks are all answered from these indexes.
export const up = `
CREATE TABLE repositories (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE blobs (
  digest     TEXT PRIMARY KEY,
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE repository_blobs (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest        TEXT NOT NULL REFERENCES blobs(digest),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

CREATE TABLE manifests (
  repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest         TEXT NOT NULL,
  media_type     TEXT NOT NULL,
  size           INTEGER NOT NULL,
  artifact_type  TEXT,
  subject_digest TEXT,
  annotations    TEXT,
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest) WHERE subject_digest IS NOT NULL;
CREATE INDEX manifests_digest ON manifests(digest);

CREATE TABLE tags (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  digest        TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, name),
  FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX tags_digest ON tags(repository_id, digest);

-- What each manifest points at: kind 'blob' (config, layers) or 'manifest' (index children).
CREATE TABLE manifest_references (
  repository_id   INTEGER NOT NULL,
  manifest_digest TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  target_digest   TEXT NOT NULL,
  PRIMARY KEY (repository_id, manifest_digest, kind, target_digest),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX manifest_references_target ON manifest_references(target_digest);

CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  repository TEXT NOT NULL,
  size       INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_updated ON uploads(updated_at);
`;
