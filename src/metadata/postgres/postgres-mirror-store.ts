// MirrorStore on PostgreSQL, shared by every replica: the only place with the mirror's SQL for it
// (tables of migrations/005-mirror.ts). Each call is one statement at READ COMMITTED on any pooled
// connection, prepared once per connection (a named statement: db.ts `statement`); a forget is one
// statement of two deletes. Counters are added in the database (an upsert that increments), so
// concurrent requests on every replica all count. A batch of touches locks its rows in key order
// before it moves them, so two batches over the same entries wait for each other instead of
// deadlocking. BIGINT columns and sums arrive as strings and are converted to numbers (toNumber):
// sizes, counters and ms timestamps stay below 2^53. Failures of an unreachable server become
// StoreUnavailableError (unavailable.ts).
import type {
  CachedContent,
  CachedKind,
  MirrorStore,
  MirrorUpstreamStatus,
} from '../../mirror/mirror-store.js';
import type { Digest, RepoName } from '../../registry/references.js';
import { statement, toNumber, type BigintColumn, type PostgresPool } from './db.js';
import { reportingUnavailable } from './unavailable.js';

interface ContentRow {
  upstream: string;
  repository: string;
  digest: string;
  kind: CachedKind;
  size: BigintColumn;
  cached_at: BigintColumn;
  last_pulled_at: BigintColumn;
}

interface StatusRow {
  upstream: string;
  hits: BigintColumn;
  misses: BigintColumn;
  stale_hits: BigintColumn;
  bytes_from_cache: BigintColumn;
  bytes_from_upstream: BigintColumn;
  cached_bytes: BigintColumn;
  cached_items: BigintColumn;
}

const CONTENT_COLUMNS = 'upstream, repository, digest, kind, size, cached_at, last_pulled_at';
/** Above every time: `pulledBefore` absent. */
const NO_TIME_LIMIT = '9223372036854775807';

function toContent(row: ContentRow): CachedContent {
  return {
    upstream: row.upstream,
    repository: row.repository as RepoName,
    digest: row.digest as Digest,
    kind: row.kind,
    size: toNumber(row.size),
    cachedAt: toNumber(row.cached_at),
    lastPulledAt: toNumber(row.last_pulled_at),
  };
}

function toStatus(row: StatusRow): MirrorUpstreamStatus {
  return {
    upstream: row.upstream,
    hits: toNumber(row.hits),
    misses: toNumber(row.misses),
    staleHits: toNumber(row.stale_hits),
    bytesFromCache: toNumber(row.bytes_from_cache),
    bytesFromUpstream: toNumber(row.bytes_from_upstream),
    cachedBytes: toNumber(row.cached_bytes),
    cachedItems: toNumber(row.cached_items),
  };
}

