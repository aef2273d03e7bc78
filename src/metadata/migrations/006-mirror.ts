// The pull-through mirror's state (src/mirror/mirror-store.ts), beside the ordinary index where the
// cached manifests, tags and blob links live like pushed ones:
// - mirror_tags: when the upstream last answered for a tag, and with which digest (a tag is asked
//   upstream again once that is older than the freshness interval);
// - mirror_content: what came from which upstream into which repository, keyed like the content
//   itself (repository, digest), with when it was last pulled: eviction reads an upstream's entries
//   least recently pulled first (mirror_content_pulled), and a push asks whether a repository holds
//   any (the primary key's prefix);
// - mirror_counters: hits, misses and bytes per upstream, added to in one statement.
// No foreign keys to the index's tables: rows name their repository, and the mirror forgets an entry
// (forgetCached) when it evicts or deletes the content.
export const up = `
CREATE TABLE mirror_tags (
  repository TEXT NOT NULL,
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  checked_at INTEGER NOT NULL,
  PRIMARY KEY (repository, tag)
) WITHOUT ROWID;
CREATE INDEX mirror_tags_digest ON mirror_tags(repository, digest);

CREATE TABLE mirror_content (
  repository     TEXT NOT NULL,
  digest         TEXT NOT NULL,
  upstream       TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  size           INTEGER NOT NULL,
  cached_at      INTEGER NOT NULL,
  last_pulled_at INTEGER NOT NULL,
  PRIMARY KEY (repository, digest)
) WITHOUT ROWID;
CREATE INDEX mirror_content_pulled ON mirror_content(upstream, last_pulled_at, repository, digest);

CREATE TABLE mirror_counters (
  upstream            TEXT PRIMARY KEY,
  hits                INTEGER NOT NULL DEFAULT 0,
  misses              INTEGER NOT NULL DEFAULT 0,
  stale_hits          INTEGER NOT NULL DEFAULT 0,
  bytes_from_cache    INTEGER NOT NULL DEFAULT 0,
  bytes_from_upstream INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;
