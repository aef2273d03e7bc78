// The behaviour every GcStore must show, whatever database is under it (the contract in
// src/gc/gc-store.ts): the guard's holds and sweep markers, also between two stores on one database
// (two processes or replicas); the candidates the triggers queue; the review rules; the run history.
// A store's test file calls `describeGcStoreConformance('name', async () => ({ gc, metadata, sibling, cleanup }))`.
// Exported (like conformance.ts) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GC_RUN_UNFINISHED, type GcRunCounts, type GcStore, type NewGcRun } from '../gc/gc-store.js';
import type { ManifestRecord, MetadataStore } from '../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';

export interface GcStores {
  gc: GcStore;
  /** The metadata store on the same database (and, for SQLite, the same connection). */
  metadata: MetadataStore;
}

export interface GcStoreUnderTest extends GcStores {
  /** Both stores again on the same database, as another process or replica would open them. */
  sibling(): Promise<GcStores>;
  cleanup?: () => Promise<void>;
}

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;
const NONE = { blobs: [], manifests: [] };
const manifest = (c: string, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100,
  artifactType: null,
  subject: null,
  annotations: null,
  ...extra,
});
const newRun = (startedAt: number, extra: Partial<NewGcRun> = {}): NewGcRun => ({
  trigger: 'cli',
  dryRun: false,
  delayMs: 0,
  host: 'host-a',
  startedAt,
  ...extra,
});
const COUNTS: GcRunCounts = {
  manifestsDeleted: 1,
  linksRemoved: 2,
  blobsDeleted: 3,
  bytesFreed: 5_000_000_000,
  orphansDeleted: 4,
  orphanBytes: 50,
  orphansLeft: 0,
  uploadsPurged: 5,
  uploadLeftovers: 6,
  held: 7,
};
/** Queue times come from the database's clock: "everything queued so far" is a little after now. */
const later = () => Date.now() + 60_000;
const LEASE = 60_000;

