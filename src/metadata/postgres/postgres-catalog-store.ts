// CatalogStore on PostgreSQL, shared by every replica: the only place with the catalog's SQL for it.
// Pushes and deletes never lock a repositories row: the triggers of migrations/007-catalog.ts append
// their changes to repository_changes, and every call here that reads or decides on the counters
// first folds those changes into the repositories rows (FOLD: one round trip, one implicit
// transaction). Folds, pull batches and repository deletes take one advisory lock, so that the only
// writers that update many repositories rows (or many tags) at once never run side by side and
// cannot deadlock one another; a push waits for none of them. Listings then walk one partial index
// from the page's key, as on SQLite (tags: tags_by_push, tags_by_name_key or tags_by_semver_key, the
// keys of migrations/011-tag-sort-keys.ts compared bytewise, COLLATE "C"). BIGINT columns arrive as
// strings and are converted (toNumber).
// Failures of an unreachable server become StoreUnavailableError (openPostgresMetadata wraps it).
import {
  pullsPerRepository,
  type CatalogStore,
  type RepositoryQuery,
  type RepositorySort,
  type RepositorySummary,
  type SortOrder,
  type TagSort,
  type TagSummary,
} from '../../registry/catalog-store.js';
import type { Digest, RepoName, Tag } from '../../registry/references.js';
import { tagSortValue } from '../../registry/tag-sort-keys.js';
import {
  inTransaction,
  statement,
  toNumber,
  type BigintColumn,
  type PostgresClient,
  type PostgresPool,
} from './db.js';

interface RepositoryRow {
  name: string;
  size: BigintColumn;
  tag_count: BigintColumn;
  manifest_count: BigintColumn;
  created_at: BigintColumn;
  last_push_at: BigintColumn;
  last_pull_at: BigintColumn;
  pull_count: BigintColumn;
  description: string | null;
}

interface TagRow {
  name: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: BigintColumn;
  platforms: string | null;
  image_created: string | null;
  updated_at: BigintColumn;
  last_pulled_at: BigintColumn | null;
  annotations: Record<string, string> | null;
  referrers: BigintColumn;
}

/** Key of the advisory lock of folds, pull batches and repository deletes ("berthc"). */
const CATALOG_LOCK = 0x6265_7274_6863;
const LOCK = `SELECT pg_advisory_xact_lock(${CATALOG_LOCK})`;
/** Moves every committed change into the repositories rows (run holding LOCK). */
const FOLD_CHANGES = `
  WITH moved AS (DELETE FROM repository_changes RETURNING *),
  sums AS (
    SELECT repository_id, sum(size) AS size, sum(tags) AS tags, sum(manifests) AS manifests,
      max(pushed_at) AS pushed_at, min(added_at) FILTER (WHERE manifests > 0) AS added_at
    FROM moved GROUP BY repository_id)
  UPDATE repositories r SET size = r.size + s.size, tag_count = r.tag_count + s.tags,
    manifest_count = r.manifest_count + s.manifests, last_push_at = GREATEST(r.last_push_at, s.pushed_at),
    created_at = CASE WHEN r.manifest_count = 0 AND s.added_at IS NOT NULL THEN s.added_at ELSE r.created_at END
  FROM sums s WHERE r.id = s.repository_id`;
/** Both as one simple query: one round trip, one implicit transaction (rolled back as a whole). */
const FOLD = `${LOCK}; ${FOLD_CHANGES}`;

const SORT_COLUMNS: Record<RepositorySort, string> = {
  name: 'name',
  pushed: 'last_push_at',
  pulled: 'last_pull_at',
  size: 'size',
  tags: 'tag_count',
};
const REPOSITORY_COLUMNS =
  'name, size, tag_count, manifest_count, created_at, last_push_at, last_pull_at, pull_count, description';
const LISTED = 'manifest_count > 0 AND ($1::text IS NULL OR strpos(name, $1) > 0)';
const repoId = (param: string) => `(SELECT id FROM repositories WHERE name = ${param})`;
const TAG_COLUMNS = `t.name, t.digest, m.media_type, m.artifact_type, coalesce(m.total_size, m.size) AS size,
  m.platforms, m.image_created, t.updated_at, t.last_pulled_at, m.annotations,
  (SELECT count(*) FROM manifests r WHERE r.repository_id = t.repository_id AND r.subject_digest = t.digest)
    AS referrers`;
const TAGS_OF = `tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
  WHERE t.repository_id = ${repoId('$1')}`;
