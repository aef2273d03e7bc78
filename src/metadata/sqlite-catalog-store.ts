// CatalogStore on SQLite: the only place with the catalog's SQL for it. The per-repository counters
// are kept by the triggers of migrations/008-catalog.ts in the transaction of each change, so every
// listing is one walk along one partial index (repositories_listed, _by_push, _by_pull, _by_size,
// _by_tags) from the page's key: its cost is the page, not the offset. Tags are walked likewise, along
// tags_by_push, tags_by_name_key or tags_by_semver_key (keys of migrations/012-tag-sort-keys.ts).
// Calls run synchronously through the connection's lock (connection-lock.ts). deleteRepository changes
// the index behind the MetadataStore's read cache, so it marks `indexChanges` once committed
// (index-changes.ts).
import {
  pullsPerRepository,
  type CatalogStore,
  type PullCount,
  type RepositoryDeletion,
  type RepositoryQuery,
  type RepositorySort,
  type RepositorySummary,
  type SortOrder,
  type TagSort,
  type TagSummary,
} from '../registry/catalog-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';
import { tagSortValue } from '../registry/tag-sort-keys.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';
import type { IndexChangeFlag } from './index-changes.js';

interface RepositoryRow {
  name: string;
  size: number;
  tag_count: number;
  manifest_count: number;
  created_at: number;
  last_push_at: number;
  last_pull_at: number;
  pull_count: number;
  description: string | null;
}

interface TagRow {
  name: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  platforms: string | null;
  image_created: string | null;
  updated_at: number;
  last_pulled_at: number | null;
  annotations: string | null;
  referrers: number;
}

const SORT_COLUMNS: Record<RepositorySort, string> = {
  name: 'name',
  pushed: 'last_push_at',
  pulled: 'last_pull_at',
  size: 'size',
  tags: 'tag_count',
};

/** The column each tag sort orders by (then by name). */
const TAG_SORT_COLUMNS: Record<TagSort, string> = {
  pushed: 't.updated_at',
  name: 't.name_key',
  semver: 't.semver_key',
};

const REPOSITORY_COLUMNS =
  'name, size, tag_count, manifest_count, created_at, last_push_at, last_pull_at, pull_count, description';
const LISTED = 'manifest_count > 0 AND (@search IS NULL OR instr(name, @search) > 0)';
const TAG_PATTERN_FILTER = '(@pattern IS NULL OR t.name GLOB @pattern)';
const TAG_COLUMNS = `t.name, t.digest, m.media_type, m.artifact_type, coalesce(m.total_size, m.size) AS size,
  m.platforms, m.image_created, t.updated_at, t.last_pulled_at, m.annotations,
  (SELECT count(*) FROM manifests r WHERE r.repository_id = t.repository_id AND r.subject_digest = t.digest)
    AS referrers`;
const TAGS_OF = `tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
  WHERE t.repository_id = (SELECT id FROM repositories WHERE name = @repository)`;

function toRepository(row: RepositoryRow): RepositorySummary {
  return {
    name: row.name as RepoName,
    size: row.size,
    tagCount: row.tag_count,
    manifestCount: row.manifest_count,
    createdAt: row.created_at,
    lastPushAt: row.last_push_at,
    lastPullAt: row.last_pull_at,
    pullCount: row.pull_count,
    description: row.description,
  };
}

function toTag(row: TagRow): TagSummary {
  return {
    name: row.name as Tag,
    digest: row.digest as Digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    size: row.size,
    platforms: row.platforms ? (JSON.parse(row.platforms) as string[]) : null,
    created: row.image_created,
    pushedAt: row.updated_at,
    lastPulledAt: row.last_pulled_at,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    referrers: row.referrers,
  };
}

