// Issue 12's test: a webhook receiver that is down (connection refused, then 500s) for a while, then
// up: every event arrives once (by id), in order per repository, signed; the same across a Berth
// restart while the receiver is down. The outage lasts 30 s (refused, then 500s), with backoff from
// 100ms to 1s, so that it spans many retries at the longest backoff. GET
// /api/v1/notifications shows the deliveries pending, then delivered.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointDeliveryStatus } from '../../src/notifications/notifications.js';
import { rawRequest, waitFor } from '../support/http.js';
import {
  distributionEvents,
  expectedSignature,
  pushSmallImage,
  startBerthOn,
  startWebhookReceiver,
  tokenHeaders,
  type BerthOnDataDir,
  type WebhookReceiver,
} from '../support/webhooks.js';

/** How long the receiver is unreachable or failing (issue 12: "down for 30 s"). */
const OUTAGE_MS = 30_000;
const ADMIN: [string, string] = ['admin', 'outage-admin-password'];
const SECRET = 'outage-secret';
const basic = `Basic ${Buffer.from(ADMIN.join(':')).toString('base64')}`;

/** What a repository's receiver should see, in order: `<action> <tag or digest>`. */
type Expected = Map<string, string[]>;

describe('webhooks through a receiver outage and a Berth restart', () => {
  let dir: string;
  let receiver: WebhookReceiver;
  let berth: BerthOnDataDir | undefined;
  const expected: Expected = new Map();
  /** When the receiver went down: it stays down (refusing, then answering 500) for OUTAGE_MS. */
  let downSince = 0;

  const start = () =>
    startBerthOn(
      dir,
      {
        auth: { mode: 'token' },
        notifications: {
          endpoints: [{ name: 'ci', url: receiver.url, secret: SECRET, actions: ['push', 'delete'] }],
          initialBackoff: '100ms',
          maxBackoff: '1s',
        },
      },
      { adminPassword: ADMIN[1] },
    );

  async function status(): Promise<EndpointDeliveryStatus> {
    const res = await fetch(`${berth!.url}/api/v1/notifications`, { headers: { Authorization: basic } });
    expect(res.status).toBe(200);
    const { endpoints } = (await res.json()) as { endpoints: EndpointDeliveryStatus[] };
    expect(endpoints.map((e) => e.name)).toEqual(['ci']);
    return endpoints[0]!;
  }

  /** Pushes `repository:tag` and records the events it makes: its config blob, then its manifest. */
  async function push(repository: string, tag: string): Promise<void> {
    const digest = await pushSmallImage(
      berth!.url,
      repository,
      tag,
      await tokenHeaders(berth!.url, repository, ADMIN),
    );
    const list = expected.get(repository) ?? [];
    list.push('push blob', `push ${tag} ${digest}`);
    expected.set(repository, list);
  }

  async function deleteTag(repository: string, tag: string): Promise<void> {
    const res = await rawRequest(berth!.url, 'DELETE', `/v2/${repository}/manifests/${tag}`, {
      headers: await tokenHeaders(berth!.url, repository, ADMIN),
    });
    expect(res.status).toBe(202);
    expected.get(repository)!.push(`delete ${tag}`);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-webhook-outage-'));
    receiver = await startWebhookReceiver();
    await receiver.down();
    downSince = Date.now();
  });
  afterAll(async () => {
    await berth?.stop();
    await receiver?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'delivers every event once, in order per repository, signed, after the receiver comes back',
    {
      timeout: OUTAGE_MS + 60_000,
    },
    async () => {
      berth = await start();
      // Tag moves: latest pushed again with another manifest.
      await push('team-a/app', 'v1');
      await push('team-a/app', 'latest');
      await push('tools/ci', 'v1');
      await push('team-a/app', 'v2');
      await push('team-a/app', 'latest');
      await deleteTag('team-a/app', 'v1');
      await push('tools/ci', 'latest');
      const firstBatch = [...expected.values()].flat().length;

      // Refused: the deliveries are pending, the heads retrying with backoff.
      await waitFor('failed attempts', async () => (await status()).retrying >= 2, 5000);
      const refused = await status();
      expect(refused).toMatchObject({
        configured: true,
        pending: firstBatch,
        delivered: 0,
        lastSuccessAt: null,
      });
      expect(refused.lastError).toMatch(/ECONNREFUSED/);
      expect(refused.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(0);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Still retrying, a second and a half later.
      expect(Date.parse((await status()).lastFailureAt!)).toBeGreaterThan(Date.parse(refused.lastFailureAt!));

      // A restart while the receiver is still down: nothing is lost, and new events queue behind.
      await berth.stop();
      berth = await start();
      expect((await status()).pending).toBe(firstBatch);
      await push('team-a/app', 'v3');
      await push('other/lib', 'v1');
      const total = [...expected.values()].flat().length;
      expect((await status()).pending).toBe(total);

      // Down for the 30 seconds in all, the last few of them answering 500.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, downSince + OUTAGE_MS - 5_000 - Date.now())),
      );
      // Up, but failing: every attempt is answered 500 and retried.
      await receiver.up();
      receiver.answer(500);
      await waitFor('several 500s', () => receiver.attempts.length >= 4, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(receiver.accepted).toHaveLength(0);
      expect((await status()).lastError).toBe('HTTP 500');

      // Up for real.
      receiver.answer(200);
      await waitFor('every event', () => receiver.accepted.length >= total, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 500));

      const events = distributionEvents(receiver.accepted);
      expect(events).toHaveLength(total);
      expect(new Set(events.map((e) => e.id)).size).toBe(total);
      for (const received of receiver.accepted) {
        expect(received.headers['x-berth-signature']).toBe(expectedSignature(received.body, SECRET));
      }
      for (const [repository, list] of expected) {
        const seen = events
          .filter((e) => e.target.repository === repository)
          .map((e) =>
            e.action === 'delete'
              ? `delete ${e.target.tag}`
              : e.target.tag === undefined
                ? 'push blob'
                : `push ${e.target.tag} ${e.target.digest}`,
          );
        expect(seen, repository).toEqual(list);
      }
      expect(events.every((e) => e.actor.name === 'admin')).toBe(true);

      const after = await status();
      expect(after).toMatchObject({
        pending: 0,
        retrying: 0,
        oldestPendingAt: null,
        oldestPendingAgeSeconds: null,
        delivered: total,
        dropped: 0,
        lastError: 'HTTP 500',
      });
      expect(Date.parse(after.lastSuccessAt!)).toBeGreaterThan(Date.parse(after.lastFailureAt!));
    },
  );

  it('answers GET /api/v1/notifications to global administrators only', async () => {
    const created = await fetch(`${berth!.url}/api/v1/users`, {
      method: 'POST',
      headers: { Authorization: basic, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: 'alice-password-1' }),
    });
    expect(created.status).toBe(201);
    const alice = `Basic ${Buffer.from('alice:alice-password-1').toString('base64')}`;
    const denied = await fetch(`${berth!.url}/api/v1/notifications`, { headers: { Authorization: alice } });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ errors: [{ code: 'DENIED' }] });
    expect((await fetch(`${berth!.url}/api/v1/notifications`)).status).toBe(401);
  });
});
