// Retention runs through the registry's own services: a dry run reports exactly what a real run then
// deletes, immutable tags stay, a repository's policy wins over its namespace's, deletions are
// announced, and what changed since the plan (or is refused) is skipped and reported.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PolicyStore, RetentionPolicy } from '../../src/policies/policy-store.js';
import type { RepoName } from '../../src/registry/references.js';
import { createPolicyRegistry, repo } from './support.js';

const HOUR = 3_600_000;
const policy = (partial: Partial<RetentionPolicy>): RetentionPolicy => ({
  keepLatest: null,
  keepPatterns: [],
  untaggedAfter: null,
  ...partial,
});

describe('retention runs', () => {
  it('lists in a dry run exactly what the real run then deletes, immutable tags kept', async () => {
    const r = createPolicyRegistry();
    const digests: Record<string, string> = {};
    for (const tag of ['v1', 'v2', 'v3', 'v4', 'v5', 'release-1']) {
      digests[tag] = await r.pushImage('team/app', tag);
      r.advance(HOUR);
    }
    const untagged = await r.pushImage('team/app', undefined);
    r.advance(48 * HOUR);
    await r.store.setImmutableRules('team', [{ tags: 'v1', repositories: null }]);
    await r.store.setRetentionPolicy(
      { kind: 'namespace', name: 'team' },
      policy({ keepLatest: { count: 2, by: 'pushed' }, keepPatterns: ['release-*'], untaggedAfter: '1d' }),
      r.now(),
    );

    const dry = await r.retention.runNamespace('team', { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.repositories).toHaveLength(1);
    const [planned] = dry.repositories;
    // The 2 most recently pushed are release-1 and v5; v1 is immutable.
    expect(planned?.tags.map((t) => t.tag)).toEqual(['v2', 'v3', 'v4']);
    // Untagged and older than a day: the manifest pushed without a tag, and those whose tags go.
    const goneManifests = [untagged, digests.v2, digests.v3, digests.v4].sort();
    expect(planned?.manifests.map((m) => m.digest)).toEqual(goneManifests);
    expect(await r.tags('team/app')).toEqual(['release-1', 'v1', 'v2', 'v3', 'v4', 'v5']);
    expect(r.deleted).toEqual([]);

    const real = await r.retention.runNamespace('team', { dryRun: false });
    expect(real.dryRun).toBe(false);
    expect(real.repositories).toEqual(dry.repositories);
    expect(real.totals).toEqual({ tags: 3, manifests: 4, skipped: 0 });
    expect(await r.tags('team/app')).toEqual(['release-1', 'v1', 'v5']);
    expect(await r.metadata.findManifest(repo('team/app'), untagged)).toBeUndefined();
    expect(r.deleted).toEqual([
      { repository: 'team/app', tag: 'v2', digest: digests.v2 },
      { repository: 'team/app', tag: 'v3', digest: digests.v3 },
      { repository: 'team/app', tag: 'v4', digest: digests.v4 },
      ...goneManifests.map((digest) => ({ repository: 'team/app', digest })),
    ]);
    // Nothing left to do: a second run deletes nothing.
    expect((await r.retention.runNamespace('team', { dryRun: false })).totals).toEqual({
      tags: 0,
      manifests: 0,
      skipped: 0,
    });
  });

  it("applies a repository's own policy instead of its namespace's, and leaves other namespaces alone", async () => {
    const r = createPolicyRegistry();
    for (const name of ['team/a', 'team/b', 'other/c']) {
      for (const tag of ['1', '2', '3']) {
        await r.pushImage(name, tag);
        r.advance(HOUR);
      }
    }
    await r.store.setRetentionPolicy(
      { kind: 'namespace', name: 'team' },
      policy({ keepLatest: { count: 1, by: 'pushed' } }),
      1,
    );
    await r.store.setRetentionPolicy(
      { kind: 'repository', name: repo('team/b') },
      policy({ keepPatterns: ['2'] }),
      1,
    );
    await r.store.setRetentionPolicy(
      { kind: 'repository', name: repo('other/c') },
      policy({ keepPatterns: ['1'] }),
      1,
    );

    const report = await r.retention.runNamespace('team', { dryRun: false });
    expect(report.repositoriesExamined).toBe(2);
    expect(report.repositories.map((x) => [x.repository, x.policy, x.tags.map((t) => t.tag)])).toEqual([
      ['team/a', 'namespace', ['1', '2']],
      ['team/b', 'repository', ['1', '3']],
    ]);
    expect(await r.tags('other/c')).toEqual(['1', '2', '3']);

    const all = await r.retention.runAll({ dryRun: false });
    expect(all.repositories.map((x) => [x.repository, x.tags.map((t) => t.tag)])).toEqual([
      ['other/c', ['2', '3']],
    ]);
    expect(await r.tags('team/a')).toEqual(['3']);
    expect(await r.tags('team/b')).toEqual(['2']);
    expect(await r.tags('other/c')).toEqual(['1']);
  });

  it('keeps the children of a kept index and the signatures of a kept image', async () => {
    const r = createPolicyRegistry();
    const amd64 = await r.pushImage('team/app', undefined);
    const arm64 = await r.pushImage('team/app', undefined);
    const index = await r.pushIndex('team/app', 'v1', [amd64, arm64]);
    const { size } = await r.registry.manifests.head(repo('team/app'), { kind: 'digest', digest: index });
    const signature = await r.pushImage('team/app', undefined, [randomBytes(10)], {
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      subject: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: index, size },
    });
    const stray = await r.pushImage('team/app', undefined);
    r.advance(30 * 24 * HOUR);
    await r.store.setRetentionPolicy({ kind: 'namespace', name: 'team' }, policy({ untaggedAfter: '7d' }), 1);
    const report = await r.retention.runNamespace('team', { dryRun: false });
    expect(report.repositories[0]?.manifests.map((m) => m.digest)).toEqual([stray]);
    for (const kept of [amd64, arm64, index, signature]) {
      expect(await r.metadata.findManifest(repo('team/app'), kept)).toBeDefined();
    }
  });

  it('skips a tag pushed again since the plan, and reports deletions the registry refuses', async () => {
    const hook: { move?: () => Promise<unknown> } = {};
    const r = createPolicyRegistry({
      retentionStore: (store): PolicyStore => ({
        ...store,
        async repositoryInventory(repository: RepoName) {
          const inventory = await store.repositoryInventory(repository);
          await hook.move?.();
          return inventory;
        },
      }),
    });
    for (const tag of ['old', 'older', 'new']) await r.pushImage('team/app', tag);
    await r.store.setRetentionPolicy(
      { kind: 'namespace', name: 'team' },
      policy({ keepPatterns: ['new'] }),
      1,
    );
    hook.move = () => r.pushImage('team/app', 'old');
    const report = await r.retention.runNamespace('team', { dryRun: false });
    expect(report.repositories[0]?.tags.map((t) => t.tag)).toEqual(['older']);
    expect(report.repositories[0]?.skipped).toEqual([
      { tag: 'old', digest: expect.any(String), reason: 'the tag moved or went since the plan' },
    ]);
    expect(await r.tags('team/app')).toEqual(['new', 'old']);

    const disabled = createPolicyRegistry({ deleteEnabled: false });
    await disabled.pushImage('team/app', 'a');
    await disabled.pushImage('team/app', 'b');
    await disabled.store.setRetentionPolicy(
      { kind: 'namespace', name: 'team' },
      policy({ keepPatterns: ['b'] }),
      1,
    );
    const refused = await disabled.retention.runNamespace('team', { dryRun: false });
    expect(refused.totals).toEqual({ tags: 0, manifests: 0, skipped: 1 });
    expect(refused.repositories[0]?.skipped[0]?.reason).toBe(
      'the operation is unsupported: deletes are disabled by configuration',
    );
    expect(await disabled.tags('team/app')).toEqual(['a', 'b']);
  });

  it('refuses deleting a tag made immutable since the plan, through the registry', async () => {
    const hook: { protect?: () => Promise<unknown> } = {};
    const r = createPolicyRegistry({
      retentionStore: (store): PolicyStore => ({
        ...store,
        async repositoryInventory(repository: RepoName) {
          const inventory = await store.repositoryInventory(repository);
          await hook.protect?.();
          return inventory;
        },
      }),
    });
    await r.pushImage('team/app', 'v1');
    await r.store.setRetentionPolicy(
      { kind: 'namespace', name: 'team' },
      policy({ keepPatterns: ['none'] }),
      1,
    );
    hook.protect = () => r.store.setImmutableRules('team', [{ tags: 'v1', repositories: null }]);
    const report = await r.retention.runNamespace('team', { dryRun: false });
    expect(report.repositories[0]?.skipped).toEqual([
      {
        tag: 'v1',
        digest: expect.any(String),
        reason: 'tag team/app:v1 is immutable (rule "v1" of namespace "team"): it cannot be deleted',
      },
    ]);
    expect(await r.tags('team/app')).toEqual(['v1']);
  });
});
