// The delivery worker against real receivers on 127.0.0.1 and a real SQLite outbox: order, retries
// with backoff, wake-ups, expiry, one sender among processes, and a bounded stop.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, type NotificationEndpointConfig } from '../../src/config/schema.js';
import type { RegistryEvent } from '../../src/events/registry-event.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteOutboxStore } from '../../src/metadata/sqlite-outbox-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import {
  backoffDelay,
  startDeliveryWorker,
  type DeliveryWorker,
  type DeliveryWorkerOptions,
} from '../../src/notifications/delivery-worker.js';
import { createEnqueuer } from '../../src/notifications/enqueuer.js';
import type { OutboxStore } from '../../src/notifications/outbox-store.js';
import type { Logger } from '../../src/registry/deps.js';
import { waitFor } from '../support/http.js';
import { distributionEvents, startWebhookReceiver, type WebhookReceiver } from '../support/webhooks.js';

interface LogLine {
  level: string;
  fields: object;
  msg?: string;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (fields: object, msg?: string): void =>
      void lines.push({ level, fields, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const endpointConfig = (name: string, url: string, extra: object = {}): NotificationEndpointConfig =>
  parseConfig({ notifications: { endpoints: [{ name, url, ...extra }] } }).notifications.endpoints[0]!;

let counter = 0;
const event = (repository: string, action: RegistryEvent['action'] = 'push'): RegistryEvent => ({
  id: `${repository}#${++counter}`,
  timestamp: new Date().toISOString(),
  action,
  target: { kind: 'manifest', repository, digest: `sha256:${'0'.repeat(64)}`, tag: `t${counter}` },
  request: { id: 'req', addr: '127.0.0.1', host: 'registry.test', method: 'PUT', userAgent: 'test' },
  actor: {},
});

describe('backoff', () => {
  it('doubles from initialBackoff up to maxBackoff, each delay up to 20% shorter at random', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 6, 60, 5000].map((n) => backoffDelay(n, backoff, () => 0))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000, 1000,
    ]);
    expect(backoffDelay(1, backoff, () => 0.999)).toBe(80);
    expect(backoffDelay(6, backoff, () => 0.5)).toBe(900);
  });
});

