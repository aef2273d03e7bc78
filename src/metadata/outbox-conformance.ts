// The behaviour every OutboxStore must show, whatever database is under it (the contract in
// src/notifications/outbox-store.ts). A store's test file calls
// `describeOutboxStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxDelivery, OutboxEndpointStatus, OutboxStore } from '../notifications/outbox-store.js';

export interface OutboxStoreUnderTest {
  /** A store on an empty (migrated) database. */
  store: OutboxStore;
  /** A second store on the same database, as another process or replica would open it. */
  sibling(): Promise<OutboxStore>;
  cleanup?: () => Promise<void>;
}

const T0 = 1_700_000_000_000;
const LEASE = 60_000;

const NO_STATUS: Omit<OutboxEndpointStatus, 'endpoint'> = {
  pending: 0,
  retrying: 0,
  oldestPendingAt: null,
  delivered: 0,
  dropped: 0,
  lastSuccessAt: null,
  lastFailureAt: null,
  lastError: null,
};

export function describeOutboxStoreConformance(
  name: string,
  create: () => Promise<OutboxStoreUnderTest>,
): void {
  describe(`outbox store conformance: ${name}`, () => {
    let subject: OutboxStoreUnderTest;
    let store: OutboxStore;
    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    /** Enqueues one event per id, each for `endpoints`, in one call. */
    const enqueue = (
      events: ReadonlyArray<[id: string, repository: string]>,
      at = T0,
      endpoints: readonly string[] = ['ci'],
      target: OutboxStore = store,
    ) =>
      target.enqueue(
        events.map(([eventId, repository]) => ({
          eventId,
          repository,
          payload: JSON.stringify({ id: eventId, repository }),
          endpoints,
        })),
        at,
      );
    const claim = (
      endpoint = 'ci',
      now = T0,
      extra: { holder?: string; limit?: number; until?: number } = {},
    ) =>
      store.claim(endpoint, {
        holder: extra.holder ?? 'w1',
        now,
        until: extra.until ?? now + LEASE,
        limit: extra.limit ?? 100,
      });
    const ids = (deliveries: OutboxDelivery[]) => deliveries.map((d) => d.eventId);
    const statusOf = async (endpoint: string) =>
      (await store.listStatus()).find((status) => status.endpoint === endpoint);

    describe('enqueue and claim', () => {
      it('claims nothing from an empty outbox', async () => {
        expect(await claim()).toEqual([]);
        expect(await store.listStatus()).toEqual([]);
      });

      it('records one delivery per endpoint, with the payload byte for byte', async () => {
        const payload = JSON.stringify({ id: 'e1', note: 'ünï 🐳', nested: { a: [1, 2] } });
        await store.enqueue(
          [{ eventId: 'e1', repository: 'team-a/app', payload, endpoints: ['ci', 'audit'] }],
          T0,
        );
        const [ci] = await claim('ci');
        expect(ci).toEqual({
          seq: expect.any(Number) as number,
          endpoint: 'ci',
          eventId: 'e1',
          repository: 'team-a/app',
          payload,
          createdAt: T0,
          attempts: 0,
        });
        const [audit] = await claim('audit');
        expect(audit).toMatchObject({ endpoint: 'audit', eventId: 'e1', payload });
        expect(audit?.seq).not.toBe(ci?.seq);
        expect(await claim('other')).toEqual([]);
      });

      it('numbers deliveries in enqueue order, within a call and across calls', async () => {
        await enqueue([
          ['e1', 'r1'],
          ['e2', 'r2'],
        ]);
        await enqueue([['e3', 'r3']], T0 + 1);
        await enqueue([
          ['e4', 'r4'],
          ['e5', 'r5'],
        ]);
        const claimed = await claim('ci', T0 + 1);
        expect(ids(claimed)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
        const seqs = claimed.map((d) => d.seq);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(5);
      });

      it('does nothing for an empty enqueue or an entry without endpoints', async () => {
        await store.enqueue([], T0);
        await store.enqueue([{ eventId: 'e1', repository: 'r', payload: '{}', endpoints: [] }], T0);
        expect(await claim()).toEqual([]);
        expect(await store.listStatus()).toEqual([]);
      });

      it('claims only the head of each repository: a later event waits for the earlier one', async () => {
        await enqueue([
          ['a1', 'a'],
          ['b1', 'b'],
          ['a2', 'a'],
          ['a3', 'a'],
          ['c1', 'c'],
          ['b2', 'b'],
        ]);
        const first = await claim();
        expect(ids(first)).toEqual(['a1', 'b1', 'c1']);
        // Claimed heads are not claimed again, and what is behind them still waits.
        expect(await claim('ci', T0, { holder: 'w2' })).toEqual([]);
        expect(await store.markDelivered(first[0]!.seq, T0 + 1)).toBe(true);
        expect(ids(await claim('ci', T0 + 1))).toEqual(['a2']);
        expect(await store.markDelivered(first[1]!.seq, T0 + 1)).toBe(true);
        expect(ids(await claim('ci', T0 + 1))).toEqual(['b2']);
      });

      it('keeps the queues of endpoints and of repositories apart, with names compared exactly', async () => {
        await enqueue([['x1', 'team/App']], T0, ['ci']);
        await enqueue([['x2', 'team/app']], T0, ['ci']);
        await enqueue([['x3', 'team/App']], T0, ['CI']);
        // Different repository names (by case) and endpoints are separate queues: all heads.
        expect(ids(await claim('ci'))).toEqual(['x1', 'x2']);
        expect(ids(await claim('CI'))).toEqual(['x3']);
      });

      it('claims at most `limit`, earliest first, and none for a limit of 0', async () => {
        await enqueue(Array.from({ length: 5 }, (_, i): [string, string] => [`e${i}`, `r${i}`]));
        expect(await claim('ci', T0, { limit: 0 })).toEqual([]);
        expect(ids(await claim('ci', T0, { limit: 2 }))).toEqual(['e0', 'e1']);
        expect(ids(await claim('ci', T0, { limit: 2 }))).toEqual(['e2', 'e3']);
        expect(ids(await claim('ci', T0, { limit: 2 }))).toEqual(['e4']);
      });

      it('claims a delivery enqueued at `now`, not one enqueued later', async () => {
        await enqueue([['e1', 'r1']], T0);
        await enqueue([['e2', 'r2']], T0 + 10);
        expect(ids(await claim('ci', T0))).toEqual(['e1']);
        expect(ids(await claim('ci', T0 + 10))).toEqual(['e2']);
      });

      it('gives a delivery whose claim ended to the next claimer (its worker died mid-send)', async () => {
        await enqueue([['e1', 'r']]);
        expect(ids(await claim('ci', T0, { holder: 'w1', until: T0 + 100 }))).toEqual(['e1']);
        expect(await claim('ci', T0 + 99, { holder: 'w2' })).toEqual([]);
        const again = await claim('ci', T0 + 100, { holder: 'w2' });
        expect(ids(again)).toEqual(['e1']);
        expect(again[0]?.attempts).toBe(0);
        // The first holder no longer holds it: its failure changes nothing.
        expect(
          await store.markFailed(again[0]!.seq, 'w1', { at: T0 + 101, nextAttemptAt: T0 + 200, error: 'x' }),
        ).toBe(false);
        expect((await statusOf('ci'))?.retrying).toBe(0);
      });
    });

    describe('outcomes', () => {
      it('removes a delivered delivery and counts it once', async () => {
        await enqueue([['e1', 'r']]);
        const [delivery] = await claim();
        expect(await store.markDelivered(delivery!.seq, T0 + 5)).toBe(true);
        expect(await store.markDelivered(delivery!.seq, T0 + 6)).toBe(false);
        expect(await claim('ci', T0 + LEASE * 2)).toEqual([]);
        expect(await store.listStatus()).toEqual([
          { ...NO_STATUS, endpoint: 'ci', delivered: 1, lastSuccessAt: T0 + 5 },
        ]);
      });

      it('retries a failed delivery at its next attempt, holding back its repository only', async () => {
        await enqueue([
          ['a1', 'a'],
          ['a2', 'a'],
          ['b1', 'b'],
        ]);
        const [a1] = await claim('ci', T0, { limit: 1 });
        expect(
          await store.markFailed(a1!.seq, 'w1', {
            at: T0 + 1,
            nextAttemptAt: T0 + 1000,
            error: 'HTTP 500',
          }),
        ).toBe(true);
        // b goes on; a waits for its head's next attempt, with a2 behind it.
        expect(ids(await claim('ci', T0 + 2))).toEqual(['b1']);
        expect(await claim('ci', T0 + 999)).toEqual([]);
        const [retried] = await claim('ci', T0 + 1000);
        expect(retried).toMatchObject({ eventId: 'a1', attempts: 1 });
        expect(await store.listStatus()).toEqual([
          {
            ...NO_STATUS,
            endpoint: 'ci',
            pending: 3,
            retrying: 1,
            oldestPendingAt: T0,
            lastFailureAt: T0 + 1,
            lastError: 'HTTP 500',
          },
        ]);
        await store.markFailed(retried!.seq, 'w1', {
          at: T0 + 1001,
          nextAttemptAt: T0 + 3000,
          error: 'connection refused',
        });
        const [third] = await claim('ci', T0 + 3000);
        expect(third?.attempts).toBe(2);
        expect(await store.markDelivered(third!.seq, T0 + 3001)).toBe(true);
        expect(ids(await claim('ci', T0 + 3001))).toEqual(['a2']);
        // The last error stays visible after a success, with the time it happened.
        expect(await statusOf('ci')).toMatchObject({
          pending: 2,
          retrying: 0,
          delivered: 1,
          lastSuccessAt: T0 + 3001,
          lastFailureAt: T0 + 1001,
          lastError: 'connection refused',
        });
      });

      it('keeps the latest failure when failures are recorded out of order', async () => {
        await enqueue([
          ['a1', 'a'],
          ['b1', 'b'],
        ]);
        const [a1, b1] = await claim();
        await store.markFailed(b1!.seq, 'w1', { at: T0 + 20, nextAttemptAt: T0 + 50, error: 'later' });
        await store.markFailed(a1!.seq, 'w1', { at: T0 + 10, nextAttemptAt: T0 + 50, error: 'earlier' });
        expect(await statusOf('ci')).toMatchObject({
          lastFailureAt: T0 + 20,
          lastError: 'later',
          retrying: 2,
        });
      });
    });

    describe('expiry', () => {
      it('drops deliveries enqueued before a time, earliest first, counts them and unblocks what follows', async () => {
        await enqueue([['a1', 'a']], T0, ['ci', 'audit']);
        await enqueue([['b1', 'b']], T0 + 1);
        await enqueue([['a2', 'a']], T0 + 50);
        const [a1] = await claim('ci', T0, { limit: 1 });
        await store.markFailed(a1!.seq, 'w1', { at: T0 + 2, nextAttemptAt: T0 + 10_000, error: 'HTTP 503' });

        const dropped = await store.dropExpired(T0 + 50, 100);
        expect(dropped).toEqual([
          {
            endpoint: 'ci',
            eventId: 'a1',
            repository: 'a',
            createdAt: T0,
            attempts: 1,
            lastError: 'HTTP 503',
          },
          { endpoint: 'audit', eventId: 'a1', repository: 'a', createdAt: T0, attempts: 0, lastError: null },
          { endpoint: 'ci', eventId: 'b1', repository: 'b', createdAt: T0 + 1, attempts: 0, lastError: null },
        ]);
        expect(await store.dropExpired(T0 + 50, 100)).toEqual([]);
        // a2 is now the head of a, and due.
        expect(ids(await claim('ci', T0 + 50))).toEqual(['a2']);
        expect(await store.listStatus()).toEqual([
          { ...NO_STATUS, endpoint: 'audit', dropped: 1 },
          {
            ...NO_STATUS,
            endpoint: 'ci',
            pending: 1,
            oldestPendingAt: T0 + 50,
            dropped: 2,
            lastFailureAt: T0 + 2,
            lastError: 'HTTP 503',
          },
        ]);
      });

      it('drops at most `limit` per call, and none for a limit of 0', async () => {
        await enqueue(Array.from({ length: 5 }, (_, i): [string, string] => [`e${i}`, 'r']));
        expect(await store.dropExpired(T0 + 1, 0)).toEqual([]);
        expect((await store.dropExpired(T0 + 1, 3)).map((d) => d.eventId)).toEqual(['e0', 'e1', 'e2']);
        expect((await store.dropExpired(T0 + 1, 3)).map((d) => d.eventId)).toEqual(['e3', 'e4']);
        expect((await statusOf('ci'))?.dropped).toBe(5);
      });

      it('makes a later outcome of a dropped delivery a no-op', async () => {
        await enqueue([['e1', 'r']]);
        const [delivery] = await claim();
        await store.dropExpired(T0 + 1, 10);
        expect(await store.markDelivered(delivery!.seq, T0 + 2)).toBe(false);
        expect(
          await store.markFailed(delivery!.seq, 'w1', { at: T0 + 2, nextAttemptAt: T0 + 3, error: 'x' }),
        ).toBe(false);
        expect(await statusOf('ci')).toEqual({ ...NO_STATUS, endpoint: 'ci', dropped: 1 });
      });
    });

    describe('status', () => {
      it('counts pending deliveries per endpoint with the oldest enqueue time, endpoints by name', async () => {
        await enqueue([['e1', 'r1']], T0 + 5, ['zeta', 'alpha']);
        await enqueue([['e2', 'r2']], T0 + 9, ['alpha']);
        expect(await store.listStatus()).toEqual([
          { ...NO_STATUS, endpoint: 'alpha', pending: 2, oldestPendingAt: T0 + 5 },
          { ...NO_STATUS, endpoint: 'zeta', pending: 1, oldestPendingAt: T0 + 5 },
        ]);
      });

      it('keeps times beyond 2^32 and counts exact', async () => {
        const far = 2 ** 50;
        await enqueue([['e1', 'r']], far);
        const [delivery] = await claim('ci', far, { until: far + 1 });
        expect(delivery?.createdAt).toBe(far);
        await store.markDelivered(delivery!.seq, far + 7);
        expect(await statusOf('ci')).toMatchObject({ delivered: 1, lastSuccessAt: far + 7 });
      });
    });

    it('shares the queue with another store on the same database', async () => {
      const second = await subject.sibling();
      await enqueue([['e1', 'r']], T0, ['ci'], second);
      const [delivery] = await claim();
      expect(delivery?.eventId).toBe('e1');
      expect(await second.claim('ci', { holder: 'w2', now: T0, until: T0 + LEASE, limit: 10 })).toEqual([]);
      expect(await second.markDelivered(delivery!.seq, T0 + 1)).toBe(true);
      expect((await statusOf('ci'))?.delivered).toBe(1);
    });

    it('never gives one delivery to two claimers at once, and keeps each repository in order', async () => {
      const second = await subject.sibling();
      const repositories = Array.from({ length: 8 }, (_, i) => `r${i}`);
      const events: Array<[string, string]> = [];
      for (let n = 0; n < 4; n++) for (const r of repositories) events.push([`${r}-${n}`, r]);
      await enqueue(events);
      const sent: string[] = [];
      const worker = async (target: OutboxStore, holder: string) => {
        for (let round = 0; round < 100; round++) {
          const claimed = await target.claim('ci', { holder, now: T0, until: T0 + LEASE, limit: 3 });
          if (claimed.length === 0 && sent.length === events.length) return;
          for (const delivery of claimed) {
            sent.push(delivery.eventId);
            expect(await target.markDelivered(delivery.seq, T0)).toBe(true);
          }
        }
      };
      await Promise.all([worker(store, 'w1'), worker(second, 'w2'), worker(store, 'w3')]);
      expect([...sent].sort()).toEqual(events.map(([id]) => id).sort());
      for (const r of repositories) {
        expect(sent.filter((id) => id.startsWith(`${r}-`))).toEqual([0, 1, 2, 3].map((n) => `${r}-${n}`));
      }
      expect((await statusOf('ci'))?.delivered).toBe(events.length);
    });
  });
}
