// The state of the repository and tag lists (search, sort, order) as it lives in the page's URL, so a
// list can be linked, reloaded and navigated back to; and the API query it becomes. Defaults are left
// out of URLs. The API's default order is ascending by name and descending otherwise (newest, largest
// first), and so is the UI's.

export type Order = 'asc' | 'desc';

export const REPOSITORY_SORTS = ['name', 'pushed', 'pulled', 'size', 'tags'] as const;
export type RepositorySort = (typeof REPOSITORY_SORTS)[number];
export const TAG_SORTS = ['pushed', 'name', 'semver'] as const;
export type TagSort = (typeof TAG_SORTS)[number];

export const SORT_LABELS: Record<RepositorySort | TagSort, string> = {
  name: 'Name',
  pushed: 'Last push',
  pulled: 'Last pull',
  size: 'Size',
  tags: 'Tags',
  semver: 'Version (semver)',
};

export interface RepositoryListState {
  q: string;
  sort: RepositorySort;
  order: Order;
}

export interface TagListState {
  pattern: string;
  sort: TagSort;
  order: Order;
}

export const defaultOrder = (sort: string): Order => (sort === 'name' ? 'asc' : 'desc');

const oneOf = <T extends string>(values: readonly T[], value: string | undefined, fallback: T): T =>
  values.includes(value as T) ? (value as T) : fallback;

const orderOf = (value: string | undefined, sort: string): Order =>
  value === 'asc' || value === 'desc' ? value : defaultOrder(sort);

type Params = Record<string, string | undefined>;

export function parseRepositoryListState(query: Params): RepositoryListState {
  const sort = oneOf(REPOSITORY_SORTS, query.sort, 'name');
  return { q: (query.q ?? '').slice(0, 255), sort, order: orderOf(query.order, sort) };
}

export function parseTagListState(query: Params): TagListState {
  const sort = oneOf(TAG_SORTS, query.sort, 'pushed');
  return { pattern: (query.pattern ?? '').slice(0, 128), sort, order: orderOf(query.order, sort) };
}

/** The page URL's query for a list state: only what differs from the defaults. */
export function listStateQuery(
  state: Partial<Record<'q' | 'pattern', string>> & { sort: string; order: Order },
  defaultSort: string,
): string {
  const params = new URLSearchParams();
  const text = state.q ?? state.pattern;
  if (text) params.set(state.q !== undefined ? 'q' : 'pattern', text);
  if (state.sort !== defaultSort) params.set('sort', state.sort);
  if (state.order !== defaultOrder(state.sort)) params.set('order', state.order);
  const query = params.toString();
  return query ? `?${query}` : '';
}

/** The API query of one page of repositories. */
export function repositoryListQuery(state: RepositoryListState, limit: number, cursor?: string | null) {
  return {
    q: state.q.trim() || undefined,
    sort: state.sort,
    order: state.order,
    limit,
    cursor: cursor ?? undefined,
  };
}

/**
 * The API query of one page of tags. A pattern without `*` is a search: it matches tags containing
 * it (`1.2` finds 1.2.0 and v1.2); with `*` it is the glob the API takes as is.
 */
export function tagListQuery(state: TagListState, limit: number, cursor?: string | null) {
  const text = state.pattern.trim();
  return {
    pattern: text === '' ? undefined : text.includes('*') ? text : `*${text}*`,
    sort: state.sort,
    order: state.order,
    limit,
    cursor: cursor ?? undefined,
  };
}

/** Tag patterns the API accepts: tag characters and `*`. */
export const isTagPattern = (text: string): boolean => /^[A-Za-z0-9_.*-]{0,128}$/.test(text.trim());
