// Content discovery (OCI dist-spec "Content discovery"): tag lists, the catalog and referrers,
// all answered from the metadata index.
import type { RegistryDeps } from './deps.js';
import { NameUnknownError } from './errors.js';
import { MEDIA_TYPES } from './manifest-format.js';
import type { Page } from './metadata-store.js';
import type { Digest, RepoName, Tag } from './references.js';

export interface Listing<T> {
  items: T[];
  /** The last item, when more may follow (drives the Link header). */
  next?: string;
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MEDIA_TYPES.ociIndex;
  manifests: Array<{
    mediaType: string;
    digest: Digest;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
}

async function paginate<T extends string>(
  page: Page,
  fetch: (page: Page) => Promise<T[]>,
): Promise<Listing<T>> {
  if (page.limit === 0) return { items: [] };
  // One extra row tells whether another page exists without a COUNT.
  const rows = await fetch(page.limit === undefined ? page : { ...page, limit: page.limit + 1 });
  if (page.limit === undefined || rows.length <= page.limit) return { items: rows };
  const items = rows.slice(0, page.limit);
  return { items, next: items.at(-1) };
}

/** Rows fetched per step when filtering the catalog. */
const CATALOG_BATCH = 1000;

export function createDiscoveryService({ metadata }: RegistryDeps) {
  /** Reads batches until `page.limit` visible names are found or the repositories run out. */
  async function filteredRepositories(
    page: Page,
    visible: (repository: RepoName) => boolean,
  ): Promise<RepoName[]> {
    const found: RepoName[] = [];
    let last = page.last;
    for (;;) {
      const batch = await metadata.listRepositories({ last, limit: CATALOG_BATCH });
      for (const name of batch) {
        if (!visible(name)) continue;
        found.push(name);
        if (page.limit !== undefined && found.length === page.limit) return found;
      }
      if (batch.length < CATALOG_BATCH) return found;
      last = batch.at(-1);
    }
  }

  return {
    async tags(repository: RepoName, page: Page): Promise<Listing<Tag>> {
      if (!(await metadata.repositoryExists(repository))) throw new NameUnknownError(repository);
      return paginate(page, (p) => metadata.listTags(repository, p));
    },

    /** Repositories in lexical order; with `visible`, only those it accepts (pages stay full). */
    async catalog(page: Page, visible?: (repository: RepoName) => boolean): Promise<Listing<RepoName>> {
      if (!visible) return paginate(page, (p) => metadata.listRepositories(p));
      return paginate(page, (p) => filteredRepositories(p, visible));
    },

    /** Never fails for an unknown subject: the answer is then an empty index. */
    async referrers(repository: RepoName, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
      const referrers = await metadata.listReferrers(repository, subject, artifactType);
      const manifests = referrers.map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      }));
      return { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests };
    },
  };
}

export type DiscoveryService = ReturnType<typeof createDiscoveryService>;
