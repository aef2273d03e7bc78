// Repository and tag management (the management API, `berth repo` and `berth tag`): listings with
// totals and keyset paging, details, descriptions, deletes and server-side copies. Changes go through
// the registry's own services (manifests.put and delete, blobs.mount), so deleteEnabled, the push
// policy (quotas, immutable tags) and the content guard apply to them as to /v2.
import type { BlobService } from './blobs.js';
import type {
  CatalogStore,
  RepositoryDeletion,
  RepositoryKey,
  RepositorySort,
  RepositorySummary,
  SortOrder,
  TagKey,
  TagQuery,
  TagSummary,
} from './catalog-store.js';
import type { RegistryDeps } from './deps.js';
import {
  ManifestBlobUnknownError,
  ManifestUnknownError,
  NameUnknownError,
  UnsupportedError,
} from './errors.js';
import { parseManifest } from './manifest-format.js';
import type { ManifestService } from './manifests.js';
import type { Digest, Reference, RepoName, Tag } from './references.js';

/** Whether a tag is protected (src/policies fills it; without policies nothing is). */
export type ImmutableTagPredicate = (repository: RepoName, tag: Tag) => boolean | Promise<boolean>;

export interface CatalogDeps {
  /** The catalog's index (src/metadata); without one every call answers UNSUPPORTED. */
  catalogStore?: CatalogStore;
  isImmutable?: ImmutableTagPredicate;
}

export interface RepositoryListQuery {
  search?: string;
  sort: RepositorySort;
  order: SortOrder;
  limit: number;
  after?: RepositoryKey;
  /** Only repositories this accepts (access control); undefined: every one. */
  readable?: (repository: RepoName) => boolean;
}

export interface RepositoryListing {
  repositories: RepositorySummary[];
  /** Every match (readable ones only, under access control), not just this page. */
  total: number;
  /** Where the next page starts, when there is one. */
  next?: RepositoryKey;
}

export type TagListQuery = TagQuery;

export interface TagView extends TagSummary {
  immutable: boolean;
}

export interface TagListing {
  tags: TagView[];
  total: number;
  next?: TagKey;
}

/** Rows read per step when a listing is filtered by access in memory. */
export const READABLE_BATCH = 500;

const sortValue = (sort: RepositorySort, row: RepositorySummary): number =>
  sort === 'pushed'
    ? row.lastPushAt
    : sort === 'pulled'
      ? row.lastPullAt
      : sort === 'size'
        ? row.size
        : sort === 'tags'
          ? row.tagCount
          : 0;

const keyOf = (sort: RepositorySort, row: RepositorySummary): RepositoryKey => ({
  value: sortValue(sort, row),
  name: row.name,
});

/** Repository names are lower case: so is a search. Blank: no search. */
const normalizedSearch = (search?: string) => {
  const text = search?.trim().toLowerCase();
  return text ? text : undefined;
};

