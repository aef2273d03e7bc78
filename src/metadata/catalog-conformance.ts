// The behaviour every CatalogStore must show, whatever database is under it (the contract in
// src/registry/catalog-store.ts), driven through the MetadataStore that shares its database. A store's
// test file calls `describeCatalogStoreConformance('name', async (clock) => ({ ... }))`. Exported
// (like conformance.ts for metadata stores) so that another implementation runs the same suite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  CatalogStore,
  RepositoryKey,
  RepositorySort,
  RepositorySummary,
  SortOrder,
  TagKey,
  TagQuery,
  TagSummary,
} from '../registry/catalog-store.js';
import type { ManifestDetails, MetadataStore } from '../registry/metadata-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';

export interface CatalogStores {
  metadata: MetadataStore;
  catalog: CatalogStore;
}

export interface CatalogStoreUnderTest extends CatalogStores {
  /** Both stores again on the same database, as another process or replica would open them. */
  sibling(): Promise<CatalogStores>;
  cleanup?: () => Promise<void>;
}

/** Makes stores on an empty (migrated) database whose MetadataStore reads the time from `clock`. */
export type CatalogStoreFactory = (clock: () => number) => Promise<CatalogStoreUnderTest>;

const T0 = 1_700_000_000_000;
const digest = (c: string) => `sha256:${c.padStart(64, '0')}` as Digest;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;