/** A tag pattern (only `*` special) as a GLOB: its other specials `?` and `[` bracketed. */
const globOf = (pattern?: string) => (pattern === undefined ? null : pattern.replace(/[?[]/g, '[$&]'));

export function createSqliteCatalogStore(db: SqliteDatabase, indexChanges?: IndexChangeFlag): CatalogStore {
  const repoId = '(SELECT id FROM repositories WHERE name = @repository)';

  // One statement per sort, order and first-or-later page, prepared when first used.
  const listings = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  function listing(sort: RepositorySort, order: SortOrder, after: boolean) {
    const key = `${sort} ${order} ${after}`;
    let prepared = listings.get(key);
    if (!prepared) {
      const column = SORT_COLUMNS[sort];
      const direction = order === 'asc' ? 'ASC' : 'DESC';
      const beyond = order === 'asc' ? '>' : '<';
      const from = !after
        ? ''
        : sort === 'name'
          ? `AND name ${beyond} @name`
          : `AND (${column}, name) ${beyond} (@value, @name)`;
      const orderBy = sort === 'name' ? `name ${direction}` : `${column} ${direction}, name ${direction}`;
      prepared = db.prepare(
        `SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE ${LISTED} ${from} ORDER BY ${orderBy} LIMIT @limit`,
      );
      listings.set(key, prepared);
    }
    return prepared;
  }

  // Likewise one statement per tag sort, order and first-or-later page.
  const tagListings = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  function tagListing(sort: TagSort, order: SortOrder, after: boolean) {
    const key = `${sort} ${order} ${after}`;
    let prepared = tagListings.get(key);
    if (!prepared) {
      const column = TAG_SORT_COLUMNS[sort];
      const direction = order === 'asc' ? 'ASC' : 'DESC';
      const from = after ? `AND (${column}, t.name) ${order === 'asc' ? '>' : '<'} (@key, @name)` : '';
      prepared = db.prepare(
        `SELECT ${TAG_COLUMNS} FROM ${TAGS_OF} AND ${TAG_PATTERN_FILTER} ${from}
         ORDER BY ${column} ${direction}, t.name ${direction} LIMIT @limit`,
      );
      tagListings.set(key, prepared);
    }
    return prepared;
  }
  const statements = {
    count: db.prepare(`SELECT count(*) FROM repositories WHERE ${LISTED}`).pluck(),
    names: db.prepare(`SELECT name FROM repositories WHERE ${LISTED}`).pluck(),
    find: db.prepare(`SELECT ${REPOSITORY_COLUMNS} FROM repositories WHERE name = ? AND manifest_count > 0`),
    findId: db.prepare('SELECT id FROM repositories WHERE name = ? AND manifest_count > 0').pluck(),
    setDescription: db.prepare(
      'UPDATE repositories SET description = @description WHERE name = @name AND manifest_count > 0',
    ),
    deleteTags: db.prepare('DELETE FROM tags WHERE repository_id = ?'),
    deleteManifests: db.prepare('DELETE FROM manifests WHERE repository_id = ?'),
    deleteLinks: db.prepare('DELETE FROM repository_blobs WHERE repository_id = ?'),
    forget: db.prepare(
      'UPDATE repositories SET description = NULL, pull_count = 0, last_pull_at = 0, last_push_at = 0 WHERE id = ?',
    ),
    countTags: db
      .prepare(`SELECT count(*) FROM tags t WHERE t.repository_id = ${repoId} AND ${TAG_PATTERN_FILTER}`)
      .pluck(),
    tagNames: db
      .prepare(`SELECT t.name FROM tags t WHERE t.repository_id = ${repoId} AND ${TAG_PATTERN_FILTER}`)
      .pluck(),
    findTags: db.prepare(
      `SELECT ${TAG_COLUMNS} FROM ${TAGS_OF} AND t.name IN (SELECT value FROM json_each(@names))`,
    ),
    pullRepository: db.prepare(
      `UPDATE repositories SET pull_count = pull_count + @count, last_pull_at = max(last_pull_at, @at)
       WHERE name = @repository`,
    ),
    pullManifest: db.prepare(
      `UPDATE manifests SET last_pulled_at = @at
       WHERE repository_id = ${repoId} AND digest = @digest AND coalesce(last_pulled_at, 0) < @at`,
    ),
    pullTag: db.prepare(
      `UPDATE tags SET last_pulled_at = @at
       WHERE repository_id = ${repoId} AND name = @tag AND coalesce(last_pulled_at, 0) < @at`,
    ),
  };

  const deleteRepository = db.transaction((name: RepoName): RepositoryDeletion | undefined => {
    const id = statements.findId.get(name) as number | undefined;
    if (id === undefined) return undefined;
    const tags = statements.deleteTags.run(id).changes;
    const manifests = statements.deleteManifests.run(id).changes;
    const blobs = statements.deleteLinks.run(id).changes;
    statements.forget.run(id);
    return { tags, manifests, blobs };
  });

  const recordPulls = db.transaction((pulls: readonly PullCount[]) => {
    for (const [repository, { count, at }] of pullsPerRepository(pulls)) {
      statements.pullRepository.run({ repository, count, at });
    }
    for (const { repository, digest, tag, at } of pulls) {
      statements.pullManifest.run({ repository, digest, at });
      if (tag !== undefined) statements.pullTag.run({ repository, tag, at });
    }
  });

  const search = (text?: string) => (text === undefined || text === '' ? null : text);

  const store: Synchronous<CatalogStore> = {
    listRepositories({ search: text, sort, order, limit, after }: RepositoryQuery) {
      const rows = listing(sort, order, after !== undefined).all({
        search: search(text),
        limit: Math.max(0, limit),
        ...(after && { value: after.value, name: after.name }),
      }) as RepositoryRow[];
      return rows.map(toRepository);
    },
    countRepositories: (text) => statements.count.get({ search: search(text) }) as number,
    listRepositoryNames: (text) => statements.names.all({ search: search(text) }) as RepoName[],
    findRepository(name) {
      const row = statements.find.get(name) as RepositoryRow | undefined;
      return row && toRepository(row);
    },
    setDescription: (name, description) => statements.setDescription.run({ name, description }).changes > 0,
    deleteRepository(name) {
      const deleted = deleteRepository.immediate(name);
      if (deleted) indexChanges?.mark();
      return deleted;
    },

    listTags(repository, { pattern, sort, order, limit, after }) {
      const rows = tagListing(sort, order, after !== undefined).all({
        repository,
        pattern: globOf(pattern),
        limit: Math.max(0, limit),
        ...(after && { key: tagSortValue(sort, after), name: after.name }),
      }) as TagRow[];
      return rows.map(toTag);
    },
    countTags: (repository, pattern) =>
      statements.countTags.get({ repository, pattern: globOf(pattern) }) as number,
    listTagNames: (repository, pattern) =>
      statements.tagNames.all({ repository, pattern: globOf(pattern) }) as Tag[],
    findTags(repository, names) {
      if (names.length === 0) return [];
      const rows = statements.findTags.all({ repository, names: JSON.stringify(names) }) as TagRow[];
      return rows.map(toTag);
    },

    recordPulls(pulls) {
      if (pulls.length > 0) recordPulls.immediate(pulls);
    },
  };
  return asAsync<CatalogStore>(store, connectionLock(db).run);
}
