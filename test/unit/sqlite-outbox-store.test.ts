import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { describeOutboxStoreConformance } from '../../src/metadata/outbox-conformance.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { createSqliteOutboxStore } from '../../src/metadata/sqlite-outbox-store.js';
import { itWorksOnMigratedSqlite, preparedStatementPlans, sqliteStores } from '../support/store-databases.js';

describeOutboxStoreConformance('sqlite', sqliteStores(createSqliteOutboxStore));

describe('sqlite outbox store', () => {
  itWorksOnMigratedSqlite(async (db) => {
    const outbox = createSqliteOutboxStore(db);
    await outbox.enqueue([{ eventId: 'e1', repository: 'r', payload: '{}', endpoints: ['ci'] }], 5);
    const [delivery] = await outbox.claim('ci', { holder: 'w', now: 5, until: 10, limit: 1 });
    expect(await outbox.markDelivered(delivery!.seq, 6)).toBe(true);
    expect((await outbox.listStatus())[0]).toMatchObject({ endpoint: 'ci', delivered: 1, pending: 0 });
  });

  it('finds the heads of the queues and the expired rows through indexes', () => {
    const db = openDatabase(':memory:');
    try {
      const plan = preparedStatementPlans(db, createSqliteOutboxStore);
      // The heads by a loose index scan: seeks per repository, never a scan of the queued deliveries.
      const claim = plan(/UPDATE outbox SET claim_holder/);
      expect(claim).toMatch(/USING COVERING INDEX outbox_queue \(endpoint=\? AND repository>\?\)/);
      expect(claim).toMatch(/USING COVERING INDEX outbox_queue \(endpoint=\? AND repository=\?\)/);
      expect(claim).not.toMatch(/SCAN outbox/);
      const expired = plan(/WHERE created_at < @createdBefore/);
      expect(expired).toMatch(/USING INDEX outbox_created \(created_at<\?\)/);
      expect(expired).not.toMatch(/TEMP B-TREE/);
    } finally {
      db.close();
    }
  });

  it('waits for a unit of work open on the same connection instead of landing inside it', async () => {
    const db = openDatabase(':memory:');
    try {
      const accounts = createSqliteAccountStore(db);
      const outbox = createSqliteOutboxStore(db);
      let opened = () => {};
      const open = new Promise<void>((done) => (opened = done));
      const work = accounts.transaction(async () => {
        opened();
        await new Promise((done) => setTimeout(done, 10));
        throw new Error('roll back');
      });
      await open;
      const enqueued = outbox.enqueue(
        [{ eventId: 'e1', repository: 'r', payload: '{}', endpoints: ['ci'] }],
        1,
      );
      await expect(work).rejects.toThrow('roll back');
      await enqueued;
      // Recorded after the rollback, not inside the transaction it undid.
      expect((await outbox.listStatus())[0]?.pending).toBe(1);
    } finally {
      db.close();
    }
  });
});
