// Listing latency of the management API: each request of a variant is sent alone on one keep-alive
// connection, `samples` times (fewer when a variant is slow, see ListingBudget), and p50/p99 are taken
// over them. Paths come from the OpenAPI document the server serves (/api/v1/openapi.json), so the
// benchmark follows the route table. A deep page is reached through the API's own cursor: a walk of
// pages of 1,000 to the middle of the listing, whose `next` the measured requests then send with
// limit=100. Every variant's first answer is checked (status, total, rows on the page).
import type { HttpResponse, RegistryClient } from '../lib/http.js';
import {
  BIG_REPOSITORY,
  READER_NAMESPACE,
  repositoryName,
  tagCounts,
  tagName,
  type DatasetSize,
} from './dataset.js';

/** The management API's listing paths, as the OpenAPI document declares them. */
export interface ApiPaths {
  repositories: string;
  /** The tag list of a repository. */
  tags(repository: string): string;
  /** A repository's detail. */
  repository(repository: string): string;
}

interface OpenApiParameter {
  name: string;
  in: string;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { parameters?: OpenApiParameter[] }>>;
}

/** Finds the GET operations by their parameters: the repository list, tag list and repository detail. */
export async function discoverPaths(client: RegistryClient): Promise<ApiPaths> {
  const res = await client.request('GET', '/api/v1/openapi.json', { expect: [200] });
  const doc = JSON.parse(res.body.toString('utf8')) as OpenApiDocument;
  const gets = Object.entries(doc.paths).flatMap(([path, operations]) => {
    const get = operations.get;
    if (!get || !path.startsWith('/api/v1/repositories')) return [];
    const params = get.parameters ?? [];
    const named = (where: string) => params.filter((p) => p.in === where).map((p) => p.name);
    return [{ path, pathParams: named('path'), query: named('query') }];
  });
  const find = (what: string, test: (op: (typeof gets)[number]) => boolean): string => {
    const found = gets.filter(test);
    if (found.length !== 1) {
      throw new Error(
        `/api/v1/openapi.json: expected one ${what}, found ${found.map((op) => op.path).join(', ') || 'none'}`,
      );
    }
    return found[0]!.path;
  };
  const onlyName = (op: (typeof gets)[number]) => op.pathParams.length === 1 && op.pathParams[0] === 'name';
  const repositories = find(
    'repository list (GET with q and sort)',
    (op) => op.pathParams.length === 0 && op.query.includes('q') && op.query.includes('sort'),
  );
  const tags = find(
    'tag list (GET /…{name}… with pattern and sort)',
    (op) => onlyName(op) && op.query.includes('pattern') && op.query.includes('sort'),
  );
  const detail = find(
    'repository detail (GET …/{name})',
    (op) => onlyName(op) && op.query.length === 0 && op.path.endsWith('{name}'),
  );
  const fill = (template: string) => (repository: string) => template.replace('{name}', repository);
  return { repositories, tags: fill(tags), repository: fill(detail) };
}

export interface ListingVariant {
  /** Row key, unique in the run. */
  key: string;
  label: string;
  path: string;
  query: Record<string, string>;
  /** 'repositories' or 'tags': the array of the answer. */
  items: 'repositories' | 'tags';
  /** Rows every match makes: the answer's `total`. */
  total: number;
  /** Rows skipped before the page: 0 for the first page, else reached through a cursor. */
  offset: number;
}

export interface ListingBudget {
  /** Requests per variant and round. */
  samples: number;
  /** Fewer samples (but at least minSamples) when a variant takes longer than this, in ms. */
  maxMs: number;
  minSamples: number;
}

export interface Latency {
  p50: number;
  p99: number;
  samples: number;
}

const PAGE = 100;
const WALK_PAGE = 1000;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function withQuery(path: string, query: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search === '' ? path : `${path}?${search}`;
}

interface ListingAnswer {
  total: number;
  next: string | null;
  repositories?: unknown[];
  tags?: unknown[];
}

function parseAnswer(res: HttpResponse): ListingAnswer {
  return JSON.parse(res.body.toString('utf8')) as ListingAnswer;
}

