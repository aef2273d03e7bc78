// MirrorStore on SQLite: the only place with the mirror's SQL for it (tables of
// migrations/006-mirror.ts). Each call is one statement, or one IMMEDIATE transaction of a few, run
// synchronously through the connection's lock (connection-lock.ts), so that it never lands inside a
// unit of work open on the same connection (and is never undone by its rollback). Processes sharing
// the database file share the cached tags, the cached content and the counters.
import type { CachedContent, CachedKind, MirrorStore, MirrorUpstreamStatus } from '../mirror/mirror-store.js';
import type { Digest, RepoName } from '../registry/references.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

interface TagRow {
  digest: string;
  checked_at: number;
}

interface ContentRow {
  upstream: string;
  repository: string;
  digest: string;
  kind: CachedKind;
  size: number;
  cached_at: number;
  last_pulled_at: number;
}

interface StatusRow {
  upstream: string;
  hits: number;
  misses: number;
  stale_hits: number;
  bytes_from_cache: number;
  bytes_from_upstream: number;
  cached_bytes: number;
  cached_items: number;
}

/** Above every time: `pulledBefore` absent. */
const NO_TIME_LIMIT = '9223372036854775807';

function toContent(row: ContentRow): CachedContent {
  return {
    upstream: row.upstream,
    repository: row.repository as RepoName,
    digest: row.digest as Digest,
    kind: row.kind,
    size: row.size,
    cachedAt: row.cached_at,
    lastPulledAt: row.last_pulled_at,
  };
}

function toStatus(row: StatusRow): MirrorUpstreamStatus {
  return {
    upstream: row.upstream,
    hits: row.hits,
    misses: row.misses,
    staleHits: row.stale_hits,
    bytesFromCache: row.bytes_from_cache,
    bytesFromUpstream: row.bytes_from_upstream,
    cachedBytes: row.cached_bytes,
    cachedItems: row.cached_items,
  };
}

export function createSqliteMirrorStore(db: SqliteDatabase): MirrorStore {
  const statements = {
    findCachedTag: db.prepare(
      'SELECT digest, checked_at FROM mirror_tags WHERE repository = @repository AND tag = @tag',
    ),
    markTagChecked: db.prepare(
      `INSERT INTO mirror_tags (repository, tag, digest, checked_at) VALUES (@repository, @tag, @digest, @checkedAt)
       ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at`,
    ),
    recordCached: db.prepare(
      `INSERT INTO mirror_content (repository, digest, upstream, kind, size, cached_at, last_pulled_at)
       VALUES (@repository, @digest, @upstream, @kind, @size, @at, @at)
       ON CONFLICT (repository, digest) DO UPDATE SET upstream = excluded.upstream, kind = excluded.kind,
         size = excluded.size, last_pulled_at = max(last_pulled_at, excluded.last_pulled_at)`,
    ),
    touchCached: db.prepare(
      `UPDATE mirror_content SET last_pulled_at = @at
       WHERE repository = @repository AND digest = @digest AND last_pulled_at < @at`,
    ),
    isCachedRepository: db.prepare('SELECT 1 FROM mirror_content WHERE repository = ? LIMIT 1').pluck(),
    listLeastRecentlyPulled: db.prepare(
      `SELECT upstream, repository, digest, kind, size, cached_at, last_pulled_at FROM mirror_content
       WHERE upstream = @upstream AND last_pulled_at < coalesce(@pulledBefore, ${NO_TIME_LIMIT})
       ORDER BY last_pulled_at, repository, digest LIMIT @limit`,
    ),
    forgetContent: db.prepare(
      'DELETE FROM mirror_content WHERE repository = @repository AND digest = @digest',
    ),
    // Found through mirror_tags_digest: a plain DELETE ... WHERE digest = would scan all the
    // repository's tags (SQLite deletes from a WITHOUT ROWID table along its primary key).
    forgetTags: db.prepare(
      `DELETE FROM mirror_tags WHERE repository = @repository AND tag IN
         (SELECT tag FROM mirror_tags WHERE repository = @repository AND digest = @digest)`,
    ),
    addCounters: db.prepare(
      `INSERT INTO mirror_counters (upstream, hits, misses, stale_hits, bytes_from_cache, bytes_from_upstream)
       VALUES (@upstream, @hits, @misses, @staleHits, @bytesFromCache, @bytesFromUpstream)
       ON CONFLICT (upstream) DO UPDATE SET hits = hits + excluded.hits, misses = misses + excluded.misses,
         stale_hits = stale_hits + excluded.stale_hits,
         bytes_from_cache = bytes_from_cache + excluded.bytes_from_cache,
         bytes_from_upstream = bytes_from_upstream + excluded.bytes_from_upstream`,
    ),
    listStatus: db.prepare(
      `SELECT upstream, sum(hits) AS hits, sum(misses) AS misses, sum(stale_hits) AS stale_hits,
         sum(bytes_from_cache) AS bytes_from_cache, sum(bytes_from_upstream) AS bytes_from_upstream,
         sum(cached_bytes) AS cached_bytes, sum(cached_items) AS cached_items
       FROM (
         SELECT upstream, hits, misses, stale_hits, bytes_from_cache, bytes_from_upstream,
           0 AS cached_bytes, 0 AS cached_items
         FROM mirror_counters
         UNION ALL
         SELECT upstream, 0, 0, 0, 0, 0, sum(size), count(*) FROM mirror_content GROUP BY upstream
       )
       GROUP BY upstream ORDER BY upstream`,
    ),
  };

  const touchCached = db.transaction(
    (pulls: ReadonlyArray<{ repository: RepoName; digest: Digest; at: number }>) => {
      for (const { repository, digest, at } of pulls) {
        statements.touchCached.run({ repository, digest, at });
      }
    },
  );
  const forgetCached = db.transaction((repository: RepoName, digest: Digest) => {
    statements.forgetContent.run({ repository, digest });
    statements.forgetTags.run({ repository, digest });
  });

  const sync: Synchronous<MirrorStore> = {
    findCachedTag(repository, tag) {
      const row = statements.findCachedTag.get({ repository, tag }) as TagRow | undefined;
      return row && { digest: row.digest as Digest, checkedAt: row.checked_at };
    },
    markTagChecked(repository, tag, digest, checkedAt) {
      statements.markTagChecked.run({ repository, tag, digest, checkedAt });
    },
    recordCached({ upstream, repository, digest, kind, size, at }) {
      statements.recordCached.run({ upstream, repository, digest, kind, size, at });
    },
    touchCached(pulls) {
      if (pulls.length > 0) touchCached.immediate(pulls);
    },
    isCachedRepository: (repository) => statements.isCachedRepository.get(repository) !== undefined,
    listLeastRecentlyPulled: (upstream, limit, pulledBefore) =>
      (
        statements.listLeastRecentlyPulled.all({
          upstream,
          // SQLite reads a negative LIMIT as none: never below 0.
          limit: Math.max(0, limit),
          pulledBefore: pulledBefore ?? null,
        }) as ContentRow[]
      ).map(toContent),
    forgetCached: (repository, digest) => forgetCached.immediate(repository, digest),
    addCounters(upstream, { hits, misses, staleHits, bytesFromCache, bytesFromUpstream }) {
      statements.addCounters.run({ upstream, hits, misses, staleHits, bytesFromCache, bytesFromUpstream });
    },
    listStatus: () => (statements.listStatus.all() as StatusRow[]).map(toStatus),
  };

  return asAsync<MirrorStore>(sync, connectionLock(db).run);
}