interface PushOptions {
  tag?: string;
  size?: number;
  blobs?: Array<[string, number]>;
  children?: string[];
  subject?: string;
  details?: ManifestDetails;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export function describeCatalogStoreConformance(name: string, create: CatalogStoreFactory): void {
  describe(`catalog store conformance: ${name}`, () => {
    let subject: CatalogStoreUnderTest;
    let metadata: MetadataStore;
    let catalog: CatalogStore;
    let time = T0;
    beforeEach(async () => {
      time = T0;
      subject = await create(() => time);
      ({ metadata, catalog } = subject);
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    /** Links the blobs, then stores manifest `m` (its own digest) referencing them. */
    async function push(repository: string, m: string, options: PushOptions = {}, on = metadata) {
      for (const [b, size] of options.blobs ?? []) await on.linkBlob(repo(repository), digest(b), size);
      await on.putManifest(
        repo(repository),
        {
          digest: digest(m),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: options.size ?? 100,
          artifactType: options.artifactType ?? null,
          subject: options.subject ? digest(options.subject) : null,
          annotations: options.annotations ?? null,
          ...(options.details && { details: options.details }),
        },
        {
          blobs: (options.blobs ?? []).map(([b]) => digest(b)),
          manifests: (options.children ?? []).map(digest),
        },
        options.tag === undefined ? undefined : tag(options.tag),
      );
    }
    const summary = async (repository: string) => catalog.findRepository(repo(repository));
    const all = (sort: RepositorySort, order: SortOrder, search?: string) =>
      catalog.listRepositories({ sort, order, limit: 10_000, search });
    const names = (rows: Array<{ name: string }>) => rows.map((row) => row.name);

    describe('repository counters', () => {
      it('counts distinct linked blobs and manifest bytes as size, with tags and manifests', async () => {
        await push('team/app', 'a1', {
          tag: 'v1',
          size: 5,
          blobs: [
            ['b1', 10],
            ['b2', 20],
          ],
        });
        expect(await summary('team/app')).toEqual({
          name: 'team/app',
          size: 35,
          tagCount: 1,
          manifestCount: 1,
          createdAt: T0,
          lastPushAt: T0,
          lastPullAt: 0,
          pullCount: 0,
          description: null,
        });
        // A second image sharing a layer: the shared blob counts once.
        time = T0 + 1000;
        await push('team/app', 'a2', {
          tag: 'v2',
          size: 7,
          blobs: [
            ['b1', 10],
            ['b3', 40],
          ],
        });
        expect(await summary('team/app')).toMatchObject({
          size: 10 + 20 + 40 + 5 + 7,
          tagCount: 2,
          manifestCount: 2,
          createdAt: T0,
          lastPushAt: T0 + 1000,
        });
        // Another repository linking the same blob counts it too: sizes are per repository.
        await push('other', 'o1', { size: 1, blobs: [['b1', 10]] });
        expect(await summary('other')).toMatchObject({ size: 11, tagCount: 0, manifestCount: 1 });
        expect(await summary('team/app')).toMatchObject({ size: 82 });
      });

      it('follows tag moves, tag and manifest deletes (tags and references going with them) and unlinks', async () => {
        await push('r', 'm1', { tag: 'latest', size: 5, blobs: [['b1', 10]] });
        await push('r', 'm2', { size: 6, blobs: [['b2', 20]] });
        time = T0 + 500;
        // Moving a tag is a push; its count stays.
        await push('r', 'm2', { tag: 'latest', size: 6, blobs: [['b2', 20]] });
        expect(await summary('r')).toMatchObject({ tagCount: 1, manifestCount: 2, lastPushAt: T0 + 500 });
        await push('r', 'm2', { tag: 'stable', size: 6 });
        expect(await summary('r')).toMatchObject({ tagCount: 2, size: 41 });
        // Deleting m2 deletes both its tags with it.
        expect(await metadata.deleteManifest(repo('r'), digest('m2'))).toBe(true);
        expect(await summary('r')).toMatchObject({ tagCount: 0, manifestCount: 1, size: 35 });
        expect(await metadata.unlinkBlob(repo('r'), digest('b2'))).toBe(true);
        expect(await summary('r')).toMatchObject({ size: 15 });
        await push('r', 'm1', { tag: 'again', size: 5 });
        expect(await metadata.deleteTag(repo('r'), tag('again'))).toBe(true);
        expect(await summary('r')).toMatchObject({ tagCount: 0, manifestCount: 1, size: 15 });
        // Pushing the same manifest again changes no count.
        await push('r', 'm1', { size: 5, blobs: [['b1', 10]] });
        expect(await summary('r')).toMatchObject({ tagCount: 0, manifestCount: 1, size: 15 });
      });

      it('lists only repositories holding manifests, and one emptied then pushed again is new', async () => {
        await metadata.linkBlob(repo('blobs-only'), digest('b'), 10);
        await push('r', 'm1', { tag: 't' });
        expect(names(await all('name', 'asc'))).toEqual(['r']);
        expect(await summary('blobs-only')).toBeUndefined();
        expect(await catalog.countRepositories()).toBe(1);
        await metadata.deleteManifest(repo('r'), digest('m1'));
        expect(await summary('r')).toBeUndefined();
        expect(await all('size', 'desc')).toEqual([]);
        time = T0 + 9000;
        await push('r', 'm2');
        expect(await summary('r')).toMatchObject({ createdAt: T0 + 9000, manifestCount: 1, tagCount: 0 });
      });

      it('keeps counters right under concurrent pushes, moves and deletes from two connections', async () => {
        const second = await subject.sibling();
        const work: Array<Promise<unknown>> = [];
        for (let i = 0; i < 12; i++) {
          const on = i % 2 === 0 ? metadata : second.metadata;
          work.push(push('busy', `m${i}`, { tag: 'latest', size: 1, blobs: [[`b${i % 3}`, 100]] }, on));
          work.push(push('busy', `m${i}`, { tag: `t${i}`, size: 1 }, on));
        }
        await Promise.all(work);
        await Promise.all([
          metadata.deleteManifest(repo('busy'), digest('m0')),
          second.metadata.deleteTag(repo('busy'), tag('t1')),
          second.metadata.deleteManifest(repo('busy'), digest('m3')),
        ]);
        const tags = (await catalog.listTagNames(repo('busy'))).length;
        expect(await second.catalog.findRepository(repo('busy'))).toMatchObject({
          manifestCount: 10,
          tagCount: tags,
          size: 300 + 10,
        });
      });
    });

    describe('listing repositories', () => {
      /** Repositories with varied counters, several sharing each sort key. */
      async function seed() {
        const specs: Array<[string, number, number, number]> = [
          // name, manifest size, tags, push time offset
          ['alpha', 10, 1, 3],
          ['beta', 30, 2, 1],
          ['gamma', 10, 2, 3],
          ['delta/one', 20, 1, 2],
          ['delta/two', 30, 3, 1],
          ['epsilon', 10, 1, 2],
          ['zeta', 20, 2, 3],
        ];
        for (const [n, size, tags, offset] of specs) {
          time = T0 + offset;
          for (let t = 0; t < tags; t++) await push(n, `${n.length}${size}`, { tag: `t${t}`, size });
        }
        await catalog.recordPulls([
          { repository: repo('beta'), digest: digest(`4${30}`), count: 2, at: T0 + 50 },
          { repository: repo('zeta'), digest: digest(`4${20}`), count: 1, at: T0 + 50 },
          { repository: repo('alpha'), digest: digest(`5${10}`), count: 1, at: T0 + 10 },
        ]);
      }
      const keyValue: Record<RepositorySort, (r: RepositorySummary) => number | string> = {
        name: (r) => r.name,
        pushed: (r) => r.lastPushAt,
        pulled: (r) => r.lastPullAt,
        size: (r) => r.size,
        tags: (r) => r.tagCount,
      };
      /** The expected order: by key, then name, byte-wise; desc is asc reversed. */
      function expectedOrder(rows: RepositorySummary[], sort: RepositorySort, order: SortOrder) {
        const bytes = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
        const sorted = [...rows].sort(
          (a, b) => bytes(keyValue[sort](a), keyValue[sort](b)) || bytes(a.name, b.name),
        );
        return names(order === 'asc' ? sorted : sorted.reverse());
      }
      const keyOf = (sort: RepositorySort, row: RepositorySummary): RepositoryKey => ({
        value: sort === 'name' ? 0 : (keyValue[sort](row) as number),
        name: row.name,
      });

      for (const sort of ['name', 'pushed', 'pulled', 'size', 'tags'] as const) {
        for (const order of ['asc', 'desc'] as const) {
          it(`sorts by ${sort} ${order}, ties by name, and pages by key without gaps or repeats`, async () => {
            await seed();
            const everything = await all(sort, order);
            expect(everything).toHaveLength(7);
            expect(names(everything)).toEqual(expectedOrder(everything, sort, order));
            const paged: string[] = [];
            let after: RepositoryKey | undefined;
            for (let pages = 0; pages < 10; pages++) {
              const page = await catalog.listRepositories({ sort, order, limit: 2, after });
              paged.push(...names(page));
              const last = page.at(-1);
              if (page.length < 2 || !last) break;
              after = keyOf(sort, last);
            }
            expect(paged).toEqual(names(everything));
          });
        }
      }

      it('pages right while rows move: a page starts after the key, wherever the row went', async () => {
        await seed();
        const first = await catalog.listRepositories({ sort: 'size', order: 'asc', limit: 3 });
        expect(names(first)).toEqual(['alpha', 'epsilon', 'gamma']);
        // gamma grows past everything; the next page still starts after (10, gamma).
        await push('gamma', 'big', { size: 1000 });
        const next = await catalog.listRepositories({
          sort: 'size',
          order: 'asc',
          limit: 10,
          after: { value: 10, name: repo('gamma') },
        });
        expect(names(next)).toEqual(['delta/one', 'zeta', 'beta', 'delta/two', 'gamma']);
      });

      it('searches names by substring, counting and naming the matches', async () => {
        await seed();
        expect(names(await all('name', 'asc', 'delta'))).toEqual(['delta/one', 'delta/two']);
        expect(names(await all('tags', 'desc', 'eta'))).toEqual(['zeta', 'beta']);
        expect(names(await all('name', 'asc', 'a/o'))).toEqual(['delta/one']);
        expect(await all('name', 'asc', 'nothing')).toEqual([]);
        expect(await catalog.countRepositories('delta')).toBe(2);
        expect(await catalog.countRepositories()).toBe(7);
        expect(await catalog.countRepositories('')).toBe(7);
        expect([...(await catalog.listRepositoryNames('eta'))].sort()).toEqual(['beta', 'zeta']);
        expect(await catalog.listRepositoryNames()).toHaveLength(7);
        // LIKE and GLOB specials are plain characters in a search.
        expect(await all('name', 'asc', '%')).toEqual([]);
        expect(await all('name', 'asc', '_')).toEqual([]);
      });

      it('answers an empty page for limit 0 and after the last row', async () => {
        await seed();
        expect(await catalog.listRepositories({ sort: 'name', order: 'asc', limit: 0 })).toEqual([]);
        expect(
          await catalog.listRepositories({
            sort: 'name',
            order: 'asc',
            limit: 5,
            after: { value: 0, name: repo('zzz') },
          }),
        ).toEqual([]);
      });
    });

    describe('descriptions and deletes', () => {
      it('sets and clears a description, only of a repository that exists', async () => {
        await push('r', 'm1');
        expect(await catalog.setDescription(repo('r'), 'the app')).toBe(true);
        expect(await summary('r')).toMatchObject({ description: 'the app' });
        expect(await catalog.setDescription(repo('r'), null)).toBe(true);
        expect(await summary('r')).toMatchObject({ description: null });
        expect(await catalog.setDescription(repo('nope'), 'x')).toBe(false);
      });

      it('deletes tags, manifests, references and blob links of one repository, and forgets its counters', async () => {
        await push('r', 'm1', {
          tag: 'v1',
          size: 5,
          blobs: [
            ['b1', 10],
            ['b2', 20],
          ],
        });
        await push('r', 'm2', { tag: 'v2', size: 5, blobs: [['b1', 10]], children: [] });
        await push('r', 'sig', { size: 3, subject: 'm1' });
        await push('keep', 'k1', { tag: 'v1', size: 5, blobs: [['b1', 10]] });
        await catalog.setDescription(repo('r'), 'going');
        await catalog.recordPulls([{ repository: repo('r'), digest: digest('m1'), count: 3, at: T0 + 5 }]);

        expect(await catalog.deleteRepository(repo('r'))).toEqual({ tags: 2, manifests: 3, blobs: 2 });
        expect(await summary('r')).toBeUndefined();
        expect(await metadata.repositoryExists(repo('r'))).toBe(false);
        expect(await metadata.findRepositoryBlob(repo('r'), digest('b2'))).toBeUndefined();
        expect(await metadata.listReferrers(repo('r'), digest('m1'))).toEqual([]);
        // The blob rows stay for garbage collection; other repositories keep theirs.
        expect(await metadata.findBlob(digest('b2'))).toEqual({ size: 20 });
        expect(await summary('keep')).toMatchObject({ size: 15, tagCount: 1, manifestCount: 1 });
        expect(await catalog.deleteRepository(repo('r'))).toBeUndefined();
        expect(await catalog.deleteRepository(repo('never'))).toBeUndefined();

        // Pushed again, it starts afresh.
        time = T0 + 7000;
        await push('r', 'm3', { tag: 'v3', size: 4 });
        expect(await summary('r')).toEqual({
          name: 'r',
          size: 4,
          tagCount: 1,
          manifestCount: 1,
          createdAt: T0 + 7000,
          lastPushAt: T0 + 7000,
          lastPullAt: 0,
          pullCount: 0,
          description: null,
        });
      });
    });

    describe('tags', () => {
      const details: ManifestDetails = {
        totalSize: 1234,
        platforms: ['linux/amd64', 'linux/arm64/v8'],
        imageCreated: '2024-05-01T12:00:00Z',
      };

      it('finds tags with their manifest, total size, platforms, created time, annotations and referrers', async () => {
        await push('r', 'm1', {
          tag: 'v1',
          size: 50,
          details,
          annotations: { 'org.opencontainers.image.source': 'https://example.com' },
        });
        await push('r', 'plain', { tag: 'bare', size: 60 });
        await push('r', 'sig1', { size: 3, subject: 'm1', artifactType: 'application/vnd.dev.cosign' });
        await push('r', 'sbom', { size: 3, subject: 'm1', artifactType: 'application/spdx+json' });
        await push('other', 'osig', { size: 3, subject: 'm1' });
        const found = await catalog.findTags(repo('r'), [tag('v1'), tag('bare'), tag('missing')]);
        const byName = new Map(found.map((t) => [t.name, t]));
        expect(found).toHaveLength(2);
        expect(byName.get(tag('v1'))).toEqual({
          name: tag('v1'),
          digest: digest('m1'),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: null,
          size: 1234,
          platforms: ['linux/amd64', 'linux/arm64/v8'],
          created: '2024-05-01T12:00:00Z',
          pushedAt: T0,
          lastPulledAt: null,
          annotations: { 'org.opencontainers.image.source': 'https://example.com' },
          referrers: 2,
        } satisfies TagSummary);
        // Recorded without details: its own size, nothing else known.
        expect(byName.get(tag('bare'))).toMatchObject({
          size: 60,
          platforms: null,
          created: null,
          referrers: 0,
        });
        expect(await catalog.findTags(repo('r'), [])).toEqual([]);
        expect(await catalog.findTags(repo('nope'), [tag('v1')])).toEqual([]);
      });

      it('lists tags by push time, ties by name, paged by key, in both orders', async () => {
        const pushes: Array<[string, number]> = [
          ['b', 2],
          ['a', 2],
          ['c', 1],
          ['d', 3],
          ['e', 2],
        ];
        for (const [t, offset] of pushes) {
          time = T0 + offset;
          await push('r', 'm1', { tag: t });
        }
        const asc = ['c', 'a', 'b', 'e', 'd'];
        for (const order of ['asc', 'desc'] as const) {
          const expected = order === 'asc' ? asc : [...asc].reverse();
          const everything = await catalog.listTags(repo('r'), { sort: 'pushed', order, limit: 100 });
          expect(everything.map((t) => t.name)).toEqual(expected);
          const paged: string[] = [];
          let after: TagKey | undefined;
          for (let pages = 0; pages < 10; pages++) {
            const page = await catalog.listTags(repo('r'), { sort: 'pushed', order, limit: 2, after });
            paged.push(...page.map((t) => t.name));
            const last = page.at(-1);
            if (page.length < 2 || !last) break;
            after = { pushedAt: last.pushedAt, name: last.name };
          }
          expect(paged).toEqual(expected);
        }
        expect(await catalog.countTags(repo('r'))).toBe(5);
        expect(await catalog.listTags(repo('nope'), { sort: 'pushed', order: 'asc', limit: 10 })).toEqual([]);
        expect(await catalog.countTags(repo('nope'))).toBe(0);
      });

      /** Names whose orders differ by sort, and from the database's collation (case, `_` `-` `.`). */
      const SORTED_TAGS = {
        name: [
          '1.0.0-alpha',
          '3.19',
          'A_B',
          'V1',
          '_x',
          'a-b',
          'a_b',
          'build-99',
          'build-100',
          'latest',
          'v01',
          'v1',
          'v1.2.0',
          'v1.2.0-rc1',
          'v1.2.0-rc.2',
          'v1.9',
          'v1.10.0',
          'v2',
          'v10',
          'x-1',
          'x.1',
          'x_1',
        ],
        semver: [
          // Versions by precedence (1.2.0-rc.2 < 1.2.0-rc1: `rc` < `rc1`), then the rest by name.
          '1.0.0-alpha',
          'v1',
          'v1.2.0-rc.2',
          'v1.2.0-rc1',
          'v1.2.0',
          'v1.9',
          'v1.10.0',
          'v2',
          '3.19',
          'v10',
          'A_B',
          'V1',
          '_x',
          'a-b',
          'a_b',
          'build-99',
          'build-100',
          'latest',
          'v01',
          'x-1',
          'x.1',
          'x_1',
        ],
      };
      /** Pushes SORTED_TAGS in a scrambled order and at scrambled times, one tag moved since. */
      async function pushSortedTags() {
        const names = SORTED_TAGS.name;
        for (let i = 0; i < names.length; i++) {
          const name = names[(i * 7) % names.length] as string;
          time = T0 + ((i * 5) % 3);
          await push('r', `m${i % 3}`, { tag: name });
        }
        await push('r', 'm9', { tag: 'v1.9' });
        await push('other', 'm1', { tag: 'v1' });
      }
      /** Every page of a listing, `limit` at a time, from the key of the last tag of each. */
      async function pages(query: Omit<TagQuery, 'after'>): Promise<string[]> {
        const found: string[] = [];
        let after: TagKey | undefined;
        for (let n = 0; n < 100; n++) {
          const page = await catalog.listTags(repo('r'), { ...query, after });
          found.push(...page.map((t) => t.name));
          const last = page.at(-1);
          if (page.length < query.limit || !last) break;
          after = { pushedAt: last.pushedAt, name: last.name };
        }
        return found;
      }

      for (const sort of ['name', 'semver'] as const) {
        it(`lists tags by ${sort}, paged by key, in both orders`, async () => {
          await pushSortedTags();
          const asc = SORTED_TAGS[sort];
          for (const order of ['asc', 'desc'] as const) {
            const expected = order === 'asc' ? asc : [...asc].reverse();
            const everything = await catalog.listTags(repo('r'), { sort, order, limit: 100 });
            expect(everything.map((t) => t.name)).toEqual(expected);
            expect(everything.find((t) => t.name === 'v1.9')).toMatchObject({ digest: digest('m9') });
            for (const limit of [1, 3, 22]) expect(await pages({ sort, order, limit })).toEqual(expected);
          }
          expect(await catalog.listTags(repo('nope'), { sort, order: 'asc', limit: 10 })).toEqual([]);
        });

        it(`lists tags by ${sort} matching a pattern, and pages after a tag deleted since`, async () => {
          await pushSortedTags();
          const matching = SORTED_TAGS[sort].filter((t) => t.startsWith('v1'));
          for (const order of ['asc', 'desc'] as const) {
            const expected = order === 'asc' ? matching : [...matching].reverse();
            expect(await pages({ pattern: 'v1*', sort, order, limit: 2 })).toEqual(expected);
          }
          expect(await pages({ pattern: '*_*', sort, order: 'asc', limit: 2 })).toEqual([
            'A_B',
            '_x',
            'a_b',
            'x_1',
          ]);
          expect(await pages({ pattern: 'nothing*', sort, order: 'asc', limit: 2 })).toEqual([]);
          // The position is the name's, whether or not the tag is still there.
          const all = SORTED_TAGS[sort];
          const gone = all[10] as string;
          expect(await metadata.deleteTag(repo('r'), tag(gone))).toBe(true);
          const after = { pushedAt: 0, name: tag(gone) };
          const next = await catalog.listTags(repo('r'), { sort, order: 'asc', limit: 3, after });
          expect(next.map((t) => t.name)).toEqual(all.slice(11, 14));
          const previous = await catalog.listTags(repo('r'), { sort, order: 'desc', limit: 3, after });
          expect(previous.map((t) => t.name)).toEqual(all.slice(7, 10).reverse());
        });
      }

      it('filters tags by a glob where only * is special', async () => {
        for (const t of ['v1.0', 'v1.1', 'v10.0', 'v1.1-rc1', 'latest', 'a_b', 'axb', 'A_B']) {
          await push('r', 'm1', { tag: t });
        }
        const matching = async (pattern: string) =>
          [...(await catalog.listTagNames(repo('r'), pattern))].sort();
        expect(await matching('v1.*')).toEqual(['v1.0', 'v1.1', 'v1.1-rc1']);
        expect(await matching('*-rc*')).toEqual(['v1.1-rc1']);
        expect(await matching('*')).toHaveLength(8);
        expect(await matching('a_b')).toEqual(['a_b']);
        expect(await matching('latest')).toEqual(['latest']);
        expect(await matching('v1.')).toEqual([]);
        // GLOB's and LIKE's other specials match only themselves.
        for (const special of ['v1.?', 'v[1].0', 'v1%', 'a\\_b', '?*'])
          expect(await matching(special)).toEqual([]);
        expect(await catalog.countTags(repo('r'), 'v1*')).toBe(4);
        const page = await catalog.listTags(repo('r'), {
          pattern: '*.0',
          sort: 'pushed',
          order: 'asc',
          limit: 10,
        });
        expect(page.map((t) => t.name)).toEqual(['v1.0', 'v10.0']);
      });
    });

    describe('pulls', () => {
      it('adds pull batches to repositories, manifests and tags, keeping the latest time', async () => {
        await push('r', 'm1', { tag: 'v1' });
        await push('r', 'm2', { tag: 'v2' });
        await catalog.recordPulls([
          { repository: repo('r'), digest: digest('m1'), tag: tag('v1'), count: 3, at: T0 + 30 },
          { repository: repo('r'), digest: digest('m1'), count: 2, at: T0 + 40 },
          { repository: repo('r'), digest: digest('m2'), tag: tag('v2'), count: 1, at: T0 + 10 },
          { repository: repo('gone'), digest: digest('m1'), count: 5, at: T0 + 99 },
        ]);
        // An older batch recorded later (another replica) adds its count but moves no time back.
        await subject
          .sibling()
          .then((second) =>
            second.catalog.recordPulls([
              { repository: repo('r'), digest: digest('m1'), tag: tag('v1'), count: 1, at: T0 + 20 },
            ]),
          );
        expect(await summary('r')).toMatchObject({ pullCount: 7, lastPullAt: T0 + 40 });
        const tags = new Map(
          (await catalog.findTags(repo('r'), [tag('v1'), tag('v2')])).map((t) => [t.name, t]),
        );
        expect(tags.get(tag('v1'))?.lastPulledAt).toBe(T0 + 30);
        expect(tags.get(tag('v2'))?.lastPulledAt).toBe(T0 + 10);
        expect(await summary('gone')).toBeUndefined();
        await catalog.recordPulls([]);
        // Recording pulls is not a push.
        expect(await summary('r')).toMatchObject({ lastPushAt: T0 });
      });
    });
  });
}
