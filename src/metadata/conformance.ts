// The behaviour every MetadataStore must show, whatever database is under it. A store's test file
// calls `describeMetadataStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like storage-drivers/conformance.ts) so that another implementation can run the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestRecord, MetadataStore } from '../registry/metadata-store.js';
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

    it('holds a lease across two stores on one database', async () => {
      const second = await subject.sibling();
      await store.createUpload({ id: 'u', repository: repo('r'), size: 0, startedAt: 1, updatedAt: 1 });
      expect(await store.leaseUpload('u', { holder: 'a', now: 1, until: 100 })).toMatchObject({ id: 'u' });
      expect(await second.leaseUpload('u', { holder: 'b', now: 2, until: 100 })).toBe('busy');
      await store.releaseUpload('u', 'a');
      expect(await second.leaseUpload('u', { holder: 'b', now: 3, until: 100 })).toMatchObject({ id: 'u' });
    });
  });
}
