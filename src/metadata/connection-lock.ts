// Units of work on one SQLite connection. better-sqlite3 runs each statement, and each synchronous
// transaction, to its end before anything else can run, so a single store call never interleaves with
// another. A unit of work whose body awaits would: between its BEGIN and its COMMIT, any other
// statement on the connection (one shared by the whole process) would run inside its transaction, see
// its uncommitted writes and be undone by its rollback. So every connection has one lock:
// - a unit of work holds it from BEGIN IMMEDIATE to COMMIT or ROLLBACK, awaits included, and runs its
//   own statements straight on the connection;
// - every other call on the connection (every store built on it: accounts and metadata alike) runs at
//   once while the lock is free, and otherwise waits for the units of work queued before it, in order.
// The lock serializes this process only; other processes on the database file are kept out by SQLite's
// own write lock, which BEGIN IMMEDIATE takes before the body runs (waiting up to busy_timeout while
// another process writes), so a unit of work never fails half-way on SQLITE_BUSY.
import type { SqliteDatabase } from './db.js';

export interface ConnectionLock {
  /** Runs `call` (synchronous work on the connection) at once when the lock is free, else after its queue. */
  run<R>(call: () => R): Promise<R>;
  /**
   * Runs `work` as one transaction holding the connection: committed when it resolves, rolled back
   * when it rejects. `end` runs right after the COMMIT or ROLLBACK, before anything else on the
   * connection (stores drop caches there). `work` must not call `run` or `unitOfWork` on this lock:
   * they would wait for `work` itself.
   */
  unitOfWork<T>(work: () => Promise<T>, end?: () => void): Promise<T>;
}

const locks = new WeakMap<SqliteDatabase, ConnectionLock>();

/** The lock of `db`: one per connection, shared by every store built on it. */
export function connectionLock(db: SqliteDatabase): ConnectionLock {
  let lock = locks.get(db);
  if (!lock) {
    lock = createConnectionLock(db);
    locks.set(db, lock);
  }
  return lock;
}

/** A settled promise of what `call` returns or throws. */
export function settle<R>(call: () => R): Promise<R> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

function createConnectionLock(db: SqliteDatabase): ConnectionLock {
  /** Settles when the last queued task has finished (never rejects). */
  let tail: Promise<void> = Promise.resolve();
  /** Tasks queued or running: the lock is free when there are none. */
  let pending = 0;

  function enqueue<R>(task: () => R | Promise<R>): Promise<R> {
    pending += 1;
    const result = tail.then(task);
    const done = () => {
      pending -= 1;
    };
    tail = result.then(done, done);
    return result;
  }

  return {
    run: (call) => (pending === 0 ? settle(call) : enqueue(call)),

    unitOfWork: (work, end) =>
      enqueue(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work();
          db.exec('COMMIT');
          return result;
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw err;
        } finally {
          end?.();
        }
      }),
  };
}
