import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetadataStoreConformance } from '../../src/metadata/conformance.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';

describeMetadataStoreConformance('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-store-'));
  const path = join(dir, 'berth.db');
  const databases = [openDatabase(path)];
  return {
    store: createSqliteMetadataStore(databases[0]!),
    async sibling() {
      const db = openDatabase(path);
      databases.push(db);
      return createSqliteMetadataStore(db);
    },
    async cleanup() {
      for (const db of databases) db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
