// A read-through cache in front of a MetadataStore for the hottest lookups (manifest by tag or
// digest, a repository's blob). Only hits are cached and every write through this store
// invalidates what it could change, so answers stay exact as long as this process is the only
// writer of the database (Berth's deployment model: one server per metadata database).
import type { ManifestRecord, MetadataStore } from '../registry/metadata-store.js';
import type { RepoName } from '../registry/references.js';

/** A Map bounded by entry count that forgets its least recently used entries. */
class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

export function withReadCache(inner: MetadataStore, capacity = 50_000): MetadataStore {
  const manifests = new BoundedMap<string, ManifestRecord>(capacity);
  const blobs = new BoundedMap<string, { size: number }>(capacity);
  // Tags per repository, so deleting a manifest (which deletes its tags) drops them all at once.
  const tags = new BoundedMap<RepoName, Map<string, ManifestRecord>>(capacity);
  const key = (repository: string, item: string) => `${repository}\n${item}`;

  return {
    ...inner,

    findRepositoryBlob(repository, digest) {
      const k = key(repository, digest);
      const cached = blobs.get(k);
      if (cached) return cached;
      const found = inner.findRepositoryBlob(repository, digest);
      if (found) blobs.set(k, found);
      return found;
    },
    unlinkBlob(repository, digest) {
      blobs.delete(key(repository, digest));
      return inner.unlinkBlob(repository, digest);
    },

    findManifest(repository, digest) {
      const k = key(repository, digest);
      const cached = manifests.get(k);
      if (cached) return cached;
      const found = inner.findManifest(repository, digest);
      if (found) manifests.set(k, found);
      return found;
    },
    resolveTag(repository, tag) {
      const cached = tags.get(repository)?.get(tag);
      if (cached) return cached;
      const found = inner.resolveTag(repository, tag);
      if (found) {
        const repoTags = tags.get(repository) ?? new Map<string, ManifestRecord>();
        repoTags.set(tag, found);
        tags.set(repository, repoTags);
      }
      return found;
    },
    putManifest(repository, manifest, references, tag) {
      if (tag) tags.get(repository)?.delete(tag);
      inner.putManifest(repository, manifest, references, tag);
    },
    deleteManifest(repository, digest) {
      manifests.delete(key(repository, digest));
      tags.delete(repository);
      return inner.deleteManifest(repository, digest);
    },
    deleteTag(repository, tag) {
      tags.get(repository)?.delete(tag);
      return inner.deleteTag(repository, tag);
    },
  };
}
