// Immutable tags through the registry's own services (push, retag, delete) on the memory driver and an
// in-memory SQLite index: what is refused, with which message, and what stays allowed.
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/policies/glob.js';
import { createImmutability, LISTING_RULES_TTL_MS } from '../../src/policies/immutable-tags.js';
import type { ImmutableTagRule } from '../../src/policies/policy-store.js';
import { DeniedError } from '../../src/registry/errors.js';
import type { Tag } from '../../src/registry/references.js';
import { createPolicyRegistry, repo, tagRef } from './support.js';

describe('glob patterns', () => {
  it('matches whole names, * standing for any run of characters, / included', () => {
    expect(['v1', 'v1.2.3', 'v', 'vnext'].every(compileGlob('v*'))).toBe(true);
    expect(['1.0', '1.2.3'].every(compileGlob('1.*'))).toBe(true);
    expect(['10.0', '1x0', 'x1.0'].some(compileGlob('1.*'))).toBe(false);
    expect(compileGlob('team/*')('team/a/b')).toBe(true);
    expect(compileGlob('team/*')('team')).toBe(false);
    expect(compileGlob('latest')('latest')).toBe(true);
    expect(compileGlob('latest')('latest2')).toBe(false);
    expect(compileGlob('a?c')('abc')).toBe(false);
    expect(compileGlob('*-rc')('1.0-rc')).toBe(true);
  });
});

describe('immutable tags', () => {
  it('allows the first push of a protected tag and the same manifest again, and refuses moving it', async () => {
    const r = createPolicyRegistry();
    await r.store.setImmutableRules('team', [{ tags: '1.*', repositories: null }]);
    const first = await r.pushImage('team/app', '1.0');
    // The same manifest again: nothing changes, so nothing is refused.
    const bytes = await r.registry.manifests.read(
      await r.registry.manifests.head(repo('team/app'), tagRef('1.0')),
    );
    await r.putManifest('team/app', '1.0', bytes);

    const refused = r.pushImage('team/app', '1.0');
    await expect(refused).rejects.toBeInstanceOf(DeniedError);
    await expect(refused).rejects.toMatchObject({
      code: 'DENIED',
      message: 'tag team/app:1.0 is immutable (rule "1.*" of namespace "team"): push a new tag instead',
    });
    expect((await r.registry.manifests.head(repo('team/app'), tagRef('1.0'))).digest).toBe(first);
    // Tags no rule names still move; other namespaces are not concerned.
    await r.pushImage('team/app', 'latest');
    await r.pushImage('team/app', 'latest');
    await r.pushImage('other/app', '1.0');
    await r.pushImage('other/app', '1.0');
  });

  it('refuses retagging (copying) another manifest onto a protected tag', async () => {
    const r = createPolicyRegistry();
    await r.store.setImmutableRules('team', [{ tags: 'v*', repositories: null }]);
    await r.pushImage('team/app', 'v1');
    const other = await r.pushImage('team/app', 'build-2');
    const bytes = await r.registry.manifests.read(
      await r.registry.manifests.head(repo('team/app'), tagRef('build-2')),
    );
    await expect(r.putManifest('team/app', 'v1', bytes)).rejects.toMatchObject({ code: 'DENIED' });
    // Onto a new protected tag: its first push.
    expect(await r.putManifest('team/app', 'v2', bytes)).toBe(other);
  });

  it('refuses deleting a protected tag and the manifest it points at', async () => {
    const r = createPolicyRegistry();
    await r.store.setImmutableRules('team', [{ tags: 'release-*', repositories: 'team/prod-*' }]);
    const digest = await r.pushImage('team/prod-api', 'release-1');
    await r.putManifest(
      'team/prod-api',
      'also',
      await r.registry.manifests.read(
        await r.registry.manifests.head(repo('team/prod-api'), tagRef('release-1')),
      ),
    );

    await expect(
      r.registry.manifests.delete(repo('team/prod-api'), tagRef('release-1')),
    ).rejects.toMatchObject({
      code: 'DENIED',
      message:
        'tag team/prod-api:release-1 is immutable (rule "release-*" for repositories "team/prod-*" of namespace "team"): it cannot be deleted',
    });
    await expect(
      r.registry.manifests.delete(repo('team/prod-api'), { kind: 'digest', digest }),
    ).rejects.toMatchObject({
      code: 'DENIED',
      message: `tag team/prod-api:release-1 is immutable (rule "release-*" for repositories "team/prod-*" of namespace "team"): manifest ${digest}, which it points at, cannot be deleted`,
    });
    // Another tag on it may go; the rule's repository pattern leaves other repositories alone.
    await r.registry.manifests.delete(repo('team/prod-api'), tagRef('also'));
    await r.pushImage('team/dev-api', 'release-1');
    await r.pushImage('team/dev-api', 'release-1');
    await r.registry.manifests.delete(repo('team/dev-api'), tagRef('release-1'));
    expect(await r.tags('team/prod-api')).toEqual(['release-1']);
  });

  it('applies rules set after the tag was pushed, and stops when they are removed', async () => {
    const r = createPolicyRegistry();
    await r.pushImage('team/app', 'v1');
    await r.store.setImmutableRules('team', [{ tags: 'v1', repositories: null }]);
    await expect(r.pushImage('team/app', 'v1')).rejects.toMatchObject({ code: 'DENIED' });
    await r.store.setImmutableRules('team', []);
    await r.pushImage('team/app', 'v1');
  });

  it('tells listings which tags are immutable', async () => {
    const r = createPolicyRegistry();
    await r.store.setImmutableRules('team', [
      { tags: 'v*', repositories: null },
      { tags: 'stable', repositories: 'team/app' },
    ]);
    const { immutability } = r.policies;
    expect(await immutability.isImmutable(repo('team/app'), 'v2' as Tag)).toBe(true);
    expect(await immutability.isImmutable(repo('team/app'), 'stable' as Tag)).toBe(true);
    expect(await immutability.isImmutable(repo('team/other'), 'stable' as Tag)).toBe(false);
    expect(await immutability.isImmutable(repo('other/app'), 'v2' as Tag)).toBe(false);
    const isImmutable = await immutability.predicateFor(repo('team/app'));
    expect(['v1', 'latest', 'stable', 'dev'].map((t) => isImmutable(t as Tag))).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });
});

describe('immutability for listings', () => {
  it("reads a namespace's rules once per second for listings, and afresh for every check", async () => {
    let now = 0;
    let reads = 0;
    let rules: ImmutableTagRule[] = [{ tags: 'v*', repositories: null }];
    const store = {
      listImmutableRules: async () => {
        reads += 1;
        return rules;
      },
      tagsOf: async () => [],
    };
    const immutability = createImmutability(store, () => now);
    for (const tag of ['v1', 'v2', 'latest']) await immutability.isImmutable(repo('team/app'), tag as Tag);
    expect(reads).toBe(1);
    rules = [];
    expect(await immutability.isImmutable(repo('team/app'), 'v1' as Tag)).toBe(true);
    await expect(immutability.checkTagRemoval(repo('team/app'), 'v1' as Tag)).resolves.toBeUndefined();
    now += LISTING_RULES_TTL_MS;
    expect(await immutability.isImmutable(repo('team/app'), 'v1' as Tag)).toBe(false);
  });
});
