// The behaviour every MirrorStore must show, whatever database is under it (the contract in
// src/mirror/mirror-store.ts). A store's test file calls
// `describeMirrorStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  CachedContent,
  CachedKind,
  MirrorCounters,
  MirrorStore,
  MirrorUpstreamStatus,
} from '../mirror/mirror-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';

export interface MirrorStoreUnderTest {
  /** A store on an empty (migrated) database. */
  store: MirrorStore;
  /** A second store on the same database, as another process or replica would open it. */
  sibling(): Promise<MirrorStore>;
  cleanup?: () => Promise<void>;
}

const T0 = 1_700_000_000_000;

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;

const ZERO: MirrorCounters = { hits: 0, misses: 0, staleHits: 0, bytesFromCache: 0, bytesFromUpstream: 0 };
const counters = (extra: Partial<MirrorCounters>): MirrorCounters => ({ ...ZERO, ...extra });

export function describeMirrorStoreConformance(
  name: string,
  create: () => Promise<MirrorStoreUnderTest>,
): void {
  describe(`mirror store conformance: ${name}`, () => {
    let subject: MirrorStoreUnderTest;
    let store: MirrorStore;
    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    const record = (
      upstream: string,
      repository: string,
      c: string,
      at: number,
      extra: { kind?: CachedKind; size?: number } = {},
    ) =>
      store.recordCached({
        upstream,
        repository: repo(repository),
        digest: digest(c),
        kind: extra.kind ?? 'blob',
        size: extra.size ?? 10,
        at,
      });
    const entry = (
      upstream: string,
      repository: string,
      c: string,
      times: { cachedAt: number; lastPulledAt: number },
      extra: { kind?: CachedKind; size?: number } = {},
    ): CachedContent => ({
      upstream,
      repository: repo(repository),
      digest: digest(c),
      kind: extra.kind ?? 'blob',
      size: extra.size ?? 10,
      ...times,
    });
    /** Every entry of `upstream`, least recently pulled first. */
    const all = (upstream: string) => store.listLeastRecentlyPulled(upstream, 1000);
    const statusOf = async (upstream: string): Promise<MirrorUpstreamStatus | undefined> =>
      (await store.listStatus()).find((status) => status.upstream === upstream);

    describe('cached tags', () => {
      it('answers undefined for a tag never checked', async () => {
        expect(await store.findCachedTag(repo('r'), tag('latest'))).toBeUndefined();
      });

      it('records when the upstream answered for a tag, and replaces the answer when asked again', async () => {
        await store.markTagChecked(repo('library/alpine'), tag('3'), digest('a'), T0);
        expect(await store.findCachedTag(repo('library/alpine'), tag('3'))).toEqual({
          digest: digest('a'),
          checkedAt: T0,
        });
        await store.markTagChecked(repo('library/alpine'), tag('3'), digest('b'), T0 + 60_000);
        expect(await store.findCachedTag(repo('library/alpine'), tag('3'))).toEqual({
          digest: digest('b'),
          checkedAt: T0 + 60_000,
        });
        // Replaced, not merged: an earlier check recorded later wins too (insert or replace).
        await store.markTagChecked(repo('library/alpine'), tag('3'), digest('c'), T0 + 1);
        expect(await store.findCachedTag(repo('library/alpine'), tag('3'))).toEqual({
          digest: digest('c'),
          checkedAt: T0 + 1,
        });
      });

      it('keeps tags apart per repository and per tag, with names compared exactly', async () => {
        await store.markTagChecked(repo('a'), tag('v1'), digest('1'), 1);
        await store.markTagChecked(repo('b'), tag('v1'), digest('2'), 2);
        await store.markTagChecked(repo('a'), tag('V1'), digest('3'), 3);
        expect(await store.findCachedTag(repo('a'), tag('v1'))).toEqual({
          digest: digest('1'),
          checkedAt: 1,
        });
        expect(await store.findCachedTag(repo('b'), tag('v1'))).toEqual({
          digest: digest('2'),
          checkedAt: 2,
        });
        expect(await store.findCachedTag(repo('a'), tag('V1'))).toEqual({
          digest: digest('3'),
          checkedAt: 3,
        });
        expect(await store.findCachedTag(repo('A'), tag('v1'))).toBeUndefined();
        expect(await store.findCachedTag(repo('b'), tag('V1'))).toBeUndefined();
      });
    });

    describe('cached content', () => {
      it('records a new entry with cachedAt and lastPulledAt both at its time', async () => {
        await record('hub', 'library/alpine', 'm', T0, { kind: 'manifest', size: 1234 });
        expect(await all('hub')).toEqual([
          entry(
            'hub',
            'library/alpine',
            'm',
            { cachedAt: T0, lastPulledAt: T0 },
            { kind: 'manifest', size: 1234 },
          ),
        ]);
      });

      it('refreshes size and lastPulledAt of a known entry, keeping cachedAt and never going back', async () => {
        await record('hub', 'r', '1', T0, { size: 10 });
        await record('hub', 'r', '1', T0 + 100, { size: 20 });
        expect(await all('hub')).toEqual([
          entry('hub', 'r', '1', { cachedAt: T0, lastPulledAt: T0 + 100 }, { size: 20 }),
        ]);
        await record('hub', 'r', '1', T0 + 50, { size: 30 });
        expect(await all('hub')).toEqual([
          entry('hub', 'r', '1', { cachedAt: T0, lastPulledAt: T0 + 100 }, { size: 30 }),
        ]);
        expect((await statusOf('hub'))?.cachedItems).toBe(1);
      });

      it('moves lastPulledAt of known entries forward only, in one batch, and ignores unknown ones', async () => {
        await record('hub', 'r', '1', 100);
        await record('hub', 'r', '2', 100);
        await record('hub', 's', '1', 100);
        await store.touchCached([
          { repository: repo('r'), digest: digest('1'), at: 300 },
          { repository: repo('r'), digest: digest('2'), at: 50 }, // earlier: no change
          { repository: repo('r'), digest: digest('9'), at: 400 }, // unknown digest
          { repository: repo('nope'), digest: digest('1'), at: 400 }, // unknown repository
          { repository: repo('s'), digest: digest('1'), at: 250 },
          { repository: repo('s'), digest: digest('1'), at: 200 }, // duplicate, earlier: the later wins
        ]);
        await store.touchCached([]);
        expect(await all('hub')).toEqual([
          entry('hub', 'r', '2', { cachedAt: 100, lastPulledAt: 100 }),
          entry('hub', 's', '1', { cachedAt: 100, lastPulledAt: 250 }),
          entry('hub', 'r', '1', { cachedAt: 100, lastPulledAt: 300 }),
        ]);
        await store.touchCached([{ repository: repo('r'), digest: digest('1'), at: 299 }]);
        expect((await all('hub')).at(-1)?.lastPulledAt).toBe(300);
        // A touch creates nothing.
        expect(await store.isCachedRepository(repo('nope'))).toBe(false);
        expect((await statusOf('hub'))?.cachedItems).toBe(3);
      });

      it('keeps the latest pull when batches of touches over the same entries race across stores', async () => {
        const second = await subject.sibling();
        const digests = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(2, '0'));
        for (const c of digests) await record('hub', 'r', c, 1);
        await Promise.all(
          Array.from({ length: 10 }, (_, batch) => {
            const order = batch % 2 ? [...digests].reverse() : digests;
            return (batch % 2 ? second : store).touchCached(
              order.map((c) => ({
                repository: repo('r'),
                digest: digest(c),
                at: 10 + batch,
              })),
            );
          }),
        );
        const touched = await all('hub');
        expect(touched).toHaveLength(20);
        expect(touched.map((found) => found.lastPulledAt)).toEqual(Array(20).fill(19));
      });

      it('tells whether a repository holds content from an upstream', async () => {
        expect(await store.isCachedRepository(repo('library/alpine'))).toBe(false);
        await record('hub', 'library/alpine', '1', T0);
        await store.markTagChecked(repo('tags-only'), tag('v1'), digest('2'), T0);
        expect(await store.isCachedRepository(repo('library/alpine'))).toBe(true);
        expect(await store.isCachedRepository(repo('library'))).toBe(false);
        expect(await store.isCachedRepository(repo('library/alpine/sub'))).toBe(false);
        expect(await store.isCachedRepository(repo('Library/alpine'))).toBe(false);
        expect(await store.isCachedRepository(repo('tags-only'))).toBe(false);
        expect(await (await subject.sibling()).isCachedRepository(repo('library/alpine'))).toBe(true);
      });
    });

    describe('least recently pulled', () => {
      beforeEach(async () => {
        // Recorded out of order; ties on time are broken by repository, then digest, in byte order.
        await record('hub', 'b', '2', 300);
        await record('hub', 'a', '3', 100);
        await record('hub', 'b', '1', 200);
        await record('hub', 'a', '4', 200);
        await record('hub', 'B', '5', 200);
        await record('hub', 'a', '1', 200);
        await record('quay', 'q', '1', 50);
        await record('quay', 'q', '2', 400);
      });
      const keys = (found: CachedContent[]) => found.map((e) => `${e.repository}@${e.digest.slice(7, 8)}`);

      it("lists an upstream's entries least recently pulled first, ties by repository then digest", async () => {
        expect(keys(await store.listLeastRecentlyPulled('hub', 100))).toEqual([
          'a@3',
          'B@5',
          'a@1',
          'a@4',
          'b@1',
          'b@2',
        ]);
      });

      it('answers at most `limit` entries', async () => {
        expect(keys(await store.listLeastRecentlyPulled('hub', 3))).toEqual(['a@3', 'B@5', 'a@1']);
        expect(keys(await store.listLeastRecentlyPulled('hub', 1))).toEqual(['a@3']);
        expect(await store.listLeastRecentlyPulled('hub', 0)).toEqual([]);
      });

      it('answers only entries last pulled before `pulledBefore`', async () => {
        expect(keys(await store.listLeastRecentlyPulled('hub', 100, 200))).toEqual(['a@3']);
        expect(keys(await store.listLeastRecentlyPulled('hub', 100, 201))).toEqual([
          'a@3',
          'B@5',
          'a@1',
          'a@4',
          'b@1',
        ]);
        expect(keys(await store.listLeastRecentlyPulled('hub', 2, 1000))).toEqual(['a@3', 'B@5']);
        expect(await store.listLeastRecentlyPulled('hub', 100, 100)).toEqual([]);
        expect(await store.listLeastRecentlyPulled('hub', 100, 0)).toEqual([]);
      });

      it("keeps each upstream's entries to itself", async () => {
        expect(await store.listLeastRecentlyPulled('quay', 100)).toEqual([
          entry('quay', 'q', '1', { cachedAt: 50, lastPulledAt: 50 }),
          entry('quay', 'q', '2', { cachedAt: 400, lastPulledAt: 400 }),
        ]);
        expect(keys(await store.listLeastRecentlyPulled('quay', 100, 300))).toEqual(['q@1']);
        expect(await store.listLeastRecentlyPulled('ghcr', 100)).toEqual([]);
        expect(await store.listLeastRecentlyPulled('Hub', 100)).toEqual([]);
      });

      it('reorders an entry once it is pulled again', async () => {
        await store.touchCached([{ repository: repo('a'), digest: digest('3'), at: 500 }]);
        expect(keys(await store.listLeastRecentlyPulled('hub', 100))).toEqual([
          'B@5',
          'a@1',
          'a@4',
          'b@1',
          'b@2',
          'a@3',
        ]);
      });
    });

    describe('forgetting', () => {
      it('removes the entry and the cached tags pointing at it in that repository only', async () => {
        await record('hub', 'r', 'm', T0, { kind: 'manifest' });
        await record('hub', 'r', 'n', T0, { kind: 'manifest' });
        await record('hub', 's', 'm', T0, { kind: 'manifest' });
        await store.markTagChecked(repo('r'), tag('latest'), digest('m'), T0);
        await store.markTagChecked(repo('r'), tag('v1'), digest('m'), T0);
        await store.markTagChecked(repo('r'), tag('v2'), digest('n'), T0);
        await store.markTagChecked(repo('s'), tag('latest'), digest('m'), T0);

        await store.forgetCached(repo('r'), digest('m'));

        expect((await all('hub')).map((e) => `${e.repository}@${e.digest.slice(7, 8)}`)).toEqual([
          'r@n',
          's@m',
        ]);
        expect(await store.findCachedTag(repo('r'), tag('latest'))).toBeUndefined();
        expect(await store.findCachedTag(repo('r'), tag('v1'))).toBeUndefined();
        expect(await store.findCachedTag(repo('r'), tag('v2'))).toEqual({
          digest: digest('n'),
          checkedAt: T0,
        });
        expect(await store.findCachedTag(repo('s'), tag('latest'))).toEqual({
          digest: digest('m'),
          checkedAt: T0,
        });
        expect(await store.isCachedRepository(repo('r'))).toBe(true);
      });

      it('forgets a blob, and the repository is no longer cached once its last entry goes', async () => {
        await record('hub', 'r', 'b', T0, { kind: 'blob', size: 7 });
        await store.markTagChecked(repo('r'), tag('latest'), digest('m'), T0);
        await store.forgetCached(repo('r'), digest('b'));
        expect(await all('hub')).toEqual([]);
        expect(await store.isCachedRepository(repo('r'))).toBe(false);
        expect(await store.findCachedTag(repo('r'), tag('latest'))).toEqual({
          digest: digest('m'),
          checkedAt: T0,
        });
        expect(await statusOf('hub')).toBeUndefined();
      });

      it('does nothing for an entry it does not know', async () => {
        await record('hub', 'r', '1', T0);
        await store.forgetCached(repo('r'), digest('2'));
        await store.forgetCached(repo('other'), digest('1'));
        expect(await all('hub')).toHaveLength(1);
      });
    });

    describe('counters and status', () => {
      it('starts an upstream at zero and adds every delta to it', async () => {
        await store.addCounters('hub', counters({ hits: 1, bytesFromCache: 100 }));
        expect(await statusOf('hub')).toEqual({
          upstream: 'hub',
          ...counters({ hits: 1, bytesFromCache: 100 }),
          cachedBytes: 0,
          cachedItems: 0,
        });
        await store.addCounters('hub', {
          hits: 2,
          misses: 3,
          staleHits: 4,
          bytesFromCache: 5,
          bytesFromUpstream: 6,
        });
        await store.addCounters('hub', ZERO);
        expect(await statusOf('hub')).toEqual({
          upstream: 'hub',
          hits: 3,
          misses: 3,
          staleHits: 4,
          bytesFromCache: 105,
          bytesFromUpstream: 6,
          cachedBytes: 0,
          cachedItems: 0,
        });
      });

      it('counts every one of 20 concurrent additions from two stores', async () => {
        const second = await subject.sibling();
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? second : store).addCounters(
              'hub',
              counters({ hits: 1, misses: i, staleHits: 2, bytesFromCache: 1000, bytesFromUpstream: i * 10 }),
            ),
          ),
        );
        const expected = {
          upstream: 'hub',
          hits: 20,
          misses: 190,
          staleHits: 40,
          bytesFromCache: 20_000,
          bytesFromUpstream: 1900,
          cachedBytes: 0,
          cachedItems: 0,
        };
        expect(await store.listStatus()).toEqual([expected]);
        expect(await second.listStatus()).toEqual([expected]);
      });

      it('sums the content cached per upstream and lists every upstream with counters or content', async () => {
        await record('hub', 'a', '1', T0, { size: 100 });
        await record('hub', 'a', '2', T0, { size: 20, kind: 'manifest' });
        await record('hub', 'b', '1', T0, { size: 3 });
        await store.addCounters('hub', counters({ misses: 3, bytesFromUpstream: 123 }));
        await record('content-only', 'c', '1', T0, { size: 5 });
        await store.addCounters('counters-only', counters({ hits: 7 }));
        await store.addCounters('Zeroes', ZERO);
        expect(await store.listStatus()).toEqual([
          { upstream: 'Zeroes', ...ZERO, cachedBytes: 0, cachedItems: 0 },
          { upstream: 'content-only', ...ZERO, cachedBytes: 5, cachedItems: 1 },
          { upstream: 'counters-only', ...counters({ hits: 7 }), cachedBytes: 0, cachedItems: 0 },
          {
            upstream: 'hub',
            ...counters({ misses: 3, bytesFromUpstream: 123 }),
            cachedBytes: 123,
            cachedItems: 3,
          },
        ]);
        await store.forgetCached(repo('a'), digest('1'));
        expect(await statusOf('hub')).toMatchObject({ cachedBytes: 23, cachedItems: 2, misses: 3 });
      });

      it('answers no upstream on an empty database', async () => {
        expect(await store.listStatus()).toEqual([]);
      });
    });

    it('keeps sizes, sums, counters and times beyond 2^32 exact', async () => {
      const big = 2 ** 40 + 3;
      const at = T0 + 123;
      await record('hub', 'r', '1', at, { size: big });
      await record('hub', 'r', '2', at, { size: 2 ** 41 });
      await store.touchCached([{ repository: repo('r'), digest: digest('2'), at: at + 2 ** 33 }]);
      await store.markTagChecked(repo('r'), tag('t'), digest('1'), at);
      await store.addCounters('hub', counters({ bytesFromCache: big, bytesFromUpstream: 2 ** 50 }));
      await store.addCounters('hub', counters({ bytesFromCache: big }));
      expect(await store.findCachedTag(repo('r'), tag('t'))).toEqual({ digest: digest('1'), checkedAt: at });
      expect(await all('hub')).toEqual([
        entry('hub', 'r', '1', { cachedAt: at, lastPulledAt: at }, { size: big }),
        entry('hub', 'r', '2', { cachedAt: at, lastPulledAt: at + 2 ** 33 }, { size: 2 ** 41 }),
      ]);
      expect(await store.listLeastRecentlyPulled('hub', 10, at + 1)).toHaveLength(1);
      expect(await statusOf('hub')).toEqual({
        upstream: 'hub',
        ...counters({ bytesFromCache: 2 * big, bytesFromUpstream: 2 ** 50 }),
        cachedBytes: big + 2 ** 41,
        cachedItems: 2,
      });
    });

    it('shares everything with another store on the same database', async () => {
      const second = await subject.sibling();
      await record('hub', 'r', '1', T0);
      await store.markTagChecked(repo('r'), tag('latest'), digest('1'), T0);
      await second.touchCached([{ repository: repo('r'), digest: digest('1'), at: T0 + 5 }]);
      expect(await second.findCachedTag(repo('r'), tag('latest'))).toEqual({
        digest: digest('1'),
        checkedAt: T0,
      });
      expect((await store.listLeastRecentlyPulled('hub', 10))[0]?.lastPulledAt).toBe(T0 + 5);
      await second.forgetCached(repo('r'), digest('1'));
      expect(await store.isCachedRepository(repo('r'))).toBe(false);
      expect(await store.findCachedTag(repo('r'), tag('latest'))).toBeUndefined();
    });
  });
}
