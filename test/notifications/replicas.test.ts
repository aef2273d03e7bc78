// Two Berth replicas on one database (two in-process servers on one SQLite file; two on one
// PostgreSQL database when its binaries are available): pushes to either one, through a receiver that
// fails at first, reach it once each, in order per repository, sent by one replica at a time.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BerthConfigInput } from '../../src/config/schema.js';
import { waitFor } from '../support/http.js';
import {
  requirePostgres,
  startPostgres,
  type PostgresServer,
  type TestDatabase,
} from '../support/postgres.js';
import {
  distributionEvents,
  pushSmallImage,
  startBerthOn,
  startWebhookReceiver,
  type BerthOnDataDir,
  type WebhookReceiver,
} from '../support/webhooks.js';

async function deliversOncePerEvent(
  replicas: [BerthOnDataDir, BerthOnDataDir],
  receiver: WebhookReceiver,
): Promise<void> {
  receiver.answer(503);
  const expected = new Map<string, string[]>();
  /** Which replica's port handled each tag's push. */
  const handledBy = new Map<string, string>();
  for (let i = 0; i < 12; i++) {
    const repository = `team/r${i % 3}`;
    const tag = `v${i}`;
    const replica = replicas[i % 2]!;
    const digest = await pushSmallImage(replica.url, repository, tag);
    expected.set(repository, [...(expected.get(repository) ?? []), 'blob', `${tag} ${digest}`]);
    handledBy.set(tag, new URL(replica.url).port);
  }
  await waitFor('failed attempts', () => receiver.attempts.length >= 3, 10_000);
  receiver.answer(200);
  await waitFor('every event', () => receiver.accepted.length >= 24, 15_000);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const events = distributionEvents(receiver.accepted);
  expect(events).toHaveLength(24);
  expect(new Set(events.map((e) => e.id)).size).toBe(24);
  for (const [repository, list] of expected) {
    const seen = events
      .filter((e) => e.target.repository === repository)
      .map((e) => (e.target.tag === undefined ? 'blob' : `${e.target.tag} ${e.target.digest}`));
    expect(seen, repository).toEqual(list);
  }
  // One replica sends (the other's events go through the shared outbox), each event naming the replica
  // that handled its request as its source.
  expect(new Set(receiver.attempts.map((r) => r.headers['x-replica'])).size).toBe(1);
  for (const e of events.filter((e) => e.target.tag !== undefined)) {
    expect(e.source.addr.split(':').at(-1)).toBe(handledBy.get(e.target.tag!));
  }
  expect(new Set(events.map((e) => e.source.instanceID)).size).toBe(2);
}

const webhooks = (receiver: WebhookReceiver, replica: string): BerthConfigInput['notifications'] => ({
  endpoints: [{ name: 'ci', url: receiver.url, headers: { 'X-Replica': replica } }],
  initialBackoff: '100ms',
  maxBackoff: '1s',
});

describe('webhooks from two replicas on one SQLite file', () => {
  let dir: string;
  let receiver: WebhookReceiver;
  const replicas: BerthOnDataDir[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-webhook-replicas-'));
    receiver = await startWebhookReceiver();
  });
  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((replica) => replica.stop()));
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers each event once, in order per repository', async () => {
    replicas.push(await startBerthOn(dir, { notifications: webhooks(receiver, 'a') }));
    replicas.push(await startBerthOn(dir, { notifications: webhooks(receiver, 'b') }));
    await deliversOncePerEvent([replicas[0]!, replicas[1]!], receiver);
  });
});

describe.skipIf(!requirePostgres('webhooks from PostgreSQL replicas'))(
  'webhooks from two replicas on one PostgreSQL database',
  () => {
    let server: PostgresServer;
    let database: TestDatabase;
    let dir: string;
    let receiver: WebhookReceiver;
    const replicas: BerthOnDataDir[] = [];

    beforeAll(async () => {
      server = await startPostgres();
      database = await server.createDatabase();
      dir = await mkdtemp(join(tmpdir(), 'berth-webhook-pg-replicas-'));
      receiver = await startWebhookReceiver();
    });
    afterAll(async () => {
      await Promise.all(replicas.splice(0).map((replica) => replica.stop()));
      await receiver?.close();
      await database?.drop();
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('delivers each event once, in order per repository', async () => {
      for (const name of ['a', 'b']) {
        replicas.push(
          await startBerthOn(join(dir, name), {
            metadata: { driver: 'postgres', postgres: { url: database.url } },
            storage: { filesystem: { root: join(dir, 'storage') } },
            notifications: webhooks(receiver, name),
          }),
        );
      }
      await deliversOncePerEvent([replicas[0]!, replicas[1]!], receiver);
    });
  },
);