/** The cursor that starts the page at `variant.offset`, by walking pages of up to 1,000 rows. */
async function cursorAt(client: RegistryClient, variant: ListingVariant): Promise<string> {
  let cursor: string | undefined;
  for (let seen = 0; seen < variant.offset;) {
    const limit = Math.min(WALK_PAGE, variant.offset - seen);
    const query = { ...variant.query, limit: String(limit), ...(cursor && { cursor }) };
    const answer = parseAnswer(
      await client.request('GET', withQuery(variant.path, query), { expect: [200] }),
    );
    const rows = answer[variant.items]?.length ?? 0;
    if (rows !== limit || !answer.next) {
      throw new Error(
        `${variant.label}: walking to row ${variant.offset}, a page ended after ${seen + rows}`,
      );
    }
    seen += rows;
    cursor = answer.next;
  }
  if (cursor === undefined) throw new Error(`${variant.label}: no cursor for offset ${variant.offset}`);
  return cursor;
}

export interface PreparedVariant extends ListingVariant {
  url: string;
}

/** Resolves each deep variant's cursor once (before the rounds: cursors stay valid). */
export async function prepareVariants(
  client: RegistryClient,
  variants: ListingVariant[],
): Promise<PreparedVariant[]> {
  const prepared: PreparedVariant[] = [];
  for (const variant of variants) {
    const query: Record<string, string> = { ...variant.query, limit: String(PAGE) };
    if (variant.offset > 0) query.cursor = await cursorAt(client, variant);
    prepared.push({ ...variant, url: withQuery(variant.path, query) });
  }
  return prepared;
}

function check(variant: PreparedVariant, answer: ListingAnswer): void {
  const rows = answer[variant.items]?.length;
  const want = Math.max(0, Math.min(PAGE, variant.total - variant.offset));
  if (answer.total !== variant.total || rows !== want) {
    throw new Error(
      `${variant.label}: GET ${variant.url} answered total ${answer.total} with ${rows} rows; ` +
        `want total ${variant.total} with ${want} rows`,
    );
  }
}

/** p50 and p99 (ms) of one variant: sequential requests on one connection. */
export async function measureVariant(
  client: RegistryClient,
  variant: PreparedVariant,
  budget: ListingBudget,
): Promise<Latency> {
  const times: number[] = [];
  const began = performance.now();
  for (let i = 0; i < budget.samples; i++) {
    if (i >= budget.minSamples && performance.now() - began > budget.maxMs) break;
    const started = performance.now();
    const res = await client.request('GET', variant.url, { expect: [200] });
    times.push(performance.now() - started);
    if (i === 0) check(variant, parseAnswer(res));
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), samples: times.length };
}

const count = (size: DatasetSize, test: (name: string) => boolean): number => {
  let n = 0;
  for (let i = 0; i < size.repositories; i++) if (test(repositoryName(i))) n++;
  return n;
};

const REPOSITORY_SORTS = ['name', 'pushed', 'pulled', 'size', 'tags'] as const;
const TAG_SORTS = ['pushed', 'name', 'semver'] as const;

/** A search matching 10 repositories (of a run's `app-NNNNN` names). */
function rareSearch(size: DatasetSize): string {
  return `app-${String(Math.floor(size.repositories / 20)).padStart(4, '0')}`;
}

