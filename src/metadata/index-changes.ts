// How stores other than the MetadataStore tell its read cache (read-cache.ts) that they changed the
// index on the same SQLite connection (the garbage collector deleting manifests or links, a
// repository deleted): SQLite's data_version sees only other connections' commits. Such a store calls
// `mark()` after each committed change; the read cache asks `take()` before every cached answer and
// forgets everything when it says so.
export interface IndexChangeFlag {
  mark(): void;
  /** True once after one or more marks. */
  take(): boolean;
}

export function createIndexChangeFlag(): IndexChangeFlag {
  let changed = false;
  return {
    mark() {
      changed = true;
    },
    take() {
      const was = changed;
      changed = false;
      return was;
    },
  };
}
