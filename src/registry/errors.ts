// Domain errors, one class per OCI error code situation. The domain never sets an HTTP status:
// src/http/errors.ts is the one place that turns these into responses.
// Codes: OCI Distribution Spec v1.1, "Error Codes" table, plus UNAVAILABLE (Distribution's code for
// 503 Service Unavailable, which clients retry).

export const OCI_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'UNAVAILABLE',
] as const;

export type OciErrorCode = (typeof OCI_ERROR_CODES)[number];

export abstract class RegistryError extends Error {
  constructor(
    readonly code: OciErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BlobUnknownError extends RegistryError {
  constructor(digest: string) {
    super('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  }
}

export class BlobUploadUnknownError extends RegistryError {
  constructor(uploadId: string) {
    super('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uploadId });
  }
}

export class BlobUploadInvalidError extends RegistryError {
  constructor(reason: string) {
    super('BLOB_UPLOAD_INVALID', 'blob upload invalid', { reason });
  }
}

/** A chunk that does not start at the upload's current offset (OCI dist-spec: 416). */
export class ChunkOutOfOrderError extends RegistryError {
  constructor(reason: string) {
    super('BLOB_UPLOAD_INVALID', 'chunk out of order', { reason });
  }
}

/** A byte range outside the blob (RFC 9110 15.5.17: 416 with Content-Range: bytes *\/size). */
export class RangeNotSatisfiableError extends RegistryError {
  constructor(
    reason: string,
    readonly blobSize?: number,
  ) {
    super('SIZE_INVALID', 'requested range not satisfiable', { reason });
  }
}

export class DigestInvalidError extends RegistryError {
  constructor(reason: string, detail: Record<string, unknown> = {}) {
    super('DIGEST_INVALID', 'provided digest did not match uploaded content', { reason, ...detail });
  }
}

export class ManifestBlobUnknownError extends RegistryError {
  constructor(digest: string) {
    super('MANIFEST_BLOB_UNKNOWN', 'manifest references a manifest or blob unknown to registry', { digest });
  }
}

export class ManifestInvalidError extends RegistryError {
  constructor(reason: string) {
    super('MANIFEST_INVALID', 'manifest invalid', { reason });
  }
}

export class ManifestTooLargeError extends RegistryError {
  constructor(limit: number) {
    super('SIZE_INVALID', 'manifest exceeds the size limit', { limitBytes: limit });
  }
}

export class ManifestUnknownError extends RegistryError {
  constructor(reference: string, reason?: string) {
    super('MANIFEST_UNKNOWN', 'manifest unknown to registry', reason ? { reference, reason } : { reference });
  }
}

export class NameInvalidError extends RegistryError {
  constructor(name: string, reason: string) {
    super('NAME_INVALID', 'invalid repository name', { name, reason });
  }
}

export class TagInvalidError extends RegistryError {
  constructor(tag: string) {
    super('MANIFEST_INVALID', 'invalid tag', { tag, reason: 'tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}' });
  }
}

export class NameUnknownError extends RegistryError {
  constructor(name: string) {
    super('NAME_UNKNOWN', 'repository name not known to registry', { name });
  }
}

export class SizeInvalidError extends RegistryError {
  constructor(reason: string) {
    super('SIZE_INVALID', 'provided length did not match content length', { reason });
  }
}

export class UnsupportedError extends RegistryError {
  constructor(reason: string) {
    super('UNSUPPORTED', 'the operation is unsupported', { reason });
  }
}

export class UnauthorizedError extends RegistryError {
  constructor(reason: string, message = 'authentication required') {
    super('UNAUTHORIZED', message, { reason });
  }
}

export class DeniedError extends RegistryError {
  /** `message` is what clients print (docker: "denied: <message>"); the default is Distribution's. */
  constructor(reason: string, message = 'requested access to the resource is denied') {
    super('DENIED', message, { reason });
  }
}

/** Too many failed logins for an account or from an address (auth.loginLimit). */
export class TooManyRequestsError extends RegistryError {
  constructor(
    readonly retryAfterSeconds: number,
    message = 'too many failed login attempts',
  ) {
    super('TOOMANYREQUESTS', message, { retryAfterSeconds });
  }
}

/**
 * A store the registry cannot do without (the metadata database) is unreachable or overloaded for
 * now. Nothing was changed by the failed call; the client may retry after `retryAfterSeconds`.
 */
export class StoreUnavailableError extends RegistryError {
  constructor(
    reason: string,
    readonly retryAfterSeconds = 1,
  ) {
    super('UNAVAILABLE', 'the registry cannot reach its database; try again shortly', { reason });
  }
}

/**
 * The upstream registry of a proxied name cannot answer for now (down, timing out, answering 429 or
 * 5xx, or left alone by the circuit breaker) and nothing cached can stand in for it.
 */
export class UpstreamUnavailableError extends RegistryError {
  constructor(
    upstream: string,
    reason: string,
    readonly retryAfterSeconds = 1,
  ) {
    super('UNAVAILABLE', `upstream registry "${upstream}" is unavailable and the content is not cached`, {
      upstream,
      reason,
    });
  }
}

/** server.readOnly: every push and delete is refused, with a message clients print. */
export class ReadOnlyError extends RegistryError {
  constructor() {
    super(
      'UNSUPPORTED',
      'the registry is read-only for maintenance: pulls work, pushes and deletes are refused',
      {
        reason: 'server.readOnly is on',
      },
    );
  }
}

/** A token request the token service cannot answer (e.g. for another service); HTTP 400. */
export class TokenRequestInvalidError extends RegistryError {
  constructor(reason: string) {
    super('UNSUPPORTED', 'invalid token request', { reason });
  }
}
