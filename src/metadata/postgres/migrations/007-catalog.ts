// What the management API lists and sorts by: see the SQLite migration 008-catalog.ts.
export const up = `
ALTER TABLE repositories ADD COLUMN description TEXT;
ALTER TABLE repositories ADD COLUMN last_push_at BIGINT;
ALTER TABLE repositories ADD COLUMN last_pull_at BIGINT;
ALTER TABLE repositories ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN total_size BIGINT;
ALTER TABLE manifests ADD COLUMN image_created TEXT;
ALTER TABLE manifests ADD COLUMN platforms TEXT;
ALTER TABLE manifests ADD COLUMN last_pulled_at BIGINT;
ALTER TABLE tags ADD COLUMN last_pulled_at BIGINT;
`;