const TAG_PATTERN_FILTER = '($2::text IS NULL OR t.name LIKE $2)';

function toRepository(row: RepositoryRow): RepositorySummary {
  return {
    name: row.name as RepoName,
    size: toNumber(row.size),
    tagCount: toNumber(row.tag_count),
    manifestCount: toNumber(row.manifest_count),
    createdAt: toNumber(row.created_at),
    lastPushAt: toNumber(row.last_push_at),
    lastPullAt: toNumber(row.last_pull_at),
    pullCount: toNumber(row.pull_count),
    description: row.description,
  };
}

function toTag(row: TagRow): TagSummary {
  return {
    name: row.name as Tag,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    size: toNumber(row.size),
    platforms: row.platforms ? (JSON.parse(row.platforms) as string[]) : null,
    created: row.image_created,
    pushedAt: toNumber(row.updated_at),
    lastPulledAt: row.last_pulled_at === null ? null : toNumber(row.last_pulled_at),
    annotations: row.annotations,
    referrers: toNumber(row.referrers),
  };
}

/** A tag pattern (only `*` special) as a LIKE pattern: `%`, `_` and the escape `\` escaped. */
const likeOf = (pattern?: string) =>
  pattern === undefined ? null : pattern.replace(/[\\%_]/g, '\\$&').replaceAll('*', '%');
const searchOf = (text?: string) => (text === undefined || text === '' ? null : text);

/** Parameters: $1 search, $2 limit, then the key: $3 name (name sort) or $3 value and $4 name. */
function repositoryListing(sort: RepositorySort, order: SortOrder, after: boolean): string {
  const column = SORT_COLUMNS[sort];
  const direction = order === 'asc' ? 'ASC' : 'DESC';
  const beyond = order === 'asc' ? '>' : '<';
  const from = !after
    ? ''
    : sort === 'name'
      ? `AND name ${beyond} $3`
      : `AND (${column}, name) ${beyond} ($3, $4)`;
  const orderBy = sort === 'name' ? `name ${direction}` : `${column} ${direction}, name ${direction}`;
  return `SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE ${LISTED} ${from} ORDER BY ${orderBy} LIMIT $2`;
}

/** The column each tag sort orders by (then by name). */
const TAG_SORT_COLUMNS: Record<TagSort, string> = {
  pushed: 't.updated_at',
  name: 't.name_key',
  semver: 't.semver_key',
};

/** Parameters: $1 repository, $2 pattern, $3 limit, then the key: $4 sort key and $5 name. */
function tagListing(sort: TagSort, order: SortOrder, after: boolean): string {
  const column = TAG_SORT_COLUMNS[sort];
  const direction = order === 'asc' ? 'ASC' : 'DESC';
  const from = after ? `AND (${column}, t.name) ${order === 'asc' ? '>' : '<'} ($4, $5)` : '';
  return `SELECT ${TAG_COLUMNS} FROM ${TAGS_OF} AND ${TAG_PATTERN_FILTER} ${from}
    ORDER BY ${column} ${direction}, t.name ${direction} LIMIT $3`;
}