/** Auth none: every sort both ways, first and middle page; searches; the big repository's tags. */
export function openVariants(paths: ApiPaths, size: DatasetSize): ListingVariant[] {
  const variants: ListingVariant[] = [];
  const all = size.repositories;
  const middle = (total: number) => Math.floor(total / 2 / WALK_PAGE) * WALK_PAGE || Math.floor(total / 2);
  for (const sort of REPOSITORY_SORTS) {
    for (const order of ['asc', 'desc'] as const) {
      for (const offset of [0, middle(all)]) {
        variants.push({
          key: `repos.${sort}.${order}.${offset === 0 ? 'first' : 'deep'}`,
          label: `repositories sort=${sort} order=${order}, ${offset === 0 ? 'first page' : `page at row ${offset.toLocaleString('en-US')}`}`,
          path: paths.repositories,
          query: { sort, order },
          items: 'repositories',
          total: all,
          offset,
        });
      }
    }
  }
  const namespace = `${READER_NAMESPACE}/`;
  const rare = rareSearch(size);
  const searches: [string, string, string, number][] = [
    ['ns.name', namespace, 'name', count(size, (n) => n.includes(namespace))],
    ['ns.pushed', namespace, 'pushed', count(size, (n) => n.includes(namespace))],
    ['rare.name', rare, 'name', count(size, (n) => n.includes(rare))],
    ['none.name', 'no-such-name', 'name', 0],
  ];
  for (const [key, q, sort, total] of searches) {
    variants.push({
      key: `search.${key}`,
      label: `repositories q=${q} sort=${sort} (${total.toLocaleString('en-US')} matches), first page`,
      path: paths.repositories,
      query: { q, sort },
      items: 'repositories',
      total,
      offset: 0,
    });
  }
  const big = size.bigRepoTags;
  for (const sort of TAG_SORTS) {
    for (const offset of [0, middle(big)]) {
      variants.push({
        key: `tags.${sort}.${offset === 0 ? 'first' : 'deep'}`,
        label: `tags of a repository with ${big.toLocaleString('en-US')} tags, sort=${sort}, ${offset === 0 ? 'first page' : `page at row ${offset.toLocaleString('en-US')}`}`,
        path: paths.tags(BIG_REPOSITORY),
        query: { sort },
        items: 'tags',
        total: big,
        offset,
      });
    }
  }
  const bigNames = Array.from({ length: big }, (_, j) => tagName(0, j));
  variants.push({
    key: 'tags.pattern.semver',
    label: `tags of the same repository, pattern=v* sort=semver (${bigNames.filter((t) => t.startsWith('v')).length.toLocaleString('en-US')} matches), first page`,
    path: paths.tags(BIG_REPOSITORY),
    query: { sort: 'semver', pattern: 'v*' },
    items: 'tags',
    total: bigNames.filter((t) => t.startsWith('v')).length,
    offset: 0,
  });
  const counts = tagCounts(size);
  variants.push({
    key: 'tags.small.pushed',
    label: `tags of a repository with ${counts[2]} tags, sort=pushed`,
    path: paths.tags(repositoryName(2)),
    query: { sort: 'pushed' },
    items: 'tags',
    total: counts[2]!,
    offset: 0,
  });
  return variants;
}

/**
 * Token mode: a reader of one namespace (1% of the repositories: the listing is filtered by access in
 * memory) and the administrator (who may read everything, through the same filtered path).
 */
export function tokenVariants(
  paths: ApiPaths,
  size: DatasetSize,
): { reader: ListingVariant[]; admin: ListingVariant[] } {
  const namespace = `${READER_NAMESPACE}/`;
  const readable = count(size, (n) => n.startsWith(namespace));
  const rare = 'app-0';
  const reader: ListingVariant[] = [
    ['name', 'asc', 0],
    ['name', 'asc', Math.min(PAGE, Math.floor(readable / 2))],
    ['pushed', 'desc', 0],
    ['size', 'desc', 0],
    ['tags', 'desc', 0],
  ].map(([sort, order, offset]) => ({
    key: `reader.${sort}.${order}.${offset === 0 ? 'first' : 'second'}`,
    label: `reader of 1%: repositories sort=${sort} order=${order}, ${offset === 0 ? 'first page' : 'next page (cursor)'}`,
    path: paths.repositories,
    query: { sort: String(sort), order: String(order) },
    items: 'repositories' as const,
    total: readable,
    offset: Number(offset),
  }));
  const searched = count(size, (n) => n.startsWith(namespace) && n.includes(rare));
  reader.push({
    key: 'reader.search',
    label: `reader of 1%: repositories q=${rare} (${searched.toLocaleString('en-US')} readable matches), first page`,
    path: paths.repositories,
    query: { q: rare },
    items: 'repositories',
    total: searched,
    offset: 0,
  });
  const readerRepository = repositoryName(42);
  reader.push({
    key: 'reader.tags',
    label: `reader of 1%: tags of ${readerRepository}, sort=pushed`,
    path: paths.tags(readerRepository),
    query: { sort: 'pushed' },
    items: 'tags',
    total: tagCounts(size)[42]!,
    offset: 0,
  });
  const all = size.repositories;
  const admin: ListingVariant[] = [
    ['name', 'asc', 0],
    ['pushed', 'desc', 0],
    ['name', 'asc', Math.floor(all / 2 / WALK_PAGE) * WALK_PAGE || Math.floor(all / 2)],
  ].map(([sort, order, offset]) => ({
    key: `admin.${sort}.${order}.${offset === 0 ? 'first' : 'deep'}`,
    label: `administrator: repositories sort=${sort} order=${order}, ${offset === 0 ? 'first page' : `page at row ${Number(offset).toLocaleString('en-US')}`}`,
    path: paths.repositories,
    query: { sort: String(sort), order: String(order) },
    items: 'repositories' as const,
    total: all,
    offset: Number(offset),
  }));
  return { reader, admin };
}
