// The behaviour every PolicyStore must show, whatever database is under it (the contract in
// src/policies/policy-store.ts), together with the MetadataStore of the same database, whose writes the
// usage counts follow. A store's test file calls
// `describePolicyStoreConformance('name', async () => ({ store, sibling, cleanup }))`.
// Exported (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PolicyStore, RetentionPolicy } from '../policies/policy-store.js';
import type { ManifestRecord, MetadataStore } from '../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';

/** A policy store and the metadata store of the same database. */
export interface PolicyStores {
  policies: PolicyStore;
  metadata: MetadataStore;
}

export interface PolicyStoreUnderTest {
  /** Stores on an empty (migrated) database. */
  store: PolicyStores;
  /** Stores on the same database, as another process or replica would open them. */
  sibling(): Promise<PolicyStores>;
  cleanup?: () => Promise<void>;
}

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;

const manifest = (c: string, size: number, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest: digest(c),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size,
  artifactType: null,
  subject: null,
  annotations: null,
  ...extra,
});

const NONE = { blobs: [], manifests: [] };

export function describePolicyStoreConformance(
  name: string,
  create: () => Promise<PolicyStoreUnderTest>,
): void {
  describe(`policy store conformance: ${name}`, () => {
    let subject: PolicyStoreUnderTest;
    let policies: PolicyStore;
    let metadata: MetadataStore;
    beforeEach(async () => {
      subject = await create();
      ({ policies, metadata } = subject.store);
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    const used = async (namespace: string) => (await policies.getUsage(namespace)).usedBytes;

    describe('immutable-tag rules', () => {
      it('answers no rules for a namespace never given any', async () => {
        expect(await policies.listImmutableRules('team')).toEqual([]);
      });

      it('keeps rules in the order set, per namespace, replaced whole and removed by an empty list', async () => {
        const rules = [
          { tags: 'v*', repositories: null },
          { tags: 'latest', repositories: 'team/prod-*' },
          { tags: '1.*', repositories: null },
        ];
        await policies.setImmutableRules('team', rules);
        await policies.setImmutableRules('other', [{ tags: '*', repositories: null }]);
        expect(await policies.listImmutableRules('team')).toEqual(rules);
        expect(await policies.listImmutableRules('Team')).toEqual([]);

        await policies.setImmutableRules('team', [{ tags: 'release-*', repositories: 'team/app' }]);
        expect(await policies.listImmutableRules('team')).toEqual([
          { tags: 'release-*', repositories: 'team/app' },
        ]);
        await policies.setImmutableRules('team', []);
        expect(await policies.listImmutableRules('team')).toEqual([]);
        expect(await policies.listImmutableRules('other')).toEqual([{ tags: '*', repositories: null }]);
      });

      it('shows rules set through one store to another on the same database', async () => {
        const second = await subject.sibling();
        await policies.setImmutableRules('team', [{ tags: 'v*', repositories: null }]);
        expect(await second.policies.listImmutableRules('team')).toEqual([
          { tags: 'v*', repositories: null },
        ]);
      });
    });

    describe('quotas', () => {
      it('answers no quota and no usage for an unknown namespace', async () => {
        expect(await policies.getUsage('team')).toEqual({
          namespace: 'team',
          limitBytes: null,
          usedBytes: 0,
        });
        expect(await policies.quotaStanding('team', digest('a'))).toEqual({
          limitBytes: null,
          usedBytes: 0,
          counted: false,
        });
        expect(await policies.listUsage()).toEqual([]);
      });

      it('sets, replaces and removes a quota', async () => {
        await policies.setQuota('team', 1_000, 1);
        expect(await policies.getUsage('team')).toEqual({
          namespace: 'team',
          limitBytes: 1_000,
          usedBytes: 0,
        });
        await policies.setQuota('team', 5_000_000_000_000, 2);
        expect((await policies.getUsage('team')).limitBytes).toBe(5_000_000_000_000);
        await policies.setQuota('team', null, 3);
        expect((await policies.getUsage('team')).limitBytes).toBeNull();
        await policies.setQuota('team', null, 4);
      });

      it('lists namespaces with content or a quota, by name', async () => {
        await policies.setQuota('zeta', 10, 1);
        await metadata.linkBlob(repo('alpha/app'), digest('1'), 7);
        await metadata.linkBlob(repo('mid'), digest('2'), 3);
        expect(await policies.listUsage()).toEqual([
          { namespace: 'alpha', limitBytes: null, usedBytes: 7 },
          { namespace: 'mid', limitBytes: null, usedBytes: 3 },
          { namespace: 'zeta', limitBytes: 10, usedBytes: 0 },
        ]);
        // A namespace whose content went is no longer listed.
        await metadata.unlinkBlob(repo('mid'), digest('2'));
        expect((await policies.listUsage()).map((u) => u.namespace)).toEqual(['alpha', 'zeta']);
      });
    });

    describe('usage', () => {
      it('counts a blob once per namespace, however many of its repositories link it', async () => {
        await metadata.linkBlob(repo('team/a'), digest('1'), 100);
        await metadata.linkBlob(repo('team/b'), digest('1'), 100);
        await metadata.linkBlob(repo('team/b/nested'), digest('1'), 100);
        await metadata.linkBlob(repo('team'), digest('1'), 100);
        await metadata.linkBlob(repo('team/a'), digest('1'), 100); // again: no change
        await metadata.linkBlob(repo('team/a'), digest('2'), 20);
        expect(await used('team')).toBe(120);
        // Namespaces are whole first components: teamx and team-a are others.
        await metadata.linkBlob(repo('teamx/a'), digest('1'), 100);
        await metadata.linkBlob(repo('team-a/a'), digest('1'), 100);
        expect(await used('team')).toBe(120);
        expect(await used('teamx')).toBe(100);
        expect(await used('team-a')).toBe(100);

        expect(await policies.quotaStanding('team', digest('1'))).toMatchObject({
          usedBytes: 120,
          counted: true,
        });
        expect(await policies.quotaStanding('team', digest('3'))).toMatchObject({ counted: false });
        expect(await policies.quotaStanding('other', digest('1'))).toMatchObject({
          usedBytes: 0,
          counted: false,
        });
      });

      it('takes a blob away when its last link in the namespace goes', async () => {
        for (const name of ['team/a', 'team/b']) await metadata.linkBlob(repo(name), digest('1'), 100);
        await metadata.unlinkBlob(repo('team/a'), digest('1'));
        expect(await used('team')).toBe(100);
        await metadata.unlinkBlob(repo('team/a'), digest('1')); // not linked: no change
        expect(await used('team')).toBe(100);
        await metadata.unlinkBlob(repo('team/b'), digest('1'));
        expect(await used('team')).toBe(0);
        expect((await policies.quotaStanding('team', digest('1'))).counted).toBe(false);
        await metadata.linkBlob(repo('team/b'), digest('1'), 100);
        expect(await used('team')).toBe(100);
      });

      it("counts manifests' own bytes, once per namespace, and takes them away with the last one", async () => {
        await metadata.linkBlob(repo('team/a'), digest('1'), 1_000);
        await metadata.putManifest(
          repo('team/a'),
          manifest('m', 300),
          { blobs: [digest('1')], manifests: [] },
          tag('v1'),
        );
        expect(await used('team')).toBe(1_300);
        // The same manifest under another tag and in another repository adds nothing.
        await metadata.putManifest(repo('team/a'), manifest('m', 300), NONE, tag('latest'));
        await metadata.linkBlob(repo('team/b'), digest('1'), 1_000);
        await metadata.putManifest(repo('team/b'), manifest('m', 300), {
          blobs: [digest('1')],
          manifests: [],
        });
        expect(await used('team')).toBe(1_300);
        expect((await policies.quotaStanding('team', digest('m'))).counted).toBe(true);

        await metadata.deleteManifest(repo('team/a'), digest('m'));
        expect(await used('team')).toBe(1_300);
        await metadata.deleteManifest(repo('team/b'), digest('m'));
        expect(await used('team')).toBe(1_000);
        await metadata.deleteTag(repo('team/a'), tag('v1')); // already gone with its manifest
        expect(await used('team')).toBe(1_000);
      });

      it('keeps counting right when links of one digest race across stores', async () => {
        const second = await subject.sibling();
        const names = Array.from({ length: 12 }, (_, i) => repo(`team/r${i}`));
        await Promise.all(
          names.map((name, i) => (i % 2 ? second.metadata : metadata).linkBlob(name, digest('1'), 500)),
        );
        expect(await used('team')).toBe(500);
        await Promise.all(
          names.slice(1).map((name, i) => (i % 2 ? second.metadata : metadata).unlinkBlob(name, digest('1'))),
        );
        expect(await used('team')).toBe(500);
        await metadata.unlinkBlob(names[0] as RepoName, digest('1'));
        expect(await second.policies.getUsage('team')).toMatchObject({ usedBytes: 0 });
      });

      it('counts sizes beyond 2^32 exactly', async () => {
        await metadata.linkBlob(repo('big/a'), digest('1'), 3_000_000_000);
        await metadata.linkBlob(repo('big/a'), digest('2'), 4_000_000_000);
        expect(await used('big')).toBe(7_000_000_000);
      });
    });

    describe('retention policies', () => {
      const policy: RetentionPolicy = {
        keepLatest: { count: 5, by: 'pushed' },
        keepPatterns: ['release-*', 'latest'],
        untaggedAfter: '7d',
      };

      it('sets, reads, replaces and deletes a policy per namespace and per repository', async () => {
        expect(await policies.getRetentionPolicy({ kind: 'namespace', name: 'team' })).toBeUndefined();
        await policies.setRetentionPolicy({ kind: 'namespace', name: 'team' }, policy, 10);
        await policies.setRetentionPolicy(
          { kind: 'repository', name: repo('team') },
          { keepLatest: null, keepPatterns: [], untaggedAfter: null },
          11,
        );
        expect(await policies.getRetentionPolicy({ kind: 'namespace', name: 'team' })).toEqual(policy);
        expect(await policies.getRetentionPolicy({ kind: 'repository', name: repo('team') })).toEqual({
          keepLatest: null,
          keepPatterns: [],
          untaggedAfter: null,
        });
        const changed: RetentionPolicy = {
          keepLatest: { count: 2, by: 'pulled' },
          keepPatterns: [],
          untaggedAfter: '1h',
        };
        await policies.setRetentionPolicy({ kind: 'namespace', name: 'team' }, changed, 12);
        expect(await policies.getRetentionPolicy({ kind: 'namespace', name: 'team' })).toEqual(changed);

        expect(await policies.deleteRetentionPolicy({ kind: 'namespace', name: 'team' })).toBe(true);
        expect(await policies.deleteRetentionPolicy({ kind: 'namespace', name: 'team' })).toBe(false);
        expect(await policies.getRetentionPolicy({ kind: 'namespace', name: 'team' })).toBeUndefined();
        expect(await policies.getRetentionPolicy({ kind: 'repository', name: repo('team') })).toBeDefined();
      });

      it('lists every policy, namespaces first, each by name, with when it was set', async () => {
        await policies.setRetentionPolicy({ kind: 'repository', name: repo('b/app') }, policy, 3);
        await policies.setRetentionPolicy({ kind: 'namespace', name: 'b' }, policy, 2);
        await policies.setRetentionPolicy({ kind: 'namespace', name: 'a' }, policy, 1);
        await policies.setRetentionPolicy({ kind: 'repository', name: repo('a/app') }, policy, 4);
        expect(await policies.listRetentionPolicies()).toEqual([
          { scope: { kind: 'namespace', name: 'a' }, policy, updatedAt: 1 },
          { scope: { kind: 'namespace', name: 'b' }, policy, updatedAt: 2 },
          { scope: { kind: 'repository', name: 'a/app' }, policy, updatedAt: 4 },
          { scope: { kind: 'repository', name: 'b/app' }, policy, updatedAt: 3 },
        ]);
      });
    });

    describe('listings for retention', () => {
      it("lists a namespace's repositories holding manifests: itself and the names below it", async () => {
        for (const name of ['team', 'team/a', 'team/b/c', 'teamx/a', 'team-a/x', 'tea/m']) {
          await metadata.putManifest(repo(name), manifest('m', 10), NONE, tag('v1'));
        }
        await metadata.linkBlob(repo('team/blobs-only'), digest('1'), 1);
        expect(await policies.listNamespaceRepositories('team')).toEqual(['team', 'team/a', 'team/b/c']);
        expect(await policies.listNamespaceRepositories('nobody')).toEqual([]);
      });

      it("lists a repository's tags and manifests with their times, subjects and index children", async () => {
        const before = Date.now();
        await metadata.putManifest(repo('team/app'), manifest('a', 10), NONE, tag('amd64'));
        await metadata.putManifest(repo('team/app'), manifest('b', 10), NONE);
        await metadata.putManifest(
          repo('team/app'),
          manifest('i', 10, { mediaType: 'application/vnd.oci.image.index.v1+json' }),
          { blobs: [], manifests: [digest('b'), digest('a')] },
          tag('v1'),
        );
        await metadata.putManifest(repo('team/app'), manifest('i', 10), NONE, tag('latest'));
        await metadata.putManifest(repo('team/app'), manifest('s', 10, { subject: digest('i') }), NONE);
        await metadata.putManifest(repo('team/other'), manifest('o', 10), NONE, tag('v1'));
        const after = Date.now();

        const { tags, manifests } = await policies.repositoryInventory(repo('team/app'));
        expect(tags.map(({ name, digest: d, pulledAt }) => ({ name, digest: d, pulledAt }))).toEqual([
          { name: 'amd64', digest: digest('a'), pulledAt: null },
          { name: 'latest', digest: digest('i'), pulledAt: null },
          { name: 'v1', digest: digest('i'), pulledAt: null },
        ]);
        expect(
          manifests.map(({ digest: d, subject, children, pulledAt }) => ({
            digest: d,
            subject,
            children,
            pulledAt,
          })),
        ).toEqual([
          { digest: digest('a'), subject: null, children: [], pulledAt: null },
          { digest: digest('b'), subject: null, children: [], pulledAt: null },
          { digest: digest('i'), subject: null, children: [digest('a'), digest('b')], pulledAt: null },
          { digest: digest('s'), subject: digest('i'), children: [], pulledAt: null },
        ]);
        for (const t of [...tags, ...manifests]) {
          expect(t.pushedAt).toBeGreaterThanOrEqual(before);
          expect(t.pushedAt).toBeLessThanOrEqual(after);
        }
        expect(await policies.repositoryInventory(repo('team/none'))).toEqual({ tags: [], manifests: [] });
      });

      it('lists the tags pointing at a manifest', async () => {
        await metadata.putManifest(repo('team/app'), manifest('a', 10), NONE, tag('v2'));
        await metadata.putManifest(repo('team/app'), manifest('a', 10), NONE, tag('v10'));
        await metadata.putManifest(repo('team/app'), manifest('b', 10), NONE, tag('v3'));
        await metadata.putManifest(repo('team/other'), manifest('a', 10), NONE, tag('x'));
        expect(await policies.tagsOf(repo('team/app'), digest('a'))).toEqual(['v10', 'v2']);
        expect(await policies.tagsOf(repo('team/app'), digest('c'))).toEqual([]);
        expect(await policies.tagsOf(repo('nope'), digest('a'))).toEqual([]);
      });
    });
  });
}
