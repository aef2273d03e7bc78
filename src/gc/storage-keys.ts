// Reading storage keys back (the orphan sweep walks storage): which digest a blob key stores and
// which upload session a key belongs to. The layout itself is written once, in registry/layout.ts:
// a key is a blob's only when blobKey() of the digest read from it gives the same key back.
import { blobKey, UPLOADS_PREFIX } from '../registry/layout.js';
import { parseDigest, type Digest } from '../registry/references.js';

/** The digest whose bytes `key` holds, or undefined for a key that is no blob's. */
export function digestOfBlobKey(key: string): Digest | undefined {
  const parts = key.split('/');
  if (parts.length !== 5 || parts[0] !== 'blobs') return undefined;
  let digest: Digest;
  try {
    digest = parseDigest(`${parts[1]}:${parts[3]}`);
  } catch {
    return undefined;
  }
  return blobKey(digest) === key ? digest : undefined;
}

/** The upload session id of a key under uploads/<id>/, or undefined (e.g. uploads/readiness-probe). */
export function uploadIdOfKey(key: string): string | undefined {
  if (!key.startsWith(UPLOADS_PREFIX)) return undefined;
  const rest = key.slice(UPLOADS_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : undefined;
}
