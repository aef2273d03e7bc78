// THE one mapping from errors to HTTP responses. Domain code throws typed RegistryErrors; this file
// alone decides statuses and writes the OCI error body {"errors":[{"code","message","detail"}]}.
import type { Context, Next } from 'koa';
import {
  ChunkOutOfOrderError,
  ManifestTooLargeError,
  RangeNotSatisfiableError,
  RegistryError,
  StoreUnavailableError,
  TokenRequestInvalidError,
  TooManyRequestsError,
  UpstreamUnavailableError,
  type OciErrorCode,
} from '../registry/errors.js';
import type { Logger } from '../registry/deps.js';
import { AccountError, type AccountErrorCode } from '../auth/errors.js';
import { AuthChallengeError } from './challenges.js';
import { requestIdOf } from './request-id.js';

/** Default status of each code. The compiler checks that every code has one. */
const STATUS_BY_CODE: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  UNAVAILABLE: 503,
};

/** Account and namespace management errors (the management API), in the same body shape. */
const STATUS_BY_ACCOUNT_CODE: Record<AccountErrorCode, number> = {
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID: 400,
};

/** Errors whose situation calls for another status than their code's default. */
const STATUS_BY_ERROR: ReadonlyArray<[abstract new (...args: never[]) => RegistryError, number]> = [
  [ManifestTooLargeError, 413],
  [ChunkOutOfOrderError, 416],
  [RangeNotSatisfiableError, 416],
  [TokenRequestInvalidError, 400],
];

/** An HTTP-level failure with no domain meaning (unknown endpoint, wrong method). */
export class HttpError extends RegistryError {
  constructor(
    readonly status: number,
    code: OciErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

export function statusOf(err: RegistryError): number {
  if (err instanceof HttpError) return err.status;
  for (const [type, status] of STATUS_BY_ERROR) if (err instanceof type) return status;
  return STATUS_BY_CODE[err.code];
}

function isClientAbort(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

export function errorBody(code: string, message: string, detail?: unknown) {
  return { errors: [{ code, message, detail: detail ?? null }] };
}

/** Outermost middleware: every thrown error becomes one OCI error response (or a logged abort). */
export function errorResponder(log: Logger) {
  return async function respondWithErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (ctx.headerSent || !ctx.writable) {
        // Too late for an error body: the client sees a cut connection, as HTTP allows.
        log.warn(
          { err, requestId: requestIdOf(ctx), path: ctx.path },
          'request failed after the response started',
        );
        ctx.res.destroy();
        return;
      }
      if (err instanceof RegistryError) {
        ctx.status = statusOf(err);
        ctx.body = errorBody(err.code, err.message, err.detail);
        if (err instanceof AuthChallengeError) ctx.set('WWW-Authenticate', err.challenge);
        if (
          err instanceof TooManyRequestsError ||
          err instanceof StoreUnavailableError ||
          err instanceof UpstreamUnavailableError
        ) {
          ctx.set('Retry-After', String(err.retryAfterSeconds));
        }
        if (err instanceof RangeNotSatisfiableError && err.blobSize !== undefined) {
          ctx.set('Content-Range', `bytes */${err.blobSize}`);
        }
        return;
      }
      if (err instanceof AccountError) {
        ctx.status = STATUS_BY_ACCOUNT_CODE[err.code];
        ctx.body = errorBody(err.code, err.message, err.detail);
        return;
      }
      // Node destroys a request once its body has been read, so only a body cut short is the
      // client's doing; a storage failure after that is the server's (500, which clients retry).
      if (!ctx.req.complete && (isClientAbort(err) || ctx.req.destroyed)) {
        log.info(
          { requestId: requestIdOf(ctx), method: ctx.method, path: ctx.path },
          'client went away mid-request',
        );
        ctx.status = 400;
        ctx.body = errorBody('BLOB_UPLOAD_INVALID', 'request aborted by the client');
        return;
      }
      log.error({ err, requestId: requestIdOf(ctx), method: ctx.method, path: ctx.path }, 'unexpected error');
      ctx.status = 500;
      ctx.body = errorBody('UNKNOWN', 'internal server error');
    }
  };
}
