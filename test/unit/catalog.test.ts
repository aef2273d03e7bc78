// Domain tests of the catalog service (src/registry/catalog.ts) on the memory driver and an in-memory
// SQLite index: listings with access filters, tag orders, deletes refused by the push policy, and
// server-side copies that mount blobs and put an index's children first.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import type { StorageDriver } from '../../storage-drivers/types.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteCatalogStore } from '../../src/metadata/sqlite-catalog-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { READABLE_BATCH, type ImmutableTagPredicate } from '../../src/registry/catalog.js';
import { unguarded } from '../../src/registry/content-guard.js';
import { DeniedError } from '../../src/registry/errors.js';
import { blobKey } from '../../src/registry/layout.js';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import { noPushPolicy, type PushPolicy } from '../../src/registry/push-policy.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { createRegistry } from '../../src/registry/registry.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;

/** A push policy that records what it was asked and refuses what `refuse` names. */
function recordingPolicy(refuse: { tags?: string[]; blobs?: boolean } = {}) {
  const asked: string[] = [];
  /** Protected tags: refuse.tags, and more added once pushed. */
  const immutable = new Set(refuse.tags);
  const policy: PushPolicy = {
    async checkBlob(repository, digest) {
      asked.push(`blob ${repository} ${digest}`);
      if (refuse.blobs) throw new DeniedError('quota', 'quota exceeded');
    },
    async checkManifest(repository, manifest, t) {
      asked.push(`manifest ${repository} ${manifest.digest} ${t ?? ''}`);
      if (t && immutable.has(t)) throw new DeniedError('immutable', `tag ${t} is immutable`);
    },
    async checkTagRemoval(repository, t) {
      asked.push(`remove tag ${repository} ${t}`);
      if (immutable.has(t)) throw new DeniedError('immutable', `tag ${t} is immutable`);
    },
    async checkManifestRemoval(repository, digest) {
      asked.push(`remove manifest ${repository} ${digest}`);
    },
  };
  return { policy, asked, immutable };
}

function setup(
  options: { policy?: PushPolicy; deleteEnabled?: boolean; isImmutable?: ImmutableTagPredicate } = {},
) {
  const driver = createMemoryDriver();
  const db = openDatabase(':memory:');
  const metadata = createSqliteMetadataStore(db);
  const registry = createRegistry({
    driver,
    metadata,
    log: silent,
    limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestCacheBytes: 1024 * 1024 },
    deleteEnabled: options.deleteEnabled ?? true,
    blobRedirects: { enabled: false, expiresInSeconds: 60 },
    clock: () => 1_000,
    newId: () => 'id',
    guard: unguarded,
    policy: options.policy ?? noPushPolicy,
    catalogStore: createSqliteCatalogStore(db),
    isImmutable: options.isImmutable,
  });
  return { driver, metadata, registry };
}

/** Stores `data` as a blob of `repository` (as a finished upload would). */
async function blob(driver: StorageDriver, metadata: MetadataStore, repository: string, data: string) {
  const bytes = Buffer.from(data);
  const digest = sha256(bytes);
  await driver.write(blobKey(digest), bytes);
  await metadata.linkBlob(repo(repository), digest, bytes.length);
  return { mediaType: 'application/octet-stream', digest, size: bytes.length };
}

async function image(
  { driver, metadata, registry }: ReturnType<typeof setup>,
  repository: string,
  reference: string,
  layers: string[],
  created = '2024-01-02T03:04:05Z',
) {
  const configBytes = JSON.stringify({ created, architecture: 'amd64', os: 'linux' });
  const config = {
    ...(await blob(driver, metadata, repository, configBytes)),
    mediaType: 'application/vnd.oci.image.config.v1+json',
  };
  const layerDescriptors = [];
  for (const layer of layers) layerDescriptors.push(await blob(driver, metadata, repository, layer));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config,
      layers: layerDescriptors,
    }),
  );
  const ref = reference.includes(':')
    ? ({ kind: 'digest', digest: reference as Digest } as const)
    : ({ kind: 'tag', tag: tag(reference) } as const);
  const record = await registry.manifests.put(repo(repository), ref, MEDIA_TYPES.ociManifest, bytes);
  return { digest: record.digest, size: bytes.length, bytes, config, layers: layerDescriptors };
}