export function createPostgresMirrorStore(pool: PostgresPool): MirrorStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;
  const run = async (text: string, values: unknown[]): Promise<void> => {
    await pool.query(statement(text, values));
  };

  return reportingUnavailable<MirrorStore>({
    async findCachedTag(repository, tag) {
      const [row] = await rows<{ digest: string; checked_at: BigintColumn }>(
        'SELECT digest, checked_at FROM mirror_tags WHERE repository = $1 AND tag = $2',
        [repository, tag],
      );
      return row && { digest: row.digest as Digest, checkedAt: toNumber(row.checked_at) };
    },
    markTagChecked: (repository, tag, digest, checkedAt) =>
      run(
        `INSERT INTO mirror_tags (repository, tag, digest, checked_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at`,
        [repository, tag, digest, checkedAt],
      ),
    recordCached: ({ upstream, repository, digest, kind, size, at }) =>
      run(
        `INSERT INTO mirror_content (repository, digest, upstream, kind, size, cached_at, last_pulled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (repository, digest) DO UPDATE SET upstream = excluded.upstream, kind = excluded.kind,
           size = excluded.size,
           last_pulled_at = GREATEST(mirror_content.last_pulled_at, excluded.last_pulled_at)`,
        [repository, digest, upstream, kind, size, at],
      ),
    async touchCached(pulls) {
      if (pulls.length === 0) return;
      // The latest time per entry (UPDATE ... FROM would apply an arbitrary one of duplicates); rows
      // locked in key order (ORDER BY is applied before FOR UPDATE), each re-checked when a
      // concurrent touch moved it meanwhile.
      await run(
        `WITH pulls AS (
           SELECT repository, digest, max(at) AS at
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS p(repository, digest, at)
           GROUP BY repository, digest
         ),
         moving AS (
           SELECT c.repository, c.digest, pulls.at FROM mirror_content c
           JOIN pulls ON c.repository = pulls.repository AND c.digest = pulls.digest
           WHERE c.last_pulled_at < pulls.at
           ORDER BY c.repository, c.digest
           FOR UPDATE OF c
         )
         UPDATE mirror_content c SET last_pulled_at = moving.at FROM moving
         WHERE c.repository = moving.repository AND c.digest = moving.digest AND c.last_pulled_at < moving.at`,
        [pulls.map((p) => p.repository), pulls.map((p) => p.digest), pulls.map((p) => p.at)],
      );
    },
    async isCachedRepository(repository) {
      const found = await rows('SELECT 1 FROM mirror_content WHERE repository = $1 LIMIT 1', [repository]);
      return found.length > 0;
    },
    async listLeastRecentlyPulled(upstream, limit, pulledBefore) {
      const found = await rows<ContentRow>(
        `SELECT ${CONTENT_COLUMNS} FROM mirror_content
         WHERE upstream = $1 AND last_pulled_at < COALESCE($3::bigint, ${NO_TIME_LIMIT})
         ORDER BY last_pulled_at, repository, digest LIMIT $2`,
        [upstream, Math.max(0, limit), pulledBefore ?? null],
      );
      return found.map(toContent);
    },
    forgetCached: (repository, digest) =>
      run(
        `WITH content AS (DELETE FROM mirror_content WHERE repository = $1 AND digest = $2)
         DELETE FROM mirror_tags WHERE repository = $1 AND digest = $2`,
        [repository, digest],
      ),
    addCounters: (upstream, { hits, misses, staleHits, bytesFromCache, bytesFromUpstream }) =>
      run(
        `INSERT INTO mirror_counters (upstream, hits, misses, stale_hits, bytes_from_cache, bytes_from_upstream)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (upstream) DO UPDATE SET hits = mirror_counters.hits + excluded.hits,
           misses = mirror_counters.misses + excluded.misses,
           stale_hits = mirror_counters.stale_hits + excluded.stale_hits,
           bytes_from_cache = mirror_counters.bytes_from_cache + excluded.bytes_from_cache,
           bytes_from_upstream = mirror_counters.bytes_from_upstream + excluded.bytes_from_upstream`,
        [upstream, hits, misses, staleHits, bytesFromCache, bytesFromUpstream],
      ),
    async listStatus() {
      const found = await rows<StatusRow>(
        `SELECT upstream, sum(hits) AS hits, sum(misses) AS misses, sum(stale_hits) AS stale_hits,
           sum(bytes_from_cache) AS bytes_from_cache, sum(bytes_from_upstream) AS bytes_from_upstream,
           sum(cached_bytes) AS cached_bytes, sum(cached_items) AS cached_items
         FROM (
           SELECT upstream, hits, misses, stale_hits, bytes_from_cache, bytes_from_upstream,
             0::bigint AS cached_bytes, 0::bigint AS cached_items
           FROM mirror_counters
           UNION ALL
           SELECT upstream, 0, 0, 0, 0, 0, sum(size), count(*) FROM mirror_content GROUP BY upstream
         ) AS parts
         GROUP BY upstream ORDER BY upstream`,
        [],
      );
      return found.map(toStatus);
    },
  });
}
