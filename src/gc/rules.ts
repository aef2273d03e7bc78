// The review rules over a candidate's facts, for dry runs: what a run would delete, given the
// manifests it would already have deleted (`gone`). Real runs apply the same rules in SQL inside the
// review's transaction (src/metadata/*-gc-store.ts), against the rows as they are then; the test of
// dry runs against real runs keeps the two in agreement.
//
// - A manifest goes when no tag points at it, no manifest of its repository references it (an index
//   and its children), and it is no referrer of a manifest its repository keeps (a referrer lives as
//   long as its subject).
// - A repository's link to a blob goes when no manifest of the repository references the blob.
// - A blob's bytes go when no repository links it and no manifest has its digest.
import type { Digest, RepoName } from '../registry/references.js';
import type { BlobFacts, ManifestFacts } from './gc-store.js';

/** Whether manifest `digest` of `repository` is (or would be) deleted. */
export type Gone = (repository: RepoName, digest: Digest) => boolean;

export function manifestIsUnused(repository: RepoName, facts: ManifestFacts, gone: Gone): boolean {
  if (facts.tagged) return false;
  if (facts.parents.some((parent) => !gone(repository, parent))) return false;
  if (facts.subject !== null && facts.subjectPresent && !gone(repository, facts.subject)) return false;
  return true;
}

/** The repositories whose link to the blob would be removed. */
export function unusedLinks(facts: BlobFacts, gone: Gone): RepoName[] {
  return facts.links
    .filter((link) => link.referencedBy.every((manifest) => gone(link.repository, manifest)))
    .map((link) => link.repository);
}

/** Whether the blob's bytes would go once its unused links are removed. */
export function blobIsUnused(digest: Digest, facts: BlobFacts, gone: Gone): boolean {
  return (
    unusedLinks(facts, gone).length === facts.links.length &&
    facts.manifestIn.every((repository) => gone(repository, digest))
  );
}
