// Sort keys of tag names: the columns and indexes of the SQLite migration 012-tag-sort-keys.ts (see
// there), for PostgreSQL. The keys compare bytewise (COLLATE "C", as tags.name does), whatever the
// database's collation. The columns are added empty, the backfill computes the keys of the rows there
// in batches along the primary key, and only then are they made NOT NULL (every writer of tags sets
// them: postgres-store.ts, `berth db copy`) and indexed.
import { naturalKey, semverKey } from '../../../registry/tag-sort-keys.js';
import type { PostgresClient } from '../db.js';

export const up = `
ALTER TABLE tags ADD COLUMN name_key TEXT COLLATE "C";
ALTER TABLE tags ADD COLUMN semver_key TEXT COLLATE "C";
`;

const FINISH = `
ALTER TABLE tags ALTER COLUMN name_key SET NOT NULL, ALTER COLUMN semver_key SET NOT NULL;
CREATE INDEX tags_by_name_key ON tags(repository_id, name_key, name);
CREATE INDEX tags_by_semver_key ON tags(repository_id, semver_key, name);
`;

const BATCH = 1000;

export async function backfill(client: PostgresClient): Promise<void> {
  let after: { repository_id: string; name: string } | undefined;
  for (;;) {
    const { rows } = await client.query<{ repository_id: string; name: string }>(
      `SELECT repository_id, name FROM tags ${after ? 'WHERE (repository_id, name) > ($2, $3)' : ''}
       ORDER BY repository_id, name LIMIT $1`,
      after ? [BATCH, after.repository_id, after.name] : [BATCH],
    );
    if (rows.length > 0) {
      await client.query(
        `UPDATE tags t SET name_key = v.name_key, semver_key = v.semver_key
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v(repository_id, name, name_key, semver_key)
         WHERE t.repository_id = v.repository_id AND t.name = v.name`,
        [
          rows.map((row) => row.repository_id),
          rows.map((row) => row.name),
          rows.map((row) => naturalKey(row.name)),
          rows.map((row) => semverKey(row.name)),
        ],
      );
    }
    after = rows.at(-1);
    if (rows.length < BATCH || !after) break;
  }
  await client.query(FINISH);
}
