// The pull-through mirror's state (src/mirror/mirror-store.ts), shared by every replica: the tables of
// the SQLite schema's migration 006, for PostgreSQL. Cached tags with when the upstream last answered
// for them; content brought in from each upstream, keyed by (repository, digest), with the index that
// eviction reads an upstream's entries by, least recently pulled first; counters per upstream. Sizes,
// counters and times (ms since the epoch) are BIGINT; names, tags and digests sort and compare by
// bytes (COLLATE "C"), as on SQLite.
export const up = `
CREATE TABLE mirror_tags (
  repository TEXT COLLATE "C" NOT NULL,
  tag        TEXT COLLATE "C" NOT NULL,
  digest     TEXT COLLATE "C" NOT NULL,
  checked_at BIGINT NOT NULL,
  PRIMARY KEY (repository, tag)
);
CREATE INDEX mirror_tags_digest ON mirror_tags(repository, digest);

CREATE TABLE mirror_content (
  repository     TEXT COLLATE "C" NOT NULL,
  digest         TEXT COLLATE "C" NOT NULL,
  upstream       TEXT COLLATE "C" NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  size           BIGINT NOT NULL,
  cached_at      BIGINT NOT NULL,
  last_pulled_at BIGINT NOT NULL,
  PRIMARY KEY (repository, digest)
);
CREATE INDEX mirror_content_pulled ON mirror_content(upstream, last_pulled_at, repository, digest);

CREATE TABLE mirror_counters (
  upstream            TEXT COLLATE "C" PRIMARY KEY,
  hits                BIGINT NOT NULL DEFAULT 0,
  misses              BIGINT NOT NULL DEFAULT 0,
  stale_hits          BIGINT NOT NULL DEFAULT 0,
  bytes_from_cache    BIGINT NOT NULL DEFAULT 0,
  bytes_from_upstream BIGINT NOT NULL DEFAULT 0
);
`;