export function describeGcStoreConformance(name: string, create: () => Promise<GcStoreUnderTest>): void {
  describe(`gc store conformance: ${name}`, () => {
    let subject: GcStoreUnderTest;
    let gc: GcStore;
    let metadata: MetadataStore;
    beforeEach(async () => {
      subject = await create();
      ({ gc, metadata } = subject);
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    const sweepLease = (holder = 'sweeper', now = Date.now()) => ({ holder, now, until: now + LEASE });
    const dueManifestKeys = async () =>
      (await gc.dueManifests(later(), 1000)).map((item) => `${item.repository}@${item.digest}`);
    const dueBlobDigests = async () => (await gc.dueBlobs(later(), 1000)).map((item) => item.digest);
    /** Settles everything queued so far, so a test sees only what its own step queues. */
    const drain = async () => {
      for (const item of await gc.dueManifests(later(), 1000)) await gc.dequeueManifest(item);
      for (const item of await gc.dueBlobs(later(), 1000)) {
        const review = await gc.reviewBlob(item, sweepLease());
        if (review.sweep.sweeping) await gc.endSweep(item.digest, 'sweeper');
      }
      for (const item of await gc.dueUploads(later(), 1000)) await gc.dequeueUpload(item.id);
    };
    const reviewManifest = async (repository: string, d: Digest) => {
      const item = (await gc.dueManifests(later(), 1000)).find(
        (queued) => queued.repository === repository && queued.digest === d,
      );
      if (!item) throw new Error(`${repository}@${d} is not queued`);
      return gc.reviewManifest(item, Date.now());
    };
    const reviewBlob = async (d: Digest, lease = sweepLease()) => {
      const item = (await gc.dueBlobs(later(), 1000)).find((queued) => queued.digest === d);
      if (!item) throw new Error(`${d} is not queued`);
      return gc.reviewBlob(item, lease);
    };

    describe('guard', () => {
      it('shares holds between writers and refuses a sweep while any of them holds the digest', async () => {
        const now = Date.now();
        expect(await gc.hold('w1', [digest('a'), digest('b')], { now, until: now + LEASE })).toBe(true);
        expect(await gc.hold('w2', [digest('a')], { now, until: now + LEASE })).toBe(true);
        expect(await gc.beginSweep(digest('a'), sweepLease())).toEqual({ sweeping: false, reason: 'held' });
        await gc.releaseHold('w1');
        expect(await gc.beginSweep(digest('a'), sweepLease())).toEqual({ sweeping: false, reason: 'held' });
        expect(await gc.beginSweep(digest('b'), sweepLease())).toEqual({ sweeping: true, size: null });
        await gc.releaseHold('w2');
        expect(await gc.beginSweep(digest('a'), sweepLease())).toEqual({ sweeping: true, size: null });
      });

      it('refuses a hold while a sweep of one of its digests is live, and takes it once the sweep ends', async () => {
        expect((await gc.beginSweep(digest('a'), sweepLease('s'))).sweeping).toBe(true);
        const now = Date.now();
        expect(await gc.hold('w', [digest('b'), digest('a')], { now, until: now + LEASE })).toBe(false);
        // Refused as a whole: nothing of it was recorded, so b can be swept.
        expect((await gc.beginSweep(digest('b'), sweepLease('s2'))).sweeping).toBe(true);
        await gc.endSweep(digest('a'), 's');
        await gc.endSweep(digest('b'), 's2');
        expect(await gc.hold('w', [digest('b'), digest('a')], { now, until: now + LEASE })).toBe(true);
      });

      it('lets holds and markers that ended block nothing, and drops them', async () => {
        const now = Date.now();
        expect(await gc.hold('dead', [digest('a')], { now: now - 10, until: now - 1 })).toBe(true);
        expect((await gc.beginSweep(digest('a'), sweepLease('s', now))).sweeping).toBe(true);
        await gc.endSweep(digest('a'), 's');
        expect(
          (await gc.beginSweep(digest('b'), { holder: 'dead', now: now - 10, until: now - 1 })).sweeping,
        ).toBe(true);
        expect(await gc.hold('w', [digest('b')], { now, until: now + LEASE })).toBe(true);
        expect(await gc.confirmSweep(digest('b'), sweepLease('dead', now))).toBe(false);
        expect(await gc.dropExpired(now)).toEqual({ holds: 1, sweeps: 1 });
      });

      it('renews a hold past the time it would have ended', async () => {
        const now = Date.now();
        await gc.hold('w', [digest('a')], { now, until: now + 10 });
        await gc.renewHold('w', now + LEASE);
        expect(await gc.beginSweep(digest('a'), sweepLease('s', now + 100))).toEqual({
          sweeping: false,
          reason: 'held',
        });
      });

      it('confirms only the live marker of its own holder, and one sweeper per digest', async () => {
        expect((await gc.beginSweep(digest('a'), sweepLease('s1'))).sweeping).toBe(true);
        expect(await gc.beginSweep(digest('a'), sweepLease('s2'))).toEqual({
          sweeping: false,
          reason: 'sweeping',
        });
        expect(await gc.confirmSweep(digest('a'), sweepLease('s2'))).toBe(false);
        expect(await gc.confirmSweep(digest('a'), sweepLease('s1'))).toBe(true);
        await gc.endSweep(digest('a'), 's1');
        expect(await gc.confirmSweep(digest('a'), sweepLease('s1'))).toBe(false);
      });

      it('holds against sweeps of another store on the same database, both ways', async () => {
        const other = await subject.sibling();
        const now = Date.now();
        expect(await gc.hold('w', [digest('a')], { now, until: now + LEASE })).toBe(true);
        expect(await other.gc.beginSweep(digest('a'), sweepLease())).toEqual({
          sweeping: false,
          reason: 'held',
        });
        expect((await other.gc.beginSweep(digest('b'), sweepLease('s'))).sweeping).toBe(true);
        expect(await gc.hold('w2', [digest('b')], { now, until: now + LEASE })).toBe(false);
        await other.gc.endSweep(digest('b'), 's');
        expect(await gc.hold('w2', [digest('b')], { now, until: now + LEASE })).toBe(true);
      });

      it('never lets a hold and a sweep of one digest both succeed when they race between two stores', async () => {
        const other = await subject.sibling();
        for (let round = 0; round < 40; round++) {
          const d = `sha256:${round.toString(16).padStart(64, '0')}` as Digest;
          const now = Date.now();
          const [held, sweep] = await Promise.all([
            gc.hold(`w${round}`, [d], { now, until: now + LEASE }),
            other.gc.beginSweep(d, sweepLease(`s${round}`, now)),
          ]);
          expect(held && sweep.sweeping, `round ${round}`).toBe(false);
          await gc.releaseHold(`w${round}`);
          await other.gc.endSweep(d, `s${round}`);
        }
      });
    });

    describe('queues', () => {
      it('queues a blob when it is linked to a repository and when it is unlinked', async () => {
        await metadata.linkBlob(repo('r'), digest('b'), 10);
        expect(await dueBlobDigests()).toEqual([digest('b')]);
        await metadata.putManifest(
          repo('r'),
          manifest('m'),
          { blobs: [digest('b')], manifests: [] },
          tag('v'),
        );
        await drain();
        await metadata.linkBlob(repo('r'), digest('b'), 10); // already linked: no event
        expect(await dueBlobDigests()).toEqual([]);
        await metadata.unlinkBlob(repo('r'), digest('b'));
        expect(await dueBlobDigests()).toEqual([digest('b')]);
      });

      it('queues nothing for a manifest pushed by digest, and the old manifest when its tag moves or goes', async () => {
        await metadata.putManifest(repo('r'), manifest('1'), NONE);
        await metadata.putManifest(repo('r'), manifest('2'), NONE, tag('v'));
        expect(await dueManifestKeys()).toEqual([]);
        await metadata.putManifest(repo('r'), manifest('3'), NONE, tag('v'));
        expect(await dueManifestKeys()).toEqual([`r@${digest('2')}`]);
        await drain();
        await metadata.putManifest(repo('r'), manifest('3'), NONE, tag('v')); // same digest: no move
        expect(await dueManifestKeys()).toEqual([]);
        await metadata.deleteTag(repo('r'), tag('v'));
        expect(await dueManifestKeys()).toEqual([`r@${digest('3')}`]);
      });

      it('queues what a deleted manifest referenced, its referrers and its own bytes', async () => {
        await metadata.linkBlob(repo('r'), digest('b'), 10);
        await metadata.putManifest(repo('r'), manifest('c'), { blobs: [digest('b')], manifests: [] });
        await metadata.putManifest(
          repo('r'),
          manifest('i'),
          { blobs: [], manifests: [digest('c')] },
          tag('v'),
        );
        await metadata.putManifest(repo('r'), manifest('s', { subject: digest('i') }), NONE);
        await drain();
        await metadata.deleteManifest(repo('r'), digest('i'));
        expect((await dueManifestKeys()).sort()).toEqual(
          [`r@${digest('c')}`, `r@${digest('s')}`, `r@${digest('i')}`].sort(),
        );
        expect(await dueBlobDigests()).toEqual([digest('i')]);
        await drain();
        await metadata.deleteManifest(repo('r'), digest('c'));
        expect((await dueBlobDigests()).sort()).toEqual([digest('b'), digest('c')].sort());
      });

      it('queues a referrer recorded while its subject is not in the repository', async () => {
        await metadata.putManifest(repo('r'), manifest('f', { subject: digest('x') }), NONE);
        expect(await dueManifestKeys()).toEqual([`r@${digest('f')}`]);
        await drain();
        await metadata.putManifest(repo('r'), manifest('x'), NONE, tag('v'));
        await metadata.putManifest(repo('r'), manifest('g', { subject: digest('x') }), NONE);
        expect(await dueManifestKeys()).toEqual([]);
      });

      it('queues the storage of a deleted upload session', async () => {
        await metadata.createUpload({ id: 'u1', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
        expect(await gc.dueUploads(later(), 10)).toEqual([]);
        await metadata.deleteUpload('u1');
        const [queued] = await gc.dueUploads(later(), 10);
        expect(queued?.id).toBe('u1');
        expect(await gc.uploadExists('u1')).toBe(false);
        expect(await gc.countDue(later())).toEqual({ manifests: 0, blobs: 0, uploads: 1 });
        await gc.dequeueUpload('u1');
        expect(await gc.dueUploads(later(), 10)).toEqual([]);
      });

      it('makes a candidate due only once its newest event is older than the delay, paging in order', async () => {
        const before = Date.now() - 1;
        await metadata.linkBlob(repo('r'), digest('1'), 1);
        await metadata.linkBlob(repo('r'), digest('2'), 1);
        expect(await gc.dueBlobs(before, 10)).toEqual([]);
        const first = await gc.dueBlobs(later(), 1);
        expect(first.map((item) => item.digest)).toEqual([digest('1')]);
        expect((await gc.dueBlobs(later(), 10, first[0]?.digest)).map((item) => item.digest)).toEqual([
          digest('2'),
        ]);
        const queuedAt = first[0]?.queuedAt ?? 0;
        expect(queuedAt).toBeGreaterThanOrEqual(before - 1_000);
        expect(queuedAt).toBeLessThanOrEqual(Date.now() + 1_000);
        // A newer event for the same blob postpones its review.
        await new Promise((done) => setTimeout(done, 5));
        await metadata.linkBlob(repo('s'), digest('1'), 1);
        const [again] = await gc.dueBlobs(later(), 1);
        expect(again?.queuedAt).toBeGreaterThan(queuedAt);
        expect((await gc.dueBlobs(queuedAt, 10)).map((item) => item.digest)).not.toContain(digest('1'));
        expect(await gc.countDue(later())).toEqual({ manifests: 0, blobs: 2, uploads: 0 });
      });
    });

    describe('reviews', () => {
      it('deletes an untagged manifest that nothing keeps, and keeps a tagged one', async () => {
        await metadata.putManifest(repo('r'), manifest('1'), NONE, tag('v'));
        await metadata.putManifest(repo('r'), manifest('2'), NONE, tag('w'));
        await metadata.putManifest(repo('r'), manifest('2'), NONE, tag('v'));
        await metadata.putManifest(repo('r'), manifest('3'), NONE, tag('v'));
        await drain();
        await metadata.putManifest(repo('r'), manifest('1'), NONE, tag('v'));
        await metadata.putManifest(repo('r'), manifest('3'), NONE, tag('v'));
        expect(await reviewManifest('r', digest('1'))).toBe('deleted'); // v moved away from 1 again
        expect(await metadata.findManifest(repo('r'), digest('1'))).toBeUndefined();
        await metadata.deleteTag(repo('r'), tag('w'));
        await metadata.putManifest(repo('r'), manifest('2'), NONE, tag('x'));
        expect(await reviewManifest('r', digest('2'))).toBe('kept'); // tagged x meanwhile
        expect(await reviewManifest('r', digest('3'))).toBe('kept');
        expect(await dueManifestKeys()).toEqual([]);
      });

      it('keeps the children of an index and the referrers of a kept subject', async () => {
        await metadata.putManifest(repo('r'), manifest('c'), NONE, tag('c'));
        await metadata.putManifest(
          repo('r'),
          manifest('i'),
          { blobs: [], manifests: [digest('c')] },
          tag('i'),
        );
        await metadata.putManifest(repo('r'), manifest('s', { subject: digest('c') }), NONE, tag('s'));
        await drain();
        await metadata.deleteTag(repo('r'), tag('c'));
        await metadata.deleteTag(repo('r'), tag('s'));
        expect(await reviewManifest('r', digest('c'))).toBe('kept');
        expect(await reviewManifest('r', digest('s'))).toBe('kept');
        await metadata.deleteTag(repo('r'), tag('i'));
        expect(await reviewManifest('r', digest('i'))).toBe('deleted');
        // The index's deletion queued its child: now unreferenced, it goes, and its referrer after it.
        expect(await reviewManifest('r', digest('c'))).toBe('deleted');
        expect(await reviewManifest('r', digest('s'))).toBe('deleted');
        expect(await metadata.listReferrers(repo('r'), digest('c'))).toEqual([]);
      });

      it('judges each repository alone: a manifest tagged in another repository does not keep it here', async () => {
        await metadata.putManifest(repo('a'), manifest('m'), NONE, tag('v'));
        await metadata.putManifest(repo('b'), manifest('m'), NONE, tag('v'));
        await drain();
        await metadata.deleteTag(repo('a'), tag('v'));
        expect(await reviewManifest('a', digest('m'))).toBe('deleted');
        expect(await metadata.findManifest(repo('b'), digest('m'))).toBeDefined();
        // Its bytes stay: another repository has the manifest.
        expect((await reviewBlob(digest('m'))).sweep).toEqual({ sweeping: false, reason: 'kept' });
      });

      it('leaves a held manifest queued and reviews it once released', async () => {
        await metadata.putManifest(repo('r'), manifest('1'), NONE, tag('v'));
        await drain();
        await metadata.deleteTag(repo('r'), tag('v'));
        const now = Date.now();
        await gc.hold('w', [digest('1')], { now, until: now + LEASE });
        expect(await reviewManifest('r', digest('1'))).toBe('held');
        await gc.releaseHold('w');
        expect(await reviewManifest('r', digest('1'))).toBe('deleted');
      });

      it('removes only the links no manifest of their repository references, then sweeps what nobody links', async () => {
        await metadata.linkBlob(repo('a'), digest('b'), 10);
        await metadata.linkBlob(repo('b'), digest('b'), 10);
        await metadata.putManifest(
          repo('a'),
          manifest('m'),
          { blobs: [digest('b')], manifests: [] },
          tag('v'),
        );
        let review = await reviewBlob(digest('b'));
        expect(review).toEqual({ unlinked: ['b'], sweep: { sweeping: false, reason: 'kept' } });
        expect(await metadata.findRepositoryBlob(repo('a'), digest('b'))).toEqual({ size: 10 });
        expect(await metadata.findRepositoryBlob(repo('b'), digest('b'))).toBeUndefined();
        await drain();
        await metadata.deleteManifest(repo('a'), digest('m'));
        review = await reviewBlob(digest('b'));
        expect(review).toEqual({ unlinked: ['a'], sweep: { sweeping: true, size: 10 } });
        expect(await metadata.findBlob(digest('b'))).toBeUndefined();
        expect(await dueBlobDigests()).not.toContain(digest('b'));
        // Its marker keeps writers off until the bytes are gone.
        const now = Date.now();
        expect(await gc.hold('w', [digest('b')], { now, until: now + LEASE })).toBe(false);
        expect(await gc.confirmSweep(digest('b'), sweepLease())).toBe(true);
        await gc.endSweep(digest('b'), 'sweeper');
        expect(await gc.hold('w', [digest('b')], { now, until: now + LEASE })).toBe(true);
      });

      it('keeps a blob shared with another repository whose manifest references it', async () => {
        for (const r of ['a', 'b']) {
          await metadata.linkBlob(repo(r), digest('b'), 10);
          await metadata.putManifest(
            repo(r),
            manifest(r === 'a' ? '1' : '2'),
            { blobs: [digest('b')], manifests: [] },
            tag('v'),
          );
        }
        await drain();
        await metadata.deleteManifest(repo('a'), digest('1'));
        expect(await reviewBlob(digest('b'))).toEqual({
          unlinked: ['a'],
          sweep: { sweeping: false, reason: 'kept' },
        });
        expect(await metadata.findRepositoryBlob(repo('b'), digest('b'))).toEqual({ size: 10 });
      });

      it('changes nothing while a writer holds the blob, and leaves it queued', async () => {
        await metadata.linkBlob(repo('r'), digest('b'), 10);
        const now = Date.now();
        await gc.hold('w', [digest('b')], { now, until: now + LEASE });
        expect(await reviewBlob(digest('b'))).toEqual({
          unlinked: [],
          sweep: { sweeping: false, reason: 'held' },
        });
        expect(await metadata.findRepositoryBlob(repo('r'), digest('b'))).toEqual({ size: 10 });
        expect(await dueBlobDigests()).toEqual([digest('b')]);
      });

      it('gives the facts a dry run decides from', async () => {
        await metadata.linkBlob(repo('r'), digest('b'), 10);
        await metadata.putManifest(repo('r'), manifest('c'), { blobs: [digest('b')], manifests: [] });
        await metadata.putManifest(
          repo('r'),
          manifest('i'),
          { blobs: [], manifests: [digest('c')] },
          tag('v'),
        );
        await metadata.putManifest(repo('r'), manifest('s', { subject: digest('c') }), NONE);
        expect(await gc.manifestFacts(repo('r'), digest('c'))).toEqual({
          tagged: false,
          parents: [digest('i')],
          subject: null,
          subjectPresent: false,
          blobs: [digest('b')],
          children: [],
          referrers: [digest('s')],
        });
        expect(await gc.manifestFacts(repo('r'), digest('s'))).toMatchObject({
          subject: digest('c'),
          subjectPresent: true,
        });
        expect(await gc.manifestFacts(repo('x'), digest('c'))).toBeUndefined();
        expect(await gc.blobFacts(digest('b'))).toEqual({
          links: [{ repository: 'r', referencedBy: [digest('c')] }],
          manifestIn: [],
          size: 10,
        });
        expect(await gc.blobFacts(digest('c'))).toEqual({ links: [], manifestIn: ['r'], size: null });
      });
    });

    describe('orphans', () => {
      it('tells which digests and upload sessions no record knows', async () => {
        await metadata.linkBlob(repo('r'), digest('b'), 10);
        await metadata.putManifest(repo('r'), manifest('m'), NONE);
        await metadata.createUpload({ id: 'u1', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
        expect(await gc.unknownDigests([digest('b'), digest('m'), digest('x')])).toEqual([digest('x')]);
        await metadata.deleteManifest(repo('r'), digest('m'));
        // Its bytes are queued for review: the review, not the orphan sweep, decides about them.
        expect(await gc.unknownDigests([digest('m')])).toEqual([]);
        const [queued] = (await gc.dueBlobs(later(), 10)).filter((item) => item.digest === digest('m'));
        expect((await gc.reviewBlob(queued!, sweepLease())).sweep.sweeping).toBe(true);
        expect(await gc.unknownDigests([digest('m')])).toEqual([digest('m')]);
        expect(await gc.unknownUploads(['u1', 'u2'])).toEqual(['u2']);
        expect(await gc.unknownDigests([])).toEqual([]);
      });

      it('remembers when an unknown key was first seen until it is forgotten', async () => {
        expect(await gc.noteOrphans(['k1'], 100, false)).toEqual(new Map());
        expect(await gc.noteOrphans(['k1', 'k2'], 100, true)).toEqual(
          new Map([
            ['k1', 100],
            ['k2', 100],
          ]),
        );
        expect(await gc.noteOrphans(['k1'], 200, true)).toEqual(new Map([['k1', 100]]));
        await gc.forgetOrphans(150); // k2 was last seen at 100
        expect(await gc.noteOrphans(['k1', 'k2'], 300, false)).toEqual(new Map([['k1', 100]]));
        await gc.forgetOrphan('k1');
        expect(await gc.noteOrphans(['k1'], 300, false)).toEqual(new Map());
      });
    });

    describe('run history', () => {
      it('records a run as running, then its outcome: the counters when it succeeded, the error when not', async () => {
        const run = await gc.startGcRun(newRun(1_000, { trigger: 'api', dryRun: true, delayMs: 60_000 }), 10);
        expect(run).toEqual({
          id: run.id,
          trigger: 'api',
          dryRun: true,
          delayMs: 60_000,
          host: 'host-a',
          startedAt: 1_000,
          finishedAt: null,
          status: 'running',
          error: null,
          counts: null,
        });
        expect(await gc.getGcRun(run.id)).toEqual(run);
        await gc.finishGcRun(run.id, { status: 'succeeded', finishedAt: 2_500, counts: COUNTS });
        expect(await gc.getGcRun(run.id)).toEqual({
          ...run,
          status: 'succeeded',
          finishedAt: 2_500,
          counts: COUNTS,
        });

        const failed = await gc.startGcRun(newRun(3_000, { trigger: 'scheduled' }), 10);
        expect(failed.id).toBeGreaterThan(run.id);
        await gc.finishGcRun(failed.id, { status: 'failed', finishedAt: 3_100, error: 'storage said no' });
        expect(await gc.getGcRun(failed.id)).toMatchObject({
          trigger: 'scheduled',
          dryRun: false,
          status: 'failed',
          finishedAt: 3_100,
          error: 'storage said no',
          counts: null,
        });
        expect(await gc.getGcRun(failed.id + 1000)).toBeUndefined();
      });

      it('closes a run left running when the next one starts, and still takes its late outcome', async () => {
        const crashed = await gc.startGcRun(newRun(1_000), 10);
        const next = await gc.startGcRun(newRun(2_000, { host: 'host-b' }), 10);
        expect(await gc.getGcRun(crashed.id)).toMatchObject({
          status: 'failed',
          finishedAt: null,
          error: GC_RUN_UNFINISHED,
          counts: null,
        });
        expect(await gc.getGcRun(next.id)).toMatchObject({ status: 'running', host: 'host-b' });
        // A run closed so that was alive after all (it lost its lease) records what it did.
        await gc.finishGcRun(crashed.id, { status: 'succeeded', finishedAt: 2_100, counts: COUNTS });
        expect(await gc.getGcRun(crashed.id)).toMatchObject({
          status: 'succeeded',
          error: null,
          counts: COUNTS,
        });
      });

      it('lists runs newest first, pages by id, and keeps only the newest', async () => {
        const ids: number[] = [];
        for (let n = 0; n < 5; n++) {
          const run = await gc.startGcRun(newRun(1_000 + n), 4);
          await gc.finishGcRun(run.id, { status: 'succeeded', finishedAt: 1_500 + n, counts: COUNTS });
          ids.push(run.id);
        }
        const newest = [...ids].reverse().slice(0, 4);
        expect((await gc.listGcRuns(10)).map((run) => run.id)).toEqual(newest);
        expect(await gc.getGcRun(ids[0] as number)).toBeUndefined();
        const first = await gc.listGcRuns(2);
        expect(first.map((run) => run.startedAt)).toEqual([1_004, 1_003]);
        const second = await gc.listGcRuns(2, first.at(-1)?.id);
        expect(second.map((run) => run.id)).toEqual(newest.slice(2));
        expect(await gc.listGcRuns(2, second.at(-1)?.id)).toEqual([]);
        // The history is shared with another process on the same database.
        const other = await subject.sibling().catch(() => undefined);
        if (other) expect((await other.gc.listGcRuns(1))[0]?.id).toBe(newest[0]);
      });
    });
  });
}
