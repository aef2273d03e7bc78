// A least-recently-used map of Buffers bounded by their total size in bytes.
export function createByteBudgetCache<K>(budgetBytes: number) {
  const entries = new Map<K, Buffer>();
  let used = 0;
  return {
    get(key: K): Buffer | undefined {
      const value = entries.get(key);
      if (value) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key: K, value: Buffer): void {
      if (value.length > budgetBytes) return;
      const previous = entries.get(key);
      if (previous) {
        used -= previous.length;
        entries.delete(key);
      }
      entries.set(key, value);
      used += value.length;
      for (const [oldest, bytes] of entries) {
        if (used <= budgetBytes) break;
        entries.delete(oldest);
        used -= bytes.length;
      }
    },
  };
}
