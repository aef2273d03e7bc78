// Repository names, tags and digests: parsed once at the edge into branded types.
// Grammar: OCI Distribution Spec v1.1, "Pulling manifests" (<name>, <reference>) and the OCI image
// spec's digest grammar (descriptor.md#digests).
import { DigestInvalidError, NameInvalidError, TagInvalidError } from './errors.js';

export type RepoName = string & { readonly __brand: 'RepoName' };
export type Tag = string & { readonly __brand: 'Tag' };
export type Digest = string & { readonly __brand: 'Digest' };
export type Reference = { kind: 'tag'; tag: Tag } | { kind: 'digest'; digest: Digest };

/** One path component of a repository name (OCI dist-spec `<name>` grammar), as regex source. */
export const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const NAME_MAX = 255;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Algorithms this registry verifies, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export function parseRepoName(raw: string): RepoName {
  if (raw.length > NAME_MAX) throw new NameInvalidError(raw.slice(0, 64) + '…', `longer than ${NAME_MAX}`);
  if (!NAME.test(raw)) throw new NameInvalidError(raw, 'names match [a-z0-9]+([._-][a-z0-9]+)*(/...)*');
  return raw as RepoName;
}

export function parseTag(raw: string): Tag {
  if (!TAG.test(raw)) throw new TagInvalidError(raw);
  return raw as Tag;
}

export function parseDigest(raw: string): Digest {
  const match = DIGEST.exec(raw);
  if (!match) throw new DigestInvalidError('malformed digest', { digest: raw });
  const algorithm = match[1] as string;
  const expectedLength = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (expectedLength === undefined)
    throw new DigestInvalidError('unsupported digest algorithm', { digest: raw });
  if (!new RegExp(`^[a-f0-9]{${expectedLength}}$`).test(match[2] as string)) {
    throw new DigestInvalidError(`${algorithm} digests are ${expectedLength} lowercase hex characters`, {
      digest: raw,
    });
  }
  return raw as Digest;
}

export function isDigest(raw: string): boolean {
  return raw.includes(':');
}

export function parseReference(raw: string): Reference {
  return isDigest(raw) ? { kind: 'digest', digest: parseDigest(raw) } : { kind: 'tag', tag: parseTag(raw) };
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function formatDigest(algorithm: DigestAlgorithm, hex: string): Digest {
  return `${algorithm}:${hex}` as Digest;
}
