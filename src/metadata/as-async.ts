// SQLite (better-sqlite3) answers synchronously, the store interfaces asynchronously (so that a
// networked database fits them too). A SQLite store is written against Synchronous<Store> and
// exposed through asAsync.
/** The store's methods with their results unwrapped: what SQLite computes synchronously. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

/** Wraps each synchronous method so that it returns a promise (and a throw becomes a rejection). */
export function asAsync<T extends object>(sync: Synchronous<T>): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(sync) as Array<[string, (...args: unknown[]) => unknown]>) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return Promise.resolve(method(...args));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
  }
  return wrapped as T;
}