describe('delivery worker', () => {
  let dir: string;
  let databases: SqliteDatabase[];
  let workers: DeliveryWorker[];
  let receivers: WebhookReceiver[];
  let lines: LogLine[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-webhook-worker-'));
    databases = [];
    workers = [];
    receivers = [];
    lines = [];
  });
  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all(receivers.map((receiver) => receiver.close()));
    for (const db of databases) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores on the test's database file, as one process opens them. */
  function openProcess() {
    const db = openDatabase(join(dir, 'berth.db'));
    databases.push(db);
    return { outbox: createSqliteOutboxStore(db), metadata: createSqliteMetadataStore(db) };
  }

  async function receiver() {
    const started = await startWebhookReceiver();
    receivers.push(started);
    return started;
  }

  function start(
    stores: ReturnType<typeof openProcess>,
    endpoints: NotificationEndpointConfig[],
    extra: Partial<DeliveryWorkerOptions> = {},
  ) {
    const worker = startDeliveryWorker({
      endpoints,
      store: stores.outbox,
      leases: stores.metadata,
      holder: randomUUID(),
      source: { addr: 'test:5000', instanceID: 'i' },
      backoff: { initialMs: 50, maxMs: 400 },
      maxAgeMs: 3_600_000,
      clock: Date.now,
      log: recordingLogger(lines),
      pollMs: 200,
      ...extra,
    });
    workers.push(worker);
    return worker;
  }

  const enqueue = (store: OutboxStore, events: RegistryEvent[], endpoints = ['hook']) =>
    store.enqueue(
      events.map((e) => ({
        eventId: e.id,
        repository: e.target.repository,
        payload: JSON.stringify(e),
        endpoints,
      })),
      Date.now(),
    );

  it('delivers every event once, each repository in order, retrying through refusals and 500s', async () => {
    const hook = await receiver();
    await hook.down();
    const stores = openProcess();
    const events = Array.from({ length: 30 }, (_, i) => event(`repo-${i % 3}`));
    await enqueue(stores.outbox, events);
    start(stores, [endpointConfig('hook', hook.url)]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await hook.up();
    hook.answer(500);
    await waitFor('attempts answered 500', () => hook.attempts.length >= 6);
    expect(hook.accepted).toHaveLength(0);
    hook.answer(200);
    await waitFor('every event', () => hook.accepted.length >= events.length);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const got = distributionEvents(hook.accepted).map((e) => e.id);
    expect(got).toHaveLength(events.length);
    expect(new Set(got).size).toBe(events.length);
    for (let r = 0; r < 3; r++) {
      const expected = events.filter((e) => e.target.repository === `repo-${r}`).map((e) => e.id);
      expect(got.filter((id) => id.startsWith(`repo-${r}#`))).toEqual(expected);
    }
    const [status] = await stores.outbox.listStatus();
    expect(status).toMatchObject({ endpoint: 'hook', pending: 0, delivered: 30, lastError: 'HTTP 500' });
    // One warning when the endpoint started failing, one line when it recovered: not one per attempt.
    expect(lines.filter((l) => l.msg?.startsWith('webhook delivery failed:'))).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'webhook endpoint accepts deliveries again')).toHaveLength(1);
  });

  it('sends soon after an enqueue in the same process, without waiting for the next poll', async () => {
    const hook = await receiver();
    const stores = openProcess();
    const endpoints = [endpointConfig('hook', hook.url)];
    const worker = start(stores, endpoints, { pollMs: 10_000 });
    // The first poll takes the lease; from then on only wake-ups make the worker look.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const enqueuer = createEnqueuer({
      endpoints,
      store: stores.outbox,
      clock: Date.now,
      log: recordingLogger(lines),
      enqueued: (names) => worker.wake(names),
    });
    const started = Date.now();
    enqueuer.listener(event('quick'));
    await waitFor('the event', () => hook.accepted.length === 1, 5000);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('sends from one process at a time, and another takes over when it stops', async () => {
    const hook = await receiver();
    const as = (sender: string) => [
      endpointConfig('hook', hook.url, { headers: { 'X-Test-Sender': sender } }),
    ];
    const a = openProcess();
    const b = openProcess();
    const first = start(a, as('a'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    start(b, as('b'));
    const events = Array.from({ length: 20 }, (_, i) => event(`r${i % 4}`));
    await enqueue(b.outbox, events.slice(0, 10));
    await enqueue(a.outbox, events.slice(10));
    await waitFor('every event', () => hook.accepted.length >= 20);
    expect(new Set(hook.accepted.map((r) => r.headers['x-test-sender']))).toEqual(new Set(['a']));
    await first.stop();
    const later = [event('r0'), event('r9')];
    await enqueue(a.outbox, later);
    await waitFor('the events after the first worker stopped', () => hook.accepted.length >= 22, 5000);
    const ids = distributionEvents(hook.accepted).map((e) => e.id);
    expect(new Set(ids).size).toBe(22);
    expect(ids.slice(20).sort()).toEqual(later.map((e) => e.id).sort());
    expect(hook.accepted.slice(20).map((r) => r.headers['x-test-sender'])).toEqual(['b', 'b']);
  });

  it('drops deliveries older than maxAge, with one log line per endpoint', async () => {
    const stores = openProcess();
    const old = [event('r1'), event('r2'), event('r1')];
    await stores.outbox.enqueue(
      old.map((e) => ({
        eventId: e.id,
        repository: e.target.repository,
        payload: '{}',
        endpoints: ['a', 'b'],
      })),
      Date.now() - 10_000,
    );
    start(stores, [], { maxAgeMs: 5_000 });
    await waitFor('the drop', () => lines.some((l) => l.msg?.startsWith('webhook events dropped')));
    const dropped = lines.filter((l) => l.msg?.startsWith('webhook events dropped'));
    expect(dropped.map((l) => l.fields)).toEqual([
      expect.objectContaining({ endpoint: 'a', events: 3, eventIds: old.map((e) => e.id) }),
      expect.objectContaining({ endpoint: 'b', events: 3, eventIds: old.map((e) => e.id) }),
    ]);
    expect(dropped[0]?.level).toBe('warn');
    expect((await stores.outbox.listStatus()).map((s) => [s.endpoint, s.pending, s.dropped])).toEqual([
      ['a', 0, 3],
      ['b', 0, 3],
    ]);
  });

  it('stops within the endpoint’s timeout when a receiver never answers, and retries the send later', async () => {
    let asked = false;
    const hanging: Server = createServer(() => void (asked = true));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
      const stores = openProcess();
      await enqueue(stores.outbox, [event('slow')]);
      const worker = start(stores, [endpointConfig('hook', url, { timeout: '300ms' })]);
      await waitFor('the send to start', () => asked);
      const stopping = Date.now();
      await worker.stop();
      expect(Date.now() - stopping).toBeLessThan(1500);
      const [status] = await stores.outbox.listStatus();
      expect(status).toMatchObject({ pending: 1, retrying: 1 });
      expect(status?.lastError).toMatch(/timeout|aborted/i);
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
