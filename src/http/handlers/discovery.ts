import type { Context } from 'koa';
import type { Registry } from '../../registry/registry.js';
import type { Listing } from '../../registry/discovery.js';
import { authState } from '../access.js';
import { nextLink } from '../headers.js';
import { digestParam, page, queryValue, repoName } from '../params.js';

function setNextLink(ctx: Context, listing: Listing<string>, limit: number | undefined): void {
  if (listing.next !== undefined && limit !== undefined)
    ctx.set('Link', nextLink(ctx.path, limit, listing.next));
}

export function discoveryHandlers(registry: Registry) {
  return {
    /** GET /v2/<name>/tags/list?n=&last= (lexical order, Link header when truncated). */
    async tags(ctx: Context) {
      const repository = repoName(ctx);
      const requested = page(ctx);
      const listing = await registry.discovery.tags(repository, requested);
      setNextLink(ctx, listing, requested.limit);
      ctx.body = { name: repository, tags: listing.items };
    },

    /** GET /v2/_catalog?n=&last= */
    async catalog(ctx: Context) {
      const requested = page(ctx);
      const listing = await registry.discovery.catalog(requested, authState(ctx).readable);
      setNextLink(ctx, listing, requested.limit);
      ctx.body = { repositories: listing.items };
    },

    /** GET /v2/<name>/referrers/<digest>?artifactType= (OCI dist-spec v1.1 "Listing Referrers"). */
    async referrers(ctx: Context) {
      const artifactType = queryValue(ctx, 'artifactType');
      const index = await registry.discovery.referrers(repoName(ctx), digestParam(ctx), artifactType);
      if (artifactType !== undefined) ctx.set('OCI-Filters-Applied', 'artifactType');
      ctx.type = index.mediaType;
      ctx.body = JSON.stringify(index);
    },
  };
}
