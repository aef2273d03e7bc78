// What the management API lists and sorts by (src/registry/catalog-store.ts):
// - repositories: a description, when content was last pushed and pulled, and how often it was pulled;
// - manifests: the total size of what they reference, the image config's `created`, the platforms of
//   an index (JSON), and when they were last pulled;
// - tags: when they were last pulled (tags.updated_at is when the tag was last pushed or moved).
export const up = `
ALTER TABLE repositories ADD COLUMN description TEXT;
ALTER TABLE repositories ADD COLUMN last_push_at INTEGER;
ALTER TABLE repositories ADD COLUMN last_pull_at INTEGER;
ALTER TABLE repositories ADD COLUMN pull_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN total_size INTEGER;
ALTER TABLE manifests ADD COLUMN image_created TEXT;
ALTER TABLE manifests ADD COLUMN platforms TEXT;
ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;
ALTER TABLE tags ADD COLUMN last_pulled_at INTEGER;
`;
