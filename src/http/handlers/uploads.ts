import type { Context } from 'koa';
import { respondEmpty } from '../respond.js';
import type { RepoName } from '../../registry/references.js';
import { parseDigest, parseRepoName, type Digest } from '../../registry/references.js';
import type { Registry } from '../../registry/registry.js';
import type { UploadRecord } from '../../registry/metadata-store.js';
import { abortSignalFor, hasBody } from '../body.js';
import { parseContentRange, uploadRange } from '../headers.js';
import { queryValue, repoName, requiredDigestQuery, uploadId } from '../params.js';
import { authState } from '../access.js';

function respondUploadInProgress(ctx: Context, upload: UploadRecord, status: 202 | 204): void {
  respondEmpty(ctx, status);
  ctx.set('Location', `/v2/${upload.repository}/blobs/uploads/${upload.id}`);
  ctx.set('Docker-Upload-UUID', upload.id);
  ctx.set('Range', uploadRange(upload.size));
}

function respondBlobCreated(ctx: Context, repository: RepoName, digest: Digest): void {
  respondEmpty(ctx, 201);
  ctx.set('Location', `/v2/${repository}/blobs/${digest}`);
  ctx.set('Docker-Content-Digest', digest);
}

export function uploadHandlers(registry: Registry) {
  return {
    /**
     * POST /v2/<name>/blobs/uploads/: `?digest=` is a monolithic upload, `?mount=&from=` a
     * cross-repository mount (202 with a new session when it cannot mount), else a new session.
     */
    async start(ctx: Context) {
      const repository = repoName(ctx);
      const mount = queryValue(ctx, 'mount');
      if (mount !== undefined) {
        const digest = parseDigest(mount);
        const from = queryValue(ctx, 'from');
        // Without `from`, with access control on, only from a repository the caller may pull.
        const readableRepositories = authState(ctx).readableRepositories;
        const readable =
          from === undefined && readableRepositories ? await readableRepositories() : undefined;
        if (
          await registry.blobs.mount(repository, digest, from ? parseRepoName(from) : undefined, readable)
        ) {
          respondBlobCreated(ctx, repository, digest);
          return;
        }
      }
      const digest = queryValue(ctx, 'digest');
      if (digest !== undefined) {
        const result = await registry.uploads.uploadWhole(
          repository,
          parseDigest(digest),
          ctx.req,
          abortSignalFor(ctx.req),
        );
        respondBlobCreated(ctx, repository, result.digest);
        return;
      }
      respondUploadInProgress(ctx, await registry.uploads.start(repository), 202);
    },

    /** GET /v2/<name>/blobs/uploads/<id>: progress of a session (204 with Range). */
    async status(ctx: Context) {
      respondUploadInProgress(ctx, await registry.uploads.status(repoName(ctx), uploadId(ctx)), 204);
    },

    /** PATCH: a chunk with Content-Range, or (without it) a streamed body, as docker sends. */
    async patch(ctx: Context) {
      const range = parseContentRange(ctx.get('Content-Range') || undefined);
      const upload = await registry.uploads.appendChunk(
        repoName(ctx),
        uploadId(ctx),
        ctx.req,
        range,
        abortSignalFor(ctx.req),
      );
      respondUploadInProgress(ctx, upload, 202);
    },

    /** PUT ?digest=: completes a session, with or without a last chunk in the body. */
    async complete(ctx: Context) {
      const repository = repoName(ctx);
      const digest = requiredDigestQuery(ctx);
      const body = hasBody(ctx.req) ? ctx.req : undefined;
      const range = body ? parseContentRange(ctx.get('Content-Range') || undefined) : undefined;
      const result = await registry.uploads.complete(
        repository,
        uploadId(ctx),
        digest,
        body,
        abortSignalFor(ctx.req),
        range,
      );
      respondBlobCreated(ctx, repository, result.digest);
    },

    /** DELETE: cancels a session and drops its bytes. */
    async cancel(ctx: Context) {
      await registry.uploads.cancel(repoName(ctx), uploadId(ctx));
      respondEmpty(ctx, 204);
    },
  };
}