export function createPostgresCatalogStore(pool: PostgresPool): CatalogStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;
  const fold = async () => {
    await pool.query(FOLD);
  };
  /** Runs `work` in a transaction holding the catalog lock, the changes folded first. */
  const exclusively = <T>(work: (client: PostgresClient) => Promise<T>) =>
    inTransaction(pool, async (client) => {
      await client.query(LOCK);
      await client.query(FOLD_CHANGES);
      return work(client);
    });

  return {
    async listRepositories({ search, sort, order, limit, after }: RepositoryQuery) {
      await fold();
      const key = !after ? [] : sort === 'name' ? [after.name] : [after.value, after.name];
      const found = await rows<RepositoryRow>(repositoryListing(sort, order, after !== undefined), [
        searchOf(search),
        Math.max(0, limit),
        ...key,
      ]);
      return found.map(toRepository);
    },
    async countRepositories(search) {
      await fold();
      const [row] = await rows<{ count: BigintColumn }>(`SELECT count(*) FROM repositories WHERE ${LISTED}`, [
        searchOf(search),
      ]);
      return row ? toNumber(row.count) : 0;
    },
    async listRepositoryNames(search) {
      await fold();
      const found = await rows<{ name: RepoName }>(`SELECT name FROM repositories WHERE ${LISTED}`, [
        searchOf(search),
      ]);
      return found.map((row) => row.name);
    },
    async findRepository(name) {
      await fold();
      const [row] = await rows<RepositoryRow>(
        `SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE name = $1 AND manifest_count > 0`,
        [name],
      );
      return row && toRepository(row);
    },
    async setDescription(name, description) {
      await fold();
      const result = await pool.query(
        statement('UPDATE repositories SET description = $2 WHERE name = $1 AND manifest_count > 0', [
          name,
          description,
        ]),
      );
      return (result.rowCount ?? 0) > 0;
    },
    deleteRepository: (name) =>
      exclusively(async (client) => {
        const found = await client.query<{ id: string }>(
          'SELECT id FROM repositories WHERE name = $1 AND manifest_count > 0',
          [name],
        );
        const id = found.rows[0]?.id;
        if (id === undefined) return undefined;
        const deleted = async (table: string) =>
          (await client.query(`DELETE FROM ${table} WHERE repository_id = $1`, [id])).rowCount ?? 0;
        const tags = await deleted('tags');
        const manifests = await deleted('manifests');
        const blobs = await deleted('repository_blobs');
        await client.query(
          `UPDATE repositories SET description = NULL, pull_count = 0, last_pull_at = 0, last_push_at = 0
           WHERE id = $1`,
          [id],
        );
        return { tags, manifests, blobs };
      }),

    async listTags(repository, { pattern, sort, order, limit, after }) {
      const found = await rows<TagRow>(tagListing(sort, order, after !== undefined), [
        repository,
        likeOf(pattern),
        Math.max(0, limit),
        ...(after ? [tagSortValue(sort, after), after.name] : []),
      ]);
      return found.map(toTag);
    },
    async countTags(repository, pattern) {
      const [row] = await rows<{ count: BigintColumn }>(
        `SELECT count(*) FROM tags t WHERE t.repository_id = ${repoId('$1')} AND ${TAG_PATTERN_FILTER}`,
        [repository, likeOf(pattern)],
      );
      return row ? toNumber(row.count) : 0;
    },
    async listTagNames(repository, pattern) {
      const found = await rows<{ name: Tag }>(
        `SELECT t.name FROM tags t WHERE t.repository_id = ${repoId('$1')} AND ${TAG_PATTERN_FILTER}`,
        [repository, likeOf(pattern)],
      );
      return found.map((row) => row.name);
    },
    async findTags(repository, names) {
      if (names.length === 0) return [];
      const found = await rows<TagRow>(`SELECT ${TAG_COLUMNS} FROM ${TAGS_OF} AND t.name = ANY($2::text[])`, [
        repository,
        [...names],
      ]);
      return found.map(toTag);
    },

    async recordPulls(pulls) {
      if (pulls.length === 0) return;
      const perRepository = pullsPerRepository(pulls);
      const sums = [...perRepository.values()];
      await exclusively(async (client) => {
        await client.query(
          statement(
            `UPDATE repositories r SET pull_count = r.pull_count + v.count,
               last_pull_at = GREATEST(r.last_pull_at, v.at)
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(name, count, at)
             WHERE r.name = v.name`,
            [[...perRepository.keys()], sums.map((sum) => sum.count), sums.map((sum) => sum.at)],
          ),
        );
        await client.query(
          statement(
            `UPDATE manifests m SET last_pulled_at = v.at
             FROM (SELECT r.id, v.digest, max(v.at) AS at
                   FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(name, digest, at)
                   JOIN repositories r ON r.name = v.name GROUP BY r.id, v.digest) v
             WHERE m.repository_id = v.id AND m.digest = v.digest AND coalesce(m.last_pulled_at, 0) < v.at`,
            [pulls.map((p) => p.repository), pulls.map((p) => p.digest), pulls.map((p) => p.at)],
          ),
        );
        const byTag = pulls.filter((p) => p.tag !== undefined);
        if (byTag.length === 0) return;
        await client.query(
          statement(
            `UPDATE tags t SET last_pulled_at = v.at
             FROM (SELECT r.id, v.tag, max(v.at) AS at
                   FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(name, tag, at)
                   JOIN repositories r ON r.name = v.name GROUP BY r.id, v.tag) v
             WHERE t.repository_id = v.id AND t.name = v.tag AND coalesce(t.last_pulled_at, 0) < v.at`,
            [byTag.map((p) => p.repository), byTag.map((p) => p.tag), byTag.map((p) => p.at)],
          ),
        );
      });
    },
  };
}
