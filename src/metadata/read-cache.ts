// A read-through cache in front of a MetadataStore for the hottest lookups (manifest by tag or
// digest, a repository's blob). Only hits are cached and every write through this store
// invalidates what it could change. A lookup caches its answer only when no write through this
// store began or ended while it waited, so a read that raced a write never caches the value the
// write replaced. Writers elsewhere (another process on the same database) are seen through
// `changedElsewhere`, asked before every cached answer: when it says so, the whole cache is
// dropped. A store without such a signal must not be cached when it has other writers.
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

  clear(): void {
    this.entries.clear();
  }
}

export interface ReadCacheOptions {
  capacity?: number;
  /** Whether another writer has changed the database since the last call (SQLite: data_version). */
  changedElsewhere?: () => boolean;
}

export function withReadCache(inner: MetadataStore, options: ReadCacheOptions = {}): MetadataStore {
  const capacity = options.capacity ?? 50_000;
  const manifests = new BoundedMap<string, ManifestRecord>(capacity);
  const blobs = new BoundedMap<string, { size: number }>(capacity);
  // Tags per repository, so deleting a manifest (which deletes its tags) drops them all at once.
  const tags = new BoundedMap<RepoName, Map<string, ManifestRecord>>(capacity);
  // Bumped when a write starts and when it ends: a lookup that saw it change may hold a stale answer.
  let writes = 0;
  /** Forgets everything when another writer has committed since the last look. */
  function current(): void {
    if (!options.changedElsewhere?.()) return;
    manifests.clear();
    blobs.clear();
    tags.clear();
    writes += 1; // lookups under way may have read before that commit
  }
  const key = (repository: string, item: string) => `${repository}\n${item}`;

  async function writing<T>(invalidate: () => void, write: () => Promise<T>): Promise<T> {
    writes += 1;
    invalidate();
    try {
      return await write();
    } finally {
      invalidate();
      writes += 1;
    }
  }
  async function lookup<T>(read: () => Promise<T | undefined>, remember: (found: T) => void) {
    const before = writes;
    const found = await read();
    if (found && writes === before) remember(found);
    return found;
  }

  return {
    ...inner,

    async findRepositoryBlob(repository, digest) {
      current();
      const k = key(repository, digest);
      return (
        blobs.get(k) ??
        lookup(
          () => inner.findRepositoryBlob(repository, digest),
          (found) => blobs.set(k, found),
        )
      );
    },
    unlinkBlob(repository, digest) {
      return writing(
        () => blobs.delete(key(repository, digest)),
        () => inner.unlinkBlob(repository, digest),
      );
    },

    async findManifest(repository, digest) {
      current();
      const k = key(repository, digest);
      return (
        manifests.get(k) ??
        lookup(
          () => inner.findManifest(repository, digest),
          (found) => manifests.set(k, found),
        )
      );
    },
    async resolveTag(repository, tag) {
      current();
      return (
        tags.get(repository)?.get(tag) ??
        lookup(
          () => inner.resolveTag(repository, tag),
          (found) => {
            const repoTags = tags.get(repository) ?? new Map<string, ManifestRecord>();
            repoTags.set(tag, found);
            tags.set(repository, repoTags);
          },
        )
      );
    },
    putManifest(repository, manifest, references, tag) {
      return writing(
        () => tag && tags.get(repository)?.delete(tag),
        () => inner.putManifest(repository, manifest, references, tag),
      );
    },
    deleteManifest(repository, digest) {
      return writing(
        () => {
          manifests.delete(key(repository, digest));
          tags.delete(repository);
        },
        () => inner.deleteManifest(repository, digest),
      );
    },
    deleteTag(repository, tag) {
      return writing(
        () => tags.get(repository)?.delete(tag),
        () => inner.deleteTag(repository, tag),
      );
    },
  };
}
