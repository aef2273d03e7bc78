// Pull tracking (src/registry/pull-tracker.ts): manifest GETs counted in memory and written in
// batches (the manifest GET handler counts; the request never waits for a write).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PullCount } from '../../src/registry/catalog-store.js';
import { createPullTracker } from '../../src/registry/pull-tracker.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function fakeStore(fail = () => false) {
  const batches: PullCount[][] = [];
  return {
    batches,
    store: {
      async recordPulls(pulls: readonly PullCount[]) {
        if (fail()) throw new Error('database unreachable');
        batches.push(pulls.map((p) => ({ ...p })));
      },
    },
  };
}

describe('pull tracker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts per repository, digest and tag, and writes one batch per interval', async () => {
    vi.useFakeTimers();
    let now = 100;
    const { store, batches } = fakeStore();
    const tracker = createPullTracker({ store, clock: () => now, log: silent, intervalMs: 1000 });
    tracker.count(repo('r'), digest('a'), 'v1' as Tag);
    now = 150;
    tracker.count(repo('r'), digest('a'), 'v1' as Tag);
    tracker.count(repo('r'), digest('a'));
    tracker.count(repo('other'), digest('a'));
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches).toEqual([
      [
        { repository: 'r', digest: digest('a'), tag: 'v1', count: 2, at: 150 },
        { repository: 'r', digest: digest('a'), count: 1, at: 150 },
        { repository: 'other', digest: digest('a'), count: 1, at: 150 },
      ],
    ]);
    // Nothing counted since: nothing written.
    await vi.advanceTimersByTimeAsync(5000);
    expect(batches).toHaveLength(1);
    tracker.count(repo('r'), digest('b'));
    await tracker.close();
    expect(batches).toHaveLength(2);
    // Closed: later GETs (requests still draining) are not counted.
    tracker.count(repo('r'), digest('c'));
    await tracker.flush();
    expect(batches).toHaveLength(2);
  });

  it('keeps a batch that could not be written and adds it to the next', async () => {
    let failing = true;
    const { store, batches } = fakeStore(() => failing);
    const warnings: string[] = [];
    const tracker = createPullTracker({
      store,
      clock: () => 7,
      log: { ...silent, warn: (_obj, msg) => void warnings.push(msg ?? '') },
      intervalMs: 60_000,
    });
    tracker.count(repo('r'), digest('a'));
    await tracker.flush();
    expect(warnings).toHaveLength(1);
    tracker.count(repo('r'), digest('a'));
    failing = false;
    await tracker.close();
    expect(batches).toEqual([[{ repository: 'r', digest: digest('a'), count: 2, at: 7 }]]);
  });

  it('never runs two writes at once', async () => {
    let release = () => {};
    let running = 0;
    let most = 0;
    const store = {
      async recordPulls() {
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((done) => (release = done));
        running -= 1;
      },
    };
    const tracker = createPullTracker({ store, clock: () => 1, log: silent, intervalMs: 60_000 });
    tracker.count(repo('r'), digest('a'));
    const first = tracker.flush();
    tracker.count(repo('r'), digest('b'));
    const second = tracker.flush();
    await new Promise((done) => setTimeout(done, 5));
    release();
    await new Promise((done) => setTimeout(done, 5));
    release();
    await Promise.all([first, second]);
    expect(most).toBe(1);
    await tracker.close();
  });
});
