// `docker search <registry host>/<term>` (Docker's v1 search API, as moby's registry/search.go calls
// it): GET /v1/_ping, then GET /v1/search?q=<term>&n=<limit>[&page=<page>], with Basic credentials
// or a token for `registry:catalog:search`. Answered from the catalog (a substring of the name), with
// only the repositories the caller may pull; the response shape is Docker Hub's v1 one, which the
// docker CLI prints (NAME, DESCRIPTION, STARS, OFFICIAL).
import { z } from 'zod';
import { catalogSearchAccess } from '../../auth/scope.js';
import type { Registry } from '../../registry/registry.js';
import { authState } from '../access.js';
import { defineRoute, type RouteSpec } from '../route-spec.js';

const SEARCH = 'Docker search';
/** moby caps n at 100 (registry.go: "limit must be between 1 and 100"); its default is 25. */
const MAX_RESULTS = 100;

const SearchQuery = z.object({
  q: z.string().max(255).default('').describe('a substring of the repository name'),
  n: z.coerce.number().int().min(1).max(MAX_RESULTS).default(25).describe('results per page'),
  page: z.coerce.number().int().min(1).max(1000).default(1),
});
const SearchResults = z.object({
  query: z.string(),
  num_results: z.number().int().describe('every match the caller may read'),
  num_pages: z.number().int(),
  page: z.number().int(),
  page_size: z.number().int(),
  results: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      star_count: z.number().int(),
      is_official: z.boolean(),
      is_automated: z.boolean(),
    }),
  ),
});

export function searchRoutes(registry: Registry): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/_ping',
      summary: 'The v1 ping docker makes before searching',
      group: SEARCH,
      access: { open: true },
      responses: { 200: { description: 'a standalone registry' } },
      handler(ctx) {
        ctx.set('X-Docker-Registry-Standalone', 'true');
        ctx.body = { standalone: true };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/search',
      summary: 'Repositories whose name contains q, among those the caller may pull (docker search)',
      group: SEARCH,
      access: { scopes: () => [catalogSearchAccess] },
      query: SearchQuery,
      responses: { 200: { description: 'one page of results', body: SearchResults } },
      async handler(ctx, { query }) {
        // Pages before the one asked for are read and dropped: docker asks for the first only.
        const listing = await registry.catalog.listRepositories({
          search: query.q.toLowerCase(),
          sort: 'name',
          order: 'asc',
          limit: query.n * query.page,
          readable: authState(ctx).readable,
        });
        const page = listing.repositories.slice(query.n * (query.page - 1));
        ctx.body = {
          query: query.q,
          num_results: listing.total,
          num_pages: Math.ceil(listing.total / query.n),
          page: query.page,
          page_size: query.n,
          results: page.map((repository) => ({
            name: repository.name,
            description: repository.description ?? '',
            star_count: 0,
            is_official: false,
            is_automated: false,
          })),
        };
      },
    }),
  ];
}