export function createCatalogService(
  deps: RegistryDeps & CatalogDeps,
  services: { manifests: ManifestService; blobs: BlobService },
) {
  const { metadata, deleteEnabled, policy } = deps;
  const { manifests, blobs } = services;
  const isImmutable = deps.isImmutable ?? (() => false);

  function store(): CatalogStore {
    if (!deps.catalogStore) throw new UnsupportedError('this registry was built without a catalog store');
    return deps.catalogStore;
  }

  async function existing(name: RepoName): Promise<RepositorySummary> {
    const found = await store().findRepository(name);
    if (!found) throw new NameUnknownError(name);
    return found;
  }

  async function withImmutable(repository: RepoName, tags: TagSummary[]): Promise<TagView[]> {
    return Promise.all(
      tags.map(async (tag) => ({ ...tag, immutable: await isImmutable(repository, tag.name) })),
    );
  }

  /**
   * Under access control the filter cannot be put into SQL: the total counts the readable names among
   * every match (one query of names), and the page is read in batches from its key until it is full,
   * so a caller who may read few of many repositories makes the batches walk far.
   */
  async function listReadable(query: RepositoryListQuery & { readable: (r: RepoName) => boolean }) {
    const { search, sort, order, limit, readable } = query;
    const names = await store().listRepositoryNames(search);
    const total = names.filter(readable).length;
    const found: RepositorySummary[] = [];
    for (let after = query.after; ;) {
      const batch = await store().listRepositories({ search, sort, order, limit: READABLE_BATCH, after });
      for (const row of batch) {
        if (readable(row.name)) found.push(row);
        if (found.length > limit) break;
      }
      const last = batch.at(-1);
      if (found.length > limit || batch.length < READABLE_BATCH || !last) break;
      after = keyOf(sort, last);
    }
    return { found, total };
  }

  /** Children before the index and blobs mounted, from `source`, so that `bytes` can be put in `target`. */
  async function copyReferenced(source: RepoName, target: RepoName, mediaType: string, bytes: Buffer) {
    const parsed = parseManifest(mediaType, bytes);
    for (const child of parsed.manifests) {
      if (await metadata.findManifest(target, child.digest)) continue;
      const record = await manifests.head(source, { kind: 'digest', digest: child.digest });
      const childBytes = await manifests.read(record);
      await copyReferenced(source, target, record.mediaType, childBytes);
      await manifests.put(target, { kind: 'digest', digest: child.digest }, record.mediaType, childBytes);
    }
    for (const blob of parsed.blobs) {
      if (await metadata.findRepositoryBlob(target, blob.digest)) continue;
      if (!(await blobs.mount(target, blob.digest, source))) throw new ManifestBlobUnknownError(blob.digest);
    }
  }

  /**
   * `operation`'s result; its MANIFEST_UNKNOWN becomes NAME_UNKNOWN when the repository itself does not
   * exist, so a management client learns which of the two it got wrong (/v2 answers MANIFEST_UNKNOWN).
   */
  async function naming<T>(repository: RepoName, operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (err) {
      if (err instanceof ManifestUnknownError && !(await metadata.repositoryExists(repository))) {
        throw new NameUnknownError(repository);
      }
      throw err;
    }
  }

  async function tag(repository: RepoName, name: Tag): Promise<TagView> {
    const [found] = await store().findTags(repository, [name]);
    if (!found) {
      if (!(await metadata.repositoryExists(repository))) throw new NameUnknownError(repository);
      throw new ManifestUnknownError(name);
    }
    const [view] = await withImmutable(repository, [found]);
    return view as TagView;
  }

  return {
    /** Repositories holding manifests, a page at a time, with the number of all matches. */
    async listRepositories(query: RepositoryListQuery): Promise<RepositoryListing> {
      const search = normalizedSearch(query.search);
      const { sort, order, limit, after, readable } = query;
      const { found, total } = readable
        ? await listReadable({ ...query, search, readable })
        : {
            found: await store().listRepositories({ search, sort, order, limit: limit + 1, after }),
            total: await store().countRepositories(search),
          };
      const repositories = found.slice(0, limit);
      const last = repositories.at(-1);
      return { repositories, total, ...(found.length > limit && last && { next: keyOf(sort, last) }) };
    },

    /** NAME_UNKNOWN unless the repository holds a manifest. */
    repository: existing,

    /** Sets the description (blank clears it); answers the repository as it now is. */
    async setDescription(name: RepoName, description: string | null): Promise<RepositorySummary> {
      const text = description?.trim() ? description : null;
      if (!(await store().setDescription(name, text))) throw new NameUnknownError(name);
      return existing(name);
    },

    /**
     * Deletes every tag, manifest and blob link of the repository; the bytes go with garbage
     * collection. Refused as a whole when deletes are disabled or the policy protects any of its tags
     * (checked first, so nothing is deleted then; a tag pushed after the check goes with the rest).
     */
    async deleteRepository(name: RepoName): Promise<RepositoryDeletion> {
      if (!deleteEnabled) throw new UnsupportedError('deletes are disabled by configuration');
      await existing(name);
      for (const tagName of await store().listTagNames(name)) await policy.checkTagRemoval(name, tagName);
      const deleted = await store().deleteRepository(name);
      if (!deleted) throw new NameUnknownError(name);
      return deleted;
    },

    /** A page of the repository's tags, read by the store from the page's key in any sort. */
    async listTags(repository: RepoName, query: TagListQuery): Promise<TagListing> {
      if (!(await metadata.repositoryExists(repository))) throw new NameUnknownError(repository);
      const { pattern, sort, order, limit, after } = query;
      const found = await store().listTags(repository, { pattern, sort, order, limit: limit + 1, after });
      const total = await store().countTags(repository, pattern);
      const page = found.slice(0, limit);
      const last = page.at(-1);
      const next =
        found.length > limit && last
          ? { pushedAt: sort === 'pushed' ? last.pushedAt : 0, name: last.name }
          : undefined;
      return { tags: await withImmutable(repository, page), total, ...(next && { next }) };
    },

    /** One tag (MANIFEST_UNKNOWN; NAME_UNKNOWN for an unknown repository). */
    tag,

    /** Deletes a tag, not its manifest (as DELETE /v2/<name>/manifests/<tag>). */
    async deleteTag(repository: RepoName, name: Tag): Promise<void> {
      await naming(repository, manifests.delete(repository, { kind: 'tag', tag: name }));
    },

    /** Deletes a manifest with the tags pointing at it (as DELETE /v2/<name>/manifests/<digest>). */
    async deleteManifest(repository: RepoName, digest: Digest): Promise<void> {
      await naming(repository, manifests.delete(repository, { kind: 'digest', digest }));
    },

    /**
     * Points `to.tag` in `to.repository` at the manifest `from` names, server-side. Within one
     * repository the same bytes are put under the new tag; across repositories every blob is
     * mounted (never copied) from the source and an index's children are put before it. Each put and
     * mount is the registry's own, with its policy checks: an immutable target tag or a quota refuses
     * the copy (what was mounted or put before stays, as after an interrupted push).
     */
    async copyTag(
      from: { repository: RepoName; reference: Reference },
      to: { repository: RepoName; tag: Tag },
    ) {
      const record = await naming(from.repository, manifests.head(from.repository, from.reference));
      const bytes = await manifests.read(record);
      if (from.repository !== to.repository) {
        await copyReferenced(from.repository, to.repository, record.mediaType, bytes);
      }
      await manifests.put(to.repository, { kind: 'tag', tag: to.tag }, record.mediaType, bytes);
      return tag(to.repository, to.tag);
    },
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
