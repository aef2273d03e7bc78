// Quotas through the registry's own services: blob commits, mounts and manifests are checked against
// the namespace's deduplicated usage, shared blobs count once, and deleting content frees it.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatBytes, quotaExceededMessage } from '../../src/policies/quotas.js';
import { DeniedError } from '../../src/registry/errors.js';
import { createPolicyRegistry, repo, sha256 } from './support.js';

describe('quota messages', () => {
  it('formats sizes in decimal units, one decimal at most', () => {
    expect([0, 999, 1_000, 1_250, 1_200_000_000, 1e9, 5.5e12].map(formatBytes)).toEqual([
      '0 B',
      '999 B',
      '1 kB',
      '1.3 kB',
      '1.2 GB',
      '1 GB',
      '5.5 TB',
    ]);
  });

  it('says what the namespace would use of its quota, exactly when the units round alike', () => {
    expect(quotaExceededMessage('team', 1_200_000_000, 1_000_000_000)).toBe(
      'quota exceeded: namespace "team" would use 1.2 GB of its 1 GB quota',
    );
    expect(quotaExceededMessage('team', 1_000_000_001, 1_000_000_000)).toBe(
      'quota exceeded: namespace "team" would use 1000000001 bytes of its 1000000000 bytes quota',
    );
  });
});

describe('quotas', () => {
  it('refuses a blob that would take the namespace over its quota, with what docker prints', async () => {
    const r = createPolicyRegistry();
    await r.store.setQuota('team', 10_000, 1);
    await r.pushBlob('team/app', randomBytes(6_000));
    const big = randomBytes(5_000);
    const refused = r.pushBlob('team/app', big);
    await expect(refused).rejects.toBeInstanceOf(DeniedError);
    await expect(refused).rejects.toMatchObject({
      code: 'DENIED',
      message: 'quota exceeded: namespace "team" would use 11 kB of its 10 kB quota',
    });
    expect(await r.metadata.findRepositoryBlob(repo('team/app'), sha256(big))).toBeUndefined();
    // Exactly up to the quota is fine; other namespaces have their own.
    await r.pushBlob('team/app', randomBytes(4_000));
    await r.pushBlob('other/app', randomBytes(50_000));
    expect(await r.store.getUsage('team')).toEqual({
      namespace: 'team',
      limitBytes: 10_000,
      usedBytes: 10_000,
    });
  });

  it('counts a blob shared by repositories of the namespace once, so pushing or mounting it again passes', async () => {
    const r = createPolicyRegistry();
    const layer = randomBytes(8_000);
    await r.pushBlob('team/a', layer);
    await r.store.setQuota('team', 8_000, 1);
    // Full, yet content the namespace holds costs nothing: pushed again elsewhere, or mounted.
    await r.pushBlob('team/b', layer);
    expect(await r.registry.blobs.mount(repo('team/c'), sha256(layer), repo('team/a'))).toBe(true);
    expect(await r.registry.blobs.mount(repo('team/d'), sha256(layer))).toBe(true);
    expect((await r.store.getUsage('team')).usedBytes).toBe(8_000);
    // A mount into another namespace is its own content there.
    await r.store.setQuota('other', 7_999, 1);
    await expect(
      r.registry.blobs.mount(repo('other/x'), sha256(layer), repo('team/a')),
    ).rejects.toMatchObject({
      code: 'DENIED',
      message: 'quota exceeded: namespace "other" would use 8000 bytes of its 7999 bytes quota',
    });
  });

  it("counts manifests' own bytes and refuses a manifest over the quota", async () => {
    const r = createPolicyRegistry();
    const layer = randomBytes(1_000);
    await r.pushImage('team/app', 'v1', [layer]);
    const used = (await r.store.getUsage('team')).usedBytes;
    expect(used).toBeGreaterThan(1_000); // layer, config and the manifest
    await r.store.setQuota('team', used + 150, 1);
    // Another image of the same layer: a new config (~70 bytes) fits, its manifest (~400) does not.
    const refused = r.pushImage('team/app', 'v2', [layer]);
    await expect(refused).rejects.toMatchObject({
      code: 'DENIED',
      message: expect.stringMatching(/^quota exceeded: namespace "team" would use /),
    });
    expect(await r.tags('team/app')).toEqual(['v1']);
  });

  it('frees what deleted content took, once its last holder in the namespace goes', async () => {
    const r = createPolicyRegistry();
    const layer = randomBytes(5_000);
    const digest = await r.pushImage('team/a', 'v1', [layer]);
    await r.pushImage('team/b', 'v1', [layer]);
    const before = (await r.store.getUsage('team')).usedBytes;
    await r.registry.manifests.delete(repo('team/a'), { kind: 'digest', digest });
    await r.registry.blobs.delete(repo('team/a'), sha256(layer));
    // team/b still holds the layer; only the manifest of team/a went (team/b's differs by its config).
    const { size } = await r.registry.manifests.head(repo('team/b'), { kind: 'tag', tag: 'v1' as never });
    expect((await r.store.getUsage('team')).usedBytes).toBeLessThan(before);
    expect((await r.store.getUsage('team')).usedBytes).toBeGreaterThan(5_000 + size);
    await r.registry.blobs.delete(repo('team/b'), sha256(layer));
    expect((await r.store.getUsage('team')).usedBytes).toBeLessThan(5_000);
  });

  it('shows usage without a quota', async () => {
    const r = createPolicyRegistry();
    await r.pushBlob('team/app', randomBytes(1_234));
    expect(await r.store.getUsage('team')).toEqual({ namespace: 'team', limitBytes: null, usedBytes: 1_234 });
  });
});
