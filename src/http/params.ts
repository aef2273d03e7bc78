// Route parameters and query values, parsed into the domain's branded types (or typed errors).
import type { Context } from 'koa';
import { DigestInvalidError, ManifestUnknownError, RegistryError } from '../registry/errors.js';
import type { Page } from '../registry/metadata-store.js';
import {
  parseDigest,
  parseReference,
  parseRepoName,
  type Digest,
  type Reference,
  type RepoName,
} from '../registry/references.js';

/** Pages larger than this are cut, and continue through the Link header. */
export const MAX_PAGE_SIZE = 10_000;

type Params = Record<string, string | undefined>;
const params = (ctx: Context): Params => (ctx as unknown as { params: Params }).params;

export const repoName = (ctx: Context): RepoName => parseRepoName(params(ctx).name ?? '');
export const reference = (ctx: Context) => parseReference(params(ctx).reference ?? '');

/**
 * The reference of a manifest to read or delete. One that is neither a tag nor a digest names no
 * manifest: 404 MANIFEST_UNKNOWN, as Distribution and zot answer and the OCI conformance suite
 * expects (its pull workflow GETs `.INVALID_MANIFEST_NAME`). A PUT still refuses it as invalid.
 */
export function existingReference(ctx: Context): Reference {
  const raw = params(ctx).reference ?? '';
  try {
    return parseReference(raw);
  } catch (err) {
    if (err instanceof RegistryError) throw new ManifestUnknownError(raw, 'not a valid tag or digest');
    throw err;
  }
}
export const digestParam = (ctx: Context): Digest => parseDigest(params(ctx).digest ?? '');
export const uploadId = (ctx: Context): string => params(ctx).uuid ?? '';

export function queryValue(ctx: Context, key: string): string | undefined {
  const value = ctx.query[key];
  return Array.isArray(value) ? value[0] : value;
}

export function requiredDigestQuery(ctx: Context): Digest {
  const value = queryValue(ctx, 'digest');
  if (!value) throw new DigestInvalidError('the digest query parameter is required');
  return parseDigest(value);
}

export function page(ctx: Context): Page {
  const n = queryValue(ctx, 'n');
  const last = queryValue(ctx, 'last');
  // Like Distribution, a missing or malformed `n` means "no limit" rather than an error.
  if (n === undefined || !/^\d+$/.test(n)) return { last };
  return { last, limit: Math.min(Number(n), MAX_PAGE_SIZE) };
}
