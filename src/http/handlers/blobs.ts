import type { Context } from 'koa';
import { respondEmpty, respondStream } from '../respond.js';
import type { Registry } from '../../registry/registry.js';
import { ifNoneMatchHits, parseRangeHeader } from '../headers.js';
import { digestParam, repoName } from '../params.js';
import { abortSignalFor } from '../body.js';

function setBlobHeaders(ctx: Context, digest: string): void {
  ctx.set('Docker-Content-Digest', digest);
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('ETag', `"${digest}"`);
  // Content addressing makes a blob immutable; only found blobs may be cached.
  ctx.set('Cache-Control', 'max-age=31536000');
}

export function blobHandlers(registry: Registry) {
  return {
    /** GET/HEAD /v2/<name>/blobs/<digest>, with single byte ranges (206/416). */
    async get(ctx: Context) {
      const repository = repoName(ctx);
      const digest = digestParam(ctx);
      const revalidating = ifNoneMatchHits(ctx.get('If-None-Match'), digest);
      if (ctx.method === 'HEAD' || revalidating) {
        const { size } = await registry.blobs.stat(repository, digest);
        setBlobHeaders(ctx, digest);
        if (revalidating) {
          ctx.status = 304;
          return;
        }
        ctx.status = 200;
        ctx.type = 'application/octet-stream';
        ctx.length = size;
        return;
      }
      // One call finds and opens the blob (for a proxied name, possibly while it downloads).
      const requested = parseRangeHeader(ctx.get('Range') || undefined);
      const blob = await registry.blobs.open(repository, digest, requested, abortSignalFor(ctx.req));
      setBlobHeaders(ctx, digest);
      if ('redirect' in blob) {
        // Distribution answers 307 too: the client repeats the GET (and any Range) at the backend.
        ctx.remove('Cache-Control');
        ctx.status = 307;
        ctx.redirect(blob.redirect);
        return;
      }
      ctx.type = 'application/octet-stream';
      if (blob.range) {
        ctx.status = 206;
        ctx.set('Content-Range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`);
        ctx.length = blob.range.end - blob.range.start + 1;
      } else {
        ctx.status = 200;
        ctx.length = blob.size;
      }
      await respondStream(ctx, blob.stream);
    },

    /** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository. */
    async delete(ctx: Context) {
      await registry.blobs.delete(repoName(ctx), digestParam(ctx));
      respondEmpty(ctx, 202);
    },
  };
}
