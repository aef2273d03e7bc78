import type { Context } from 'koa';
import { respondEmpty } from '../respond.js';
import { ManifestUnknownError } from '../../registry/errors.js';
import { isIndexMediaType } from '../../registry/manifest-format.js';
import type { ManifestRecord } from '../../registry/metadata-store.js';
import type { Registry } from '../../registry/registry.js';
import { readCappedBody } from '../body.js';
import { acceptedMediaTypes, ifNoneMatchHits } from '../headers.js';
import { existingReference, reference, repoName } from '../params.js';

/**
 * A client that lists media types but none matching a stored index cannot use it (Distribution
 * answers MANIFEST_UNKNOWN too). Single manifests are served whatever the Accept header says.
 */
function assertAcceptable(ctx: Context, record: ManifestRecord): void {
  if (!isIndexMediaType(record.mediaType)) return;
  const accepted = acceptedMediaTypes(ctx.get('Accept'));
  if (accepted.length === 0 || accepted.includes(record.mediaType) || accepted.includes('*/*')) return;
  throw new ManifestUnknownError(
    record.digest,
    `stored as ${record.mediaType}, which the Accept header excludes`,
  );
}

function setManifestHeaders(ctx: Context, record: ManifestRecord): void {
  ctx.status = 200;
  ctx.type = record.mediaType;
  ctx.length = record.size;
  ctx.set('Docker-Content-Digest', record.digest);
  ctx.set('ETag', `"${record.digest}"`);
}

export function manifestHandlers(registry: Registry, manifestMaxBytes: number) {
  return {
    /** GET/HEAD /v2/<name>/manifests/<reference>: the exact stored bytes, with ETag support. */
    async get(ctx: Context) {
      const repository = repoName(ctx);
      const ref = existingReference(ctx);
      const record = await registry.manifests.head(repository, ref);
      assertAcceptable(ctx, record);
      setManifestHeaders(ctx, record);
      if (ifNoneMatchHits(ctx.get('If-None-Match'), record.digest)) {
        ctx.status = 304;
        return;
      }
      if (ctx.method !== 'GET') return;
      ctx.body = await registry.manifests.read(record);
      registry.manifests.pulled(repository, record.digest, ref);
    },

    /** PUT /v2/<name>/manifests/<reference>: 201 with Location, digest and OCI-Subject. */
    async put(ctx: Context) {
      const repository = repoName(ctx);
      const ref = reference(ctx);
      const bytes = await readCappedBody(ctx.req, manifestMaxBytes);
      const record = await registry.manifests.put(repository, ref, ctx.get('Content-Type'), bytes);
      respondEmpty(ctx, 201);
      ctx.set('Location', `/v2/${repository}/manifests/${record.digest}`);
      ctx.set('Docker-Content-Digest', record.digest);
      if (record.subject) ctx.set('OCI-Subject', record.subject);
    },

    /** DELETE by digest removes the manifest and its tags; by tag, only the tag. */
    async delete(ctx: Context) {
      await registry.manifests.delete(repoName(ctx), existingReference(ctx));
      respondEmpty(ctx, 202);
    },
  };
}
