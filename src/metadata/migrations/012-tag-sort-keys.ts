// Sort keys of tag names (src/registry/tag-sort-keys.ts), so that tags listed by name (numeric-aware)
// or by semver are read along an index from the page's key, as by push time (tags_by_push), instead of
// every name of the repository being sorted per request. Rows ordered by (key, name), both BINARY, come
// in the listing's order. Every writer of tags sets both keys (sqlite-store.ts; `berth db copy` copies
// them); the '' default only lets the columns be added to a table holding rows, which the backfill then
// computes, in batches along the primary key, before the indexes are built.
import type { SqliteDatabase } from '../db.js';
import { naturalKey, semverKey } from '../../registry/tag-sort-keys.js';

export const up = `
ALTER TABLE tags ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE tags ADD COLUMN semver_key TEXT NOT NULL DEFAULT '';
`;

const INDEXES = `
CREATE INDEX tags_by_name_key ON tags(repository_id, name_key, name);
CREATE INDEX tags_by_semver_key ON tags(repository_id, semver_key, name);
`;

const BATCH = 1000;

export function backfill(db: SqliteDatabase): void {
  const next = db
    .prepare(
      `SELECT repository_id, name FROM tags WHERE (repository_id, name) > (?, ?)
       ORDER BY repository_id, name LIMIT ${BATCH}`,
    )
    .raw();
  const update = db.prepare(
    'UPDATE tags SET name_key = ?, semver_key = ? WHERE repository_id = ? AND name = ?',
  );
  let after: [number, string] = [-1, ''];
  for (;;) {
    const rows = next.all(...after) as Array<[number, string]>;
    for (const [id, name] of rows) update.run(naturalKey(name), semverKey(name), id, name);
    const last = rows.at(-1);
    if (rows.length < BATCH || !last) break;
    after = last;
  }
  db.exec(INDEXES);
}