async function index(
  { registry }: ReturnType<typeof setup>,
  repository: string,
  reference: string,
  children: Array<{ digest: Digest; size: number; platform: string }>,
) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map(({ digest, size, platform }) => {
        const [os, architecture, variant] = platform.split('/');
        return {
          mediaType: MEDIA_TYPES.ociManifest,
          digest,
          size,
          platform: { os, architecture, ...(variant && { variant }) },
        };
      }),
    }),
  );
  const record = await registry.manifests.put(
    repo(repository),
    { kind: 'tag', tag: tag(reference) },
    MEDIA_TYPES.ociIndex,
    bytes,
  );
  return { digest: record.digest, size: bytes.length };
}

describe('catalog service', () => {
  describe('listing repositories', () => {
    it('pages by key with the total, and filters by access in batches with a total of readable ones', async () => {
      const s = setup();
      const count = READABLE_BATCH * 2 + 50;
      const db = s.metadata;
      for (let i = 0; i < count; i++) {
        await db.putManifest(
          repo(`r${String(i).padStart(4, '0')}`),
          {
            digest: sha256(Buffer.from(String(i))),
            mediaType: MEDIA_TYPES.ociManifest,
            size: 10,
            artifactType: null,
            subject: null,
            annotations: null,
          },
          { blobs: [], manifests: [] },
        );
      }
      const all = await s.registry.catalog.listRepositories({ sort: 'name', order: 'asc', limit: 400 });
      expect(all.total).toBe(count);
      expect(all.repositories).toHaveLength(400);
      expect(all.next).toEqual({ value: 0, name: 'r0399' });

      // Readable: every 7th, so a page of 100 takes more than one batch.
      const readable = (name: string) => Number(name.slice(1)) % 7 === 0;
      const seen: string[] = [];
      let after = undefined as undefined | { value: number; name: RepoName };
      let total = 0;
      for (let pages = 0; pages < 10; pages++) {
        const page = await s.registry.catalog.listRepositories({
          sort: 'name',
          order: 'desc',
          limit: 60,
          after,
          readable,
        });
        total = page.total;
        seen.push(...page.repositories.map((r) => r.name));
        if (!page.next) break;
        expect(page.repositories).toHaveLength(60);
        after = page.next;
      }
      const expected = Array.from({ length: count }, (_, i) => `r${String(i).padStart(4, '0')}`)
        .filter(readable)
        .reverse();
      expect(total).toBe(expected.length);
      expect(seen).toEqual(expected);

      const searched = await s.registry.catalog.listRepositories({
        search: '  R00 ',
        sort: 'size',
        order: 'asc',
        limit: 5,
        readable,
      });
      expect(searched.total).toBe(15);
      expect(searched.repositories.map((r) => r.name)).toEqual(['r0000', 'r0007', 'r0014', 'r0021', 'r0028']);
    });
  });

  describe('tags', () => {
    it('sorts tag names numeric-aware and by semver, paged by name, with the total and immutable flags', async () => {
      const s = setup({ isImmutable: async (_repository, t) => t.startsWith('v1') });
      const img = await image(s, 'r', 'v1', ['layer']);
      const names = [
        'v2',
        'v10',
        'v1.10.0',
        'v1.2.0',
        'v1.2.0-rc1',
        'latest',
        'v1.9',
        '3.19',
        'build-100',
        'build-99',
      ];
      for (const n of names) {
        await s.registry.manifests.put(
          repo('r'),
          { kind: 'tag', tag: tag(n) },
          MEDIA_TYPES.ociManifest,
          img.bytes,
        );
      }
      const list = async (sort: 'name' | 'semver', order: 'asc' | 'desc', limit = 100) => {
        const found: string[] = [];
        let after: { pushedAt: number; name: Tag } | undefined;
        let total = 0;
        for (let pages = 0; pages < 20; pages++) {
          const page = await s.registry.catalog.listTags(repo('r'), { sort, order, limit, after });
          total = page.total;
          found.push(...page.tags.map((t) => t.name));
          if (!page.next) break;
          after = page.next;
        }
        return { found, total };
      };
      const byName = [
        '3.19',
        'build-99',
        'build-100',
        'latest',
        'v1',
        'v1.2.0',
        'v1.2.0-rc1',
        'v1.9',
        'v1.10.0',
        'v2',
        'v10',
      ];
      expect(await list('name', 'asc')).toEqual({ found: byName, total: 11 });
      expect((await list('name', 'asc', 3)).found).toEqual(byName);
      expect((await list('name', 'desc', 4)).found).toEqual([...byName].reverse());
      const bySemver = [
        'v1',
        'v1.2.0-rc1',
        'v1.2.0',
        'v1.9',
        'v1.10.0',
        'v2',
        '3.19',
        'v10',
        'build-99',
        'build-100',
        'latest',
      ];
      expect((await list('semver', 'asc', 2)).found).toEqual(bySemver);
      expect((await list('semver', 'desc', 5)).found).toEqual([...bySemver].reverse());

      const page = await s.registry.catalog.listTags(repo('r'), {
        pattern: 'v1*',
        sort: 'name',
        order: 'asc',
        limit: 2,
      });
      expect(page.total).toBe(6);
      expect(page.tags.map((t) => [t.name, t.immutable])).toEqual([
        ['v1', true],
        ['v1.2.0', true],
      ]);
      // A page after a tag deleted since: it starts where the tag was.
      await s.registry.catalog.deleteTag(repo('r'), tag('v1.9'));
      const after = await s.registry.catalog.listTags(repo('r'), {
        sort: 'name',
        order: 'asc',
        limit: 2,
        after: { pushedAt: 0, name: tag('v1.9') },
      });
      expect(after.tags.map((t) => t.name)).toEqual(['v1.10.0', 'v2']);
      expect(after.tags[0]).toMatchObject({
        digest: img.digest,
        created: '2024-01-02T03:04:05Z',
        immutable: true,
      });
    });

    it('answers NAME_UNKNOWN for a repository without manifests and MANIFEST_UNKNOWN for a missing tag', async () => {
      const s = setup();
      await image(s, 'r', 'v1', ['layer']);
      await expect(s.registry.catalog.repository(repo('nope'))).rejects.toMatchObject({
        code: 'NAME_UNKNOWN',
      });
      await expect(
        s.registry.catalog.listTags(repo('nope'), { sort: 'pushed', order: 'desc', limit: 10 }),
      ).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
      await expect(s.registry.catalog.tag(repo('nope'), tag('v1'))).rejects.toMatchObject({
        code: 'NAME_UNKNOWN',
      });
      await expect(s.registry.catalog.tag(repo('r'), tag('v2'))).rejects.toMatchObject({
        code: 'MANIFEST_UNKNOWN',
      });
      await expect(s.registry.catalog.setDescription(repo('nope'), 'x')).rejects.toMatchObject({
        code: 'NAME_UNKNOWN',
      });
      expect(await s.registry.catalog.setDescription(repo('r'), '  ')).toMatchObject({ description: null });
      expect(await s.registry.catalog.setDescription(repo('r'), 'Base image')).toMatchObject({
        description: 'Base image',
      });
    });
  });

  describe('deletes', () => {
    it('refuses a repository delete as a whole when the policy protects one of its tags', async () => {
      const { policy, asked, immutable } = recordingPolicy();
      const s = setup({ policy });
      await image(s, 'r', 'v1', ['a']);
      await image(s, 'r', 'stable', ['b']);
      immutable.add('stable');
      await expect(s.registry.catalog.deleteRepository(repo('r'))).rejects.toMatchObject({
        code: 'DENIED',
        message: 'tag stable is immutable',
      });
      expect(asked).toContain('remove tag r stable');
      expect(await s.registry.catalog.repository(repo('r'))).toMatchObject({ tagCount: 2, manifestCount: 2 });
      await expect(s.registry.catalog.deleteTag(repo('r'), tag('stable'))).rejects.toMatchObject({
        code: 'DENIED',
      });
      await s.registry.catalog.deleteTag(repo('r'), tag('v1'));
      expect(await s.registry.catalog.repository(repo('r'))).toMatchObject({ tagCount: 1 });
    });

    it('deletes a repository, and refuses every delete when deletes are disabled', async () => {
      const s = setup();
      const img = await image(s, 'r', 'v1', ['a', 'b']);
      expect(await s.registry.catalog.deleteRepository(repo('r'))).toEqual({
        tags: 1,
        manifests: 1,
        blobs: 3,
      });
      await expect(s.registry.catalog.repository(repo('r'))).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
      await expect(s.registry.catalog.deleteRepository(repo('r'))).rejects.toMatchObject({
        code: 'NAME_UNKNOWN',
      });
      // The bytes stay for garbage collection.
      expect(await s.driver.stat(blobKey(img.layers[0]!.digest))).toBeDefined();

      const off = setup({ deleteEnabled: false });
      const kept = await image(off, 'r', 'v1', ['a']);
      for (const attempt of [
        off.registry.catalog.deleteRepository(repo('r')),
        off.registry.catalog.deleteTag(repo('r'), tag('v1')),
        off.registry.catalog.deleteManifest(repo('r'), kept.digest),
      ]) {
        await expect(attempt).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      }
    });

    it('deletes a manifest with its tags', async () => {
      const s = setup();
      const img = await image(s, 'r', 'v1', ['a']);
      await image(s, 'r', 'v2', ['b']);
      await s.registry.catalog.deleteManifest(repo('r'), img.digest);
      expect(await s.registry.catalog.repository(repo('r'))).toMatchObject({ tagCount: 1, manifestCount: 1 });
      await expect(s.registry.catalog.deleteManifest(repo('r'), img.digest)).rejects.toMatchObject({
        code: 'MANIFEST_UNKNOWN',
      });
    });
  });

  describe('copies', () => {
    it('retags within a repository by putting the same bytes under the new tag', async () => {
      const { policy, asked } = recordingPolicy();
      const s = setup({ policy });
      const img = await image(s, 'r', 'v1', ['a']);
      asked.length = 0;
      const copied = await s.registry.catalog.copyTag(
        { repository: repo('r'), reference: { kind: 'tag', tag: tag('v1') } },
        { repository: repo('r'), tag: tag('stable') },
      );
      expect(copied).toMatchObject({ name: 'stable', digest: img.digest, immutable: false });
      expect(asked).toEqual([`manifest r ${img.digest} stable`]);
      expect(await s.registry.catalog.repository(repo('r'))).toMatchObject({ tagCount: 2, manifestCount: 1 });
    });

    it('copies to another repository by mounting every blob, through the policy, without copying bytes', async () => {
      const { policy, asked } = recordingPolicy();
      const s = setup({ policy });
      const img = await image(s, 'src', 'v1', ['layer-1', 'layer-2']);
      const writes: string[] = [];
      const write = s.driver.write.bind(s.driver);
      s.driver.write = async (key, body, options) => {
        writes.push(key);
        return write(key, body, options);
      };
      asked.length = 0;
      const copied = await s.registry.catalog.copyTag(
        { repository: repo('src'), reference: { kind: 'tag', tag: tag('v1') } },
        { repository: repo('team/dst'), tag: tag('prod') },
      );
      expect(copied).toMatchObject({
        name: 'prod',
        digest: img.digest,
        size: img.size + img.config.size + 14,
      });
      expect(writes).toEqual([]);
      const blobs = [img.config, ...img.layers].map((b) => b.digest);
      expect(asked).toEqual([
        ...blobs.map((d) => `blob team/dst ${d}`),
        `manifest team/dst ${img.digest} prod`,
      ]);
      for (const digest of blobs) {
        expect(await s.metadata.findRepositoryBlob(repo('team/dst'), digest)).toBeDefined();
      }
      const manifest = await s.registry.manifests.head(repo('team/dst'), { kind: 'tag', tag: tag('prod') });
      expect(Buffer.compare(await s.registry.manifests.read(manifest), img.bytes)).toBe(0);
    });

    it('copies an index to another repository: children (and their blobs) before the index', async () => {
      const { policy, asked } = recordingPolicy();
      const s = setup({ policy });
      const amd = await image(s, 'src', 'amd64', ['amd-layer']);
      const arm = await image(s, 'src', 'arm64', ['arm-layer']);
      const ix = await index(s, 'src', 'multi', [
        { digest: amd.digest, size: amd.size, platform: 'linux/amd64' },
        { digest: arm.digest, size: arm.size, platform: 'linux/arm64/v8' },
      ]);
      asked.length = 0;
      const copied = await s.registry.catalog.copyTag(
        { repository: repo('src'), reference: { kind: 'digest', digest: ix.digest } },
        { repository: repo('dst'), tag: tag('multi') },
      );
      expect(copied).toMatchObject({
        digest: ix.digest,
        size: ix.size + amd.size + arm.size,
        platforms: ['linux/amd64', 'linux/arm64/v8'],
      });
      const manifests = asked.filter((a) => a.startsWith('manifest'));
      expect(manifests).toEqual([
        `manifest dst ${amd.digest} `,
        `manifest dst ${arm.digest} `,
        `manifest dst ${ix.digest} multi`,
      ]);
      expect(asked.indexOf(`blob dst ${amd.layers[0]!.digest}`)).toBeLessThan(
        asked.indexOf(`manifest dst ${amd.digest} `),
      );
      expect(await s.registry.catalog.repository(repo('dst'))).toMatchObject({
        manifestCount: 3,
        tagCount: 1,
      });
      // Copying again finds everything there: only the index is put again.
      asked.length = 0;
      await s.registry.catalog.copyTag(
        { repository: repo('src'), reference: { kind: 'tag', tag: tag('multi') } },
        { repository: repo('dst'), tag: tag('again') },
      );
      expect(asked).toEqual([`manifest dst ${ix.digest} again`]);
    });

    it('is refused onto an immutable tag, or when a quota refuses a mount', async () => {
      const s = setup({ policy: recordingPolicy({ tags: ['locked'] }).policy });
      await image(s, 'src', 'v1', ['a']);
      await expect(
        s.registry.catalog.copyTag(
          { repository: repo('src'), reference: { kind: 'tag', tag: tag('v1') } },
          { repository: repo('src'), tag: tag('locked') },
        ),
      ).rejects.toMatchObject({ code: 'DENIED', message: 'tag locked is immutable' });

      const quota = setup({ policy: recordingPolicy({ blobs: true }).policy });
      // The source's blobs are linked directly (no policy asked); their mount into dst is refused.
      await image(quota, 'src', 'v1', ['a']);
      await expect(
        quota.registry.catalog.copyTag(
          { repository: repo('src'), reference: { kind: 'tag', tag: tag('v1') } },
          { repository: repo('dst'), tag: tag('v1') },
        ),
      ).rejects.toMatchObject({ code: 'DENIED', message: 'quota exceeded' });
      await expect(quota.registry.catalog.repository(repo('dst'))).rejects.toMatchObject({
        code: 'NAME_UNKNOWN',
      });
    });

    it('answers MANIFEST_UNKNOWN for a source tag that does not exist', async () => {
      const s = setup();
      await image(s, 'src', 'v1', ['a']);
      await expect(
        s.registry.catalog.copyTag(
          { repository: repo('src'), reference: { kind: 'tag', tag: tag('nope') } },
          { repository: repo('dst'), tag: tag('v1') },
        ),
      ).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    });
  });
});
