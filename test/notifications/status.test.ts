// The delivery status GET /api/v1/notifications answers: every configured endpoint (at zero before
// anything happened), then endpoints no longer configured that still have deliveries; ISO times.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/schema.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteOutboxStore } from '../../src/metadata/sqlite-outbox-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { createNotifications } from '../../src/notifications/notifications.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('notifications status', () => {
  let db: SqliteDatabase;
  beforeEach(() => {
    db = openDatabase(':memory:');
  });
  afterEach(() => db.close());

  it('lists configured endpoints first, at zero when nothing happened, then unconfigured ones', async () => {
    const outbox = createSqliteOutboxStore(db);
    const config = parseConfig({
      notifications: {
        endpoints: [
          { name: 'ci', url: 'http://127.0.0.1:9/a' },
          { name: 'audit', url: 'http://127.0.0.1:9/b' },
        ],
      },
    }).notifications;
    await outbox.enqueue([{ eventId: 'e1', repository: 'r', payload: '{}', endpoints: ['ci', 'gone'] }], T0);
    const [delivery] = await outbox.claim('ci', { holder: 'w', now: T0, until: T0 + 10, limit: 1 });
    await outbox.markFailed(delivery!.seq, 'w', { at: T0 + 5, nextAttemptAt: T0 + 100, error: 'HTTP 502' });
    const notifications = createNotifications({
      config,
      store: outbox,
      leases: createSqliteMetadataStore(db),
      holder: 'h',
      clock: () => T0 + 61_500,
      log: silent,
    });
    expect(await notifications.status()).toEqual([
      {
        name: 'ci',
        configured: true,
        pending: 1,
        retrying: 1,
        oldestPendingAt: '2024-05-01T12:00:00.000Z',
        oldestPendingAgeSeconds: 61,
        delivered: 0,
        dropped: 0,
        lastSuccessAt: null,
        lastFailureAt: '2024-05-01T12:00:00.005Z',
        lastError: 'HTTP 502',
      },
      {
        name: 'audit',
        configured: true,
        pending: 0,
        retrying: 0,
        oldestPendingAt: null,
        oldestPendingAgeSeconds: null,
        delivered: 0,
        dropped: 0,
        lastSuccessAt: null,
        lastFailureAt: null,
        lastError: null,
      },
      expect.objectContaining({ name: 'gone', configured: false, pending: 1 }),
    ]);
    await notifications.close();
  });
});
