// Parsing and building the HTTP headers the Docker/OCI protocol relies on.
import { BlobUploadInvalidError, ChunkOutOfOrderError } from '../registry/errors.js';
import type { RequestedRange } from '../registry/blobs.js';
import type { ChunkRange } from '../registry/uploads.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';

/**
 * `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` (RFC 9110 14.1.2). Returns undefined, so that the
 * whole blob is sent, for an absent header, several ranges, another unit (which RFC 9110 14.2 says
 * to ignore) and a malformed ranges-specifier (which 14.2 allows to ignore). A valid range the blob
 * cannot satisfy is answered 416 with Content-Range by the blob service, which knows the size.
 */
export function parseRangeHeader(value: string | undefined): RequestedRange | undefined {
  if (!value) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match) return undefined;
  const [, start, end] = match as unknown as [string, string, string];
  if (start === '' && end === '') return undefined;
  if (start === '') return { suffix: Number(end) };
  return end === '' ? { start: Number(start) } : { start: Number(start), end: Number(end) };
}

/**
 * Content-Range of a chunk: `<start>-<end>` (OCI dist-spec and docker), also accepting the RFC
 * forms `bytes <start>-<end>/<size|*>` that some clients send.
 */
export function parseContentRange(value: string | undefined): ChunkRange | undefined {
  if (!value) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!match) throw new BlobUploadInvalidError(`malformed Content-Range ${JSON.stringify(value)}`);
  const range = { start: Number(match[1]), end: Number(match[2]) };
  if (range.end < range.start) throw new ChunkOutOfOrderError('Content-Range ends before it starts');
  return range;
}

/** The `Range` of an upload session: bytes received so far, inclusive (`0-0` when none, as Distribution). */
export function uploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

/** Media types listed in Accept headers, without parameters. */
export function acceptedMediaTypes(accept: string | undefined): string[] {
  if (!accept) return [];
  return accept
    .split(',')
    .map((part) => part.split(';')[0]?.trim().toLowerCase() ?? '')
    .filter((type) => type.length > 0);
}

/** RFC 8288 link to the next page of a paginated list. */
export function nextLink(path: string, n: number, last: string): string {
  const query = new URLSearchParams({ n: String(n), last });
  return `<${path}?${query.toString()}>; rel="next"`;
}

/** RFC 9110 13.1.2: whether If-None-Match names this content (weak comparison; `*` matches). */
export function ifNoneMatchHits(header: string | undefined, digest: string): boolean {
  if (!header) return false;
  return header.split(',').some((raw) => {
    const tag = raw
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1');
    return tag === '*' || tag === digest;
  });
}
