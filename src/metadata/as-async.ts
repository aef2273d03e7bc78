// SQLite (better-sqlite3) answers synchronously, the store interfaces asynchronously (so that a
// networked database fits them too). A SQLite store is written against Synchronous<Store> and
// exposed through asAsync, which runs each call through its connection's lock (connection-lock.ts),
// so that no call lands inside another store's open unit of work.
import { settle } from './connection-lock.js';

/** The store's methods with their results unwrapped: what SQLite computes synchronously. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

/** Runs a synchronous call and answers with its result (a throw becomes a rejection). */
export type CallRunner = <R>(call: () => R) => Promise<R>;

/** Wraps each synchronous method so that it returns a promise, running it through `run`. */
export function asAsync<T extends object>(sync: Synchronous<T>, run: CallRunner = settle): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(sync) as Array<[string, (...args: unknown[]) => unknown]>) {
    wrapped[name] = (...args: unknown[]) => run(() => method(...args));
  }
  return wrapped as T;
}
