// The behaviour every MetadataStore must show, whatever database is under it. A store's test file
// calls `describeMetadataStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like storage-drivers/conformance.ts) so that another implementation can run the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestRecord, MetadataStore, Page } from '../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';

export interface MetadataStoreUnderTest {
  /** A store on an empty database. */
  store: MetadataStore;
  /** A second store on the same database, as another replica would open it. */
  sibling(): Promise<MetadataStore>;
  cleanup?: () => Promise<void>;
}

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const manifest = (c: string, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100,
  artifactType: null,
  subject: null,
  annotations: null,
  ...extra,
});

export function describeMetadataStoreConformance(
  name: string,
  create: () => Promise<MetadataStoreUnderTest>,
): void {
  describe(`metadata store conformance: ${name}`, () => {
    let subject: MetadataStoreUnderTest;
    let store: MetadataStore;
    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    it('links blobs per repository', async () => {
      await store.linkBlob(repo('a'), digest('1'), 10);
      expect(await store.findRepositoryBlob(repo('a'), digest('1'))).toEqual({ size: 10 });
      expect(await store.findRepositoryBlob(repo('b'), digest('1'))).toBeUndefined();
      expect(await store.findBlob(digest('1'))).toEqual({ size: 10 });
      expect(await store.repositoryBlobSizes(repo('a'), [digest('1'), digest('2'), digest('2')])).toEqual(
        new Map([[digest('1'), 10]]),
      );
      expect(await store.unlinkBlob(repo('a'), digest('1'))).toBe(true);
      expect(await store.unlinkBlob(repo('a'), digest('1'))).toBe(false);
    });

    it('tags manifests, lists in lexical order with pagination, and deletes tags with their manifest', async () => {
      await store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'b' as Tag);
      await store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'a' as Tag);
      await store.putManifest(repo('r'), manifest('m'), { blobs: [], manifests: [] }, 'c' as Tag);
      expect(await store.listTags(repo('r'), {})).toEqual(['a', 'b', 'c']);
      expect(await store.listTags(repo('r'), { last: 'a', limit: 1 })).toEqual(['b']);
      expect((await store.resolveTag(repo('r'), 'b' as Tag))?.digest).toBe(digest('m'));
      expect(await store.deleteManifest(repo('r'), digest('m'))).toBe(true);
      expect(await store.listTags(repo('r'), {})).toEqual([]);
      expect(await store.repositoryExists(repo('r'))).toBe(false);
      expect(await store.listRepositories({})).toEqual([]);
    });

    it('moves a tag to a new manifest', async () => {
      await store.putManifest(repo('r'), manifest('1'), { blobs: [], manifests: [] }, 'latest' as Tag);
      await store.putManifest(repo('r'), manifest('2'), { blobs: [], manifests: [] }, 'latest' as Tag);
      expect((await store.resolveTag(repo('r'), 'latest' as Tag))?.digest).toBe(digest('2'));
      expect(await store.findManifest(repo('r'), digest('1'))).toBeDefined();
    });

    it('lists the repositories that may read a blob, in byte order, a page at a time', async () => {
      for (const name of ['team-b/app', 'Team/x', 'team-a/app', 'other/lib']) {
        await store.linkBlob(repo(name), digest('1'), 10);
      }
      await store.linkBlob(repo('team-c/app'), digest('2'), 10);
      await store.unlinkBlob(repo('other/lib'), digest('1'));
      expect(await store.listRepositoriesWithBlob(digest('1'), {})).toEqual([
        'Team/x',
        'team-a/app',
        'team-b/app',
      ]);
      expect(await store.listRepositoriesWithBlob(digest('1'), { last: 'Team/x', limit: 1 })).toEqual([
        'team-a/app',
      ]);
      expect(await store.listRepositoriesWithBlob(digest('3'), {})).toEqual([]);
    });

    it('lists repositories holding manifests, after `last`', async () => {
      for (const name of ['c/x', 'a', 'b/y']) {
        await store.putManifest(repo(name), manifest('1'), { blobs: [], manifests: [] });
      }
      await store.linkBlob(repo('blob-only'), digest('9'), 1);
      expect(await store.listRepositories({})).toEqual(['a', 'b/y', 'c/x']);
      expect(await store.listRepositories({ last: 'a', limit: 1 })).toEqual(['b/y']);
    });

    it('finds referrers by subject and artifact type', async () => {
      const refs = { blobs: [], manifests: [] };
      await store.putManifest(repo('r'), manifest('s'), refs);
      await store.putManifest(
        repo('r'),
        manifest('1', { subject: digest('s'), artifactType: 'x/sbom' }),
        refs,
      );
      await store.putManifest(
        repo('r'),
        manifest('2', { subject: digest('s'), artifactType: 'x/sig', annotations: { k: 'v' } }),
        refs,
      );
      expect((await store.listReferrers(repo('r'), digest('s'))).map((m) => m.digest)).toEqual([
        digest('1'),
        digest('2'),
      ]);
      expect(await store.listReferrers(repo('r'), digest('s'), 'x/sig')).toEqual([
        expect.objectContaining({ digest: digest('2'), annotations: { k: 'v' } }),
      ]);
      expect(await store.listReferrers(repo('other'), digest('s'))).toEqual([]);
    });

    it('tracks upload sessions and finds stale ones', async () => {
      await store.createUpload({ id: 'u1', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
      await store.createUpload({ id: 'u2', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 50 });
      expect(await store.updateUploadSize('u1', 'holder', 42, 10)).toBe(false); // no lease, no write
      expect(await store.leaseUpload('u1', { holder: 'holder', now: 5, until: 100 })).toMatchObject({
        id: 'u1',
      });
      expect(await store.updateUploadSize('u1', 'holder', 42, 10)).toBe(true);
      expect(await store.findUpload('u1')).toMatchObject({ size: 42, updatedAt: 10 });
      expect((await store.listUploadsUpdatedBefore(20)).map((u) => u.id)).toEqual(['u1']);
      await store.deleteUpload('u1');
      expect(await store.findUpload('u1')).toBeUndefined();
    });

    describe('upload leases', () => {
      const withUpload = async () => {
        await store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
        return store;
      };

      it('gives an upload one holder at a time until the lease ends or is released', async () => {
        await withUpload();
        expect(await store.leaseUpload('u', { holder: 'a', now: 10, until: 40 })).toMatchObject({
          id: 'u',
          size: 0,
        });
        expect(await store.leaseUpload('u', { holder: 'b', now: 20, until: 50 })).toBe('busy');
        expect(await store.updateUploadSize('u', 'b', 7, 20)).toBe(false);
        expect(await store.leaseUpload('u', { holder: 'a', now: 30, until: 60 })).toMatchObject({ id: 'u' }); // renewal
        expect(await store.leaseUpload('u', { holder: 'b', now: 50, until: 80 })).toBe('busy');
        expect(await store.leaseUpload('u', { holder: 'b', now: 60, until: 90 })).toMatchObject({ id: 'u' }); // a's ended
        expect(await store.updateUploadSize('u', 'a', 9, 61)).toBe(false);
        await store.releaseUpload('u', 'a'); // no longer a's: nothing happens
        expect(await store.leaseUpload('u', { holder: 'c', now: 61, until: 99 })).toBe('busy');
        await store.releaseUpload('u', 'b');
        expect(await store.leaseUpload('u', { holder: 'c', now: 62, until: 99 })).toMatchObject({ id: 'u' });
      });

      it('answers undefined for an upload that does not exist', async () => {
        await withUpload();
        expect(await store.leaseUpload('nope', { holder: 'a', now: 1, until: 2 })).toBeUndefined();
        await store.deleteUpload('u');
        expect(await store.leaseUpload('u', { holder: 'a', now: 1, until: 2 })).toBeUndefined();
      });
    });

    describe('listing order and pages', () => {
      const noRefs = { blobs: [], manifests: [] };
      // Byte order ('-' < '.' < '/' < digits < upper case < '_' < lower case), not a locale's order.
      const tagsInOrder = [
        '1',
        'B',
        'V1',
        'Z9',
        '_x',
        'a',
        'v1',
        'v1-rc',
        'v1.0',
        'v1.0-alpha',
        'v10',
        'v1_0',
        'z',
      ];
      const reposInOrder = ['a', 'a--b', 'a-b', 'a.b', 'a/b', 'a0', 'a__b', 'a_b', 'ab', 'b'];
      const pageThrough = async (list: (page: Page) => Promise<string[]>, limit: number) => {
        const seen: string[] = [];
        for (let last: string | undefined; ;) {
          const page = await list({ last, limit });
          seen.push(...page);
          if (page.length < limit) return seen;
          last = page.at(-1);
        }
      };

      it('lists tags in byte order and pages through them with last and limit', async () => {
        for (const tag of [...tagsInOrder].reverse()) {
          await store.putManifest(repo('r'), manifest('1'), noRefs, tag as Tag);
        }
        const list = (page: Page) => store.listTags(repo('r'), page);
        expect(await list({})).toEqual(tagsInOrder);
        expect(await pageThrough(list, 3)).toEqual(tagsInOrder);
        expect(await pageThrough(list, 1)).toEqual(tagsInOrder);
        expect(await list({ last: 'v1' })).toEqual(['v1-rc', 'v1.0', 'v1.0-alpha', 'v10', 'v1_0', 'z']);
        expect(await list({ last: 'a', limit: 2 })).toEqual(['v1', 'v1-rc']);
        expect(await list({ last: 'v1.5', limit: 2 })).toEqual(['v10', 'v1_0']); // `last` need not exist
        expect(await list({ last: 'z' })).toEqual([]);
        expect(await list({ limit: 0 })).toEqual([]);
        expect(await list({ limit: 100 })).toEqual(tagsInOrder);
        expect(await store.listTags(repo('other'), {})).toEqual([]);
      });

      it('lists repositories in byte order and pages through them with last and limit', async () => {
        for (const name of [...reposInOrder].reverse()) {
          await store.putManifest(repo(name), manifest('1'), noRefs);
        }
        const list = (page: Page) => store.listRepositories(page);
        expect(await list({})).toEqual(reposInOrder);
        expect(await pageThrough(list, 4)).toEqual(reposInOrder);
        expect(await list({ last: 'a-b', limit: 3 })).toEqual(['a.b', 'a/b', 'a0']);
        expect(await list({ last: 'a.c' })).toEqual(['a/b', 'a0', 'a__b', 'a_b', 'ab', 'b']);
        expect(await list({ last: 'b' })).toEqual([]);
        expect(await list({ limit: 0 })).toEqual([]);
      });
    });

    it('returns a manifest exactly as it was recorded', async () => {
      const annotations = {
        'org.opencontainers.image.created': '2024-01-02T03:04:05Z',
        'z.first-written': 'order kept',
        quotes: 'say "hi" \\ {"json": [1]}',
        unicode: 'snow ☃, emoji 🐳, accents é',
        empty: '',
      };
      const full = manifest('a', {
        mediaType: 'application/vnd.oci.artifact.manifest.v1+json',
        size: 4 * 1024 * 1024,
        artifactType: 'application/vnd.example+type',
        subject: digest('s'),
        annotations,
      });
      const bare = manifest('b', { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
      await store.putManifest(
        repo('r'),
        full,
        { blobs: [digest('c'), digest('d')], manifests: [] },
        'full' as Tag,
      );
      await store.putManifest(repo('r'), bare, { blobs: [], manifests: [digest('a')] }, 'bare' as Tag);
      expect(await store.findManifest(repo('r'), digest('a'))).toEqual(full);
      expect(await store.resolveTag(repo('r'), 'full' as Tag)).toEqual(full);
      expect(Object.keys((await store.findManifest(repo('r'), digest('a')))?.annotations ?? {})).toEqual(
        Object.keys(annotations),
      );
      expect(await store.findManifest(repo('r'), digest('b'))).toEqual(bare);
      expect(await store.resolveTag(repo('r'), 'bare' as Tag)).toEqual(bare);
      expect(await store.listReferrers(repo('r'), digest('s'))).toEqual([full]);
      expect(await store.findManifest(repo('other'), digest('a'))).toBeUndefined();
      expect(await store.resolveTag(repo('r'), 'nope' as Tag)).toBeUndefined();
    });

    it('keeps sizes and times beyond 2^31 exact', async () => {
      const big = 2 ** 40 + 3;
      await store.linkBlob(repo('r'), digest('1'), big);
      await store.linkBlob(repo('r'), digest('2'), Number.MAX_SAFE_INTEGER);
      expect(await store.findBlob(digest('1'))).toEqual({ size: big });
      expect(await store.findRepositoryBlob(repo('r'), digest('2'))).toEqual({
        size: Number.MAX_SAFE_INTEGER,
      });
      expect(await store.repositoryBlobSizes(repo('r'), [digest('1'), digest('2')])).toEqual(
        new Map([
          [digest('1'), big],
          [digest('2'), Number.MAX_SAFE_INTEGER],
        ]),
      );
      await store.putManifest(repo('r'), manifest('m', { size: 2 ** 32 + 1 }), { blobs: [], manifests: [] });
      expect((await store.findManifest(repo('r'), digest('m')))?.size).toBe(2 ** 32 + 1);
      const at = 1_700_000_000_123; // ms since the epoch
      await store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: at, updatedAt: at });
      expect(await store.leaseUpload('u', { holder: 'h', now: at, until: at + 60_000 })).toEqual({
        id: 'u',
        repository: repo('r'),
        size: 0,
        startedAt: at,
        updatedAt: at,
      });
      expect(await store.updateUploadSize('u', 'h', big, at + 1)).toBe(true);
      expect(await store.findUpload('u')).toEqual({
        id: 'u',
        repository: repo('r'),
        size: big,
        startedAt: at,
        updatedAt: at + 1,
      });
      expect(await store.leaseUpload('u', { holder: 'other', now: at + 59_999, until: at + 1e6 })).toBe(
        'busy',
      );
      expect((await store.listUploadsUpdatedBefore(at + 2)).map((u) => u.size)).toEqual([big]);
      expect(await store.listUploadsUpdatedBefore(at)).toEqual([]);
    });

    it('answers size lookups for the readable ones of many digests, duplicates included', async () => {
      await store.linkBlob(repo('r'), digest('1'), 1);
      await store.linkBlob(repo('r'), digest('2'), 2);
      await store.linkBlob(repo('other'), digest('3'), 3);
      await store.putManifest(repo('r'), manifest('a', { size: 10 }), { blobs: [], manifests: [] });
      await store.putManifest(repo('other'), manifest('b', { size: 20 }), { blobs: [], manifests: [] });
      const many = Array.from(
        { length: 300 },
        (_, i) => `sha256:${i.toString(16).padStart(64, '0')}` as Digest,
      );
      expect(await store.repositoryBlobSizes(repo('r'), [])).toEqual(new Map());
      expect(
        await store.repositoryBlobSizes(repo('r'), [
          digest('2'),
          digest('1'),
          digest('2'),
          digest('3'),
          ...many,
        ]),
      ).toEqual(
        new Map([
          [digest('2'), 2],
          [digest('1'), 1],
        ]),
      );
      expect(await store.repositoryBlobSizes(repo('nope'), [digest('1')])).toEqual(new Map());
      expect(await store.repositoryManifestSizes(repo('r'), [])).toEqual(new Map());
      expect(
        await store.repositoryManifestSizes(repo('r'), [digest('a'), digest('a'), digest('b'), digest('1')]),
      ).toEqual(new Map([[digest('a'), 10]]));
    });

    it('deletes one tag and keeps its manifest and the other tags', async () => {
      await store.putManifest(repo('r'), manifest('1'), { blobs: [], manifests: [] }, 'a' as Tag);
      await store.putManifest(repo('r'), manifest('1'), { blobs: [], manifests: [] }, 'b' as Tag);
      expect(await store.deleteTag(repo('r'), 'a' as Tag)).toBe(true);
      expect(await store.deleteTag(repo('r'), 'a' as Tag)).toBe(false);
      expect(await store.deleteTag(repo('other'), 'b' as Tag)).toBe(false);
      expect(await store.resolveTag(repo('r'), 'a' as Tag)).toBeUndefined();
      expect((await store.resolveTag(repo('r'), 'b' as Tag))?.digest).toBe(digest('1'));
      expect(await store.listTags(repo('r'), {})).toEqual(['b']);
      expect(await store.findManifest(repo('r'), digest('1'))).toBeDefined();
      expect(await store.repositoryExists(repo('r'))).toBe(true);
      expect(await store.deleteManifest(repo('r'), digest('1'))).toBe(true);
      expect(await store.deleteManifest(repo('r'), digest('1'))).toBe(false);
      expect(await store.deleteTag(repo('r'), 'b' as Tag)).toBe(false);
    });

    it('records the same blob and manifest again without error or change', async () => {
      const refs = { blobs: [digest('1'), digest('1')], manifests: [] };
      await store.linkBlob(repo('r'), digest('1'), 5);
      await store.linkBlob(repo('r'), digest('1'), 5);
      await store.linkBlob(repo('s'), digest('1'), 5);
      await store.putManifest(repo('r'), manifest('m', { annotations: { k: 'v' } }), refs, 't' as Tag);
      await store.putManifest(repo('r'), manifest('m', { annotations: { k: 'v' } }), refs, 't' as Tag);
      expect(await store.findRepositoryBlob(repo('s'), digest('1'))).toEqual({ size: 5 });
      expect(await store.findManifest(repo('r'), digest('m'))).toEqual(
        manifest('m', { annotations: { k: 'v' } }),
      );
      expect(await store.listTags(repo('r'), {})).toEqual(['t']);
    });

    it('creates a repository once when two stores write to it at the same time', async () => {
      const second = await subject.sibling();
      const refs = { blobs: [], manifests: [] };
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => [
          store.linkBlob(repo('new/repo'), digest(String(i)), i),
          second.putManifest(repo('new/repo'), manifest(String(i)), refs, `t${i}` as Tag),
        ]).flat(),
      );
      expect(await store.listRepositories({})).toEqual(['new/repo']);
      expect(await second.listTags(repo('new/repo'), {})).toHaveLength(8);
      expect((await store.repositoryBlobSizes(repo('new/repo'), [digest('7')])).get(digest('7'))).toBe(7);
    });

    it('stays consistent when a manifest is pushed again while another store deletes it', async () => {
      const second = await subject.sibling();
      const refs = { blobs: [digest('b')], manifests: [] };
      for (let i = 0; i < 100; i++) {
        await store.putManifest(repo('r'), manifest('m'), refs, 't' as Tag);
        await Promise.all([
          second.putManifest(repo('r'), manifest('m'), refs, 't' as Tag),
          store.deleteManifest(repo('r'), digest('m')),
        ]);
        const found = await store.findManifest(repo('r'), digest('m'));
        expect((await store.resolveTag(repo('r'), 't' as Tag))?.digest).toBe(found?.digest);
      }
    });

    it('grants a lease to exactly one of many concurrent holders across two stores', async () => {
      const second = await subject.sibling();
      await store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          (i % 2 ? second : store).leaseUpload('u', { holder: `h${i}`, now: 2, until: 100 }),
        ),
      );
      expect(results.filter((r) => r === 'busy')).toHaveLength(15);
      expect(results.filter((r) => typeof r === 'object')).toHaveLength(1);
    });

    it('holds a lease across two stores on one database', async () => {
      const second = await subject.sibling();
      await store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
      expect(await store.leaseUpload('u', { holder: 'a', now: 1, until: 100 })).toMatchObject({ id: 'u' });
      expect(await second.leaseUpload('u', { holder: 'b', now: 2, until: 100 })).toBe('busy');
      await store.releaseUpload('u', 'a');
      expect(await second.leaseUpload('u', { holder: 'b', now: 3, until: 100 })).toMatchObject({ id: 'u' });
    });

    it('gives a background job to one holder at a time, across stores, until its lease ends', async () => {
      const second = await subject.sibling();
      expect(await store.leaseJob('purge', { holder: 'a', now: 10, until: 100 })).toBe(true);
      expect(await second.leaseJob('purge', { holder: 'b', now: 20, until: 110 })).toBe(false);
      expect(await second.leaseJob('other-job', { holder: 'b', now: 20, until: 110 })).toBe(true);
      expect(await store.leaseJob('purge', { holder: 'a', now: 90, until: 180 })).toBe(true); // renewal
      expect(await second.leaseJob('purge', { holder: 'b', now: 150, until: 240 })).toBe(false);
      expect(await second.leaseJob('purge', { holder: 'b', now: 180, until: 270 })).toBe(true); // a's ended
      expect(await store.leaseJob('purge', { holder: 'a', now: 190, until: 280 })).toBe(false);
      const racers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? second : store).leaseJob('race', { holder: `h${i}`, now: 1, until: 50 }),
        ),
      );
      expect(racers.filter(Boolean)).toHaveLength(1);
    });
  });
}
