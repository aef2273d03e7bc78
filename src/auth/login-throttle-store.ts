// What the login throttle (login-throttle.ts) keeps in the shared database, so that its limits hold
// across every replica on it: failed logins, each under the keys it counts for, and the addresses each
// account logged in from. Implemented in src/metadata for SQLite and PostgreSQL; the throttle owns the
// meaning of keys and times, the store only keeps rows and answers. Every call on its own is atomic
// and sees every other replica's completed calls; none runs inside an AccountStore unit of work.
export interface FailureKey {
  /** Opaque to the store (the throttle's `account:<name>`, `source:<address>`). */
  key: string;
  /**
   * The key keeps only its newest `keep` failures, the one being recorded among them (the throttle's
   * limit for the key: no more are ever read).
   */
  keep: number;
}

export interface LoginThrottlePrune {
  /** Failures at or before this time are dropped. */
  failuresUpTo: number;
  /** Known addresses whose last successful login is at or before this time are dropped. */
  addressesUpTo: number;
  /** Failures kept at most over all keys: beyond, the earliest recorded are dropped first. */
  maxFailures: number;
}

export interface LoginThrottleStore {
  /** Records one failed login from `source` at `at` under each of `keys`. */
  addFailure(keys: readonly FailureKey[], source: string, at: number): Promise<void>;
  /**
   * The times of the newest `limit` failures of `key` later than `since`, newest first (ties: the
   * later recorded first).
   */
  recentFailures(key: string, since: number, limit: number): Promise<number[]>;
  /** Forgets the failures of `key` that came from `source`. */
  forgetFailures(key: string, source: string): Promise<void>;
  /**
   * Records a successful login of `account` from `address` at `at` (a later time than the one kept
   * wins). The account then keeps `address` and its `keep - 1` other most recently used addresses.
   */
  rememberAddress(account: string, address: string, at: number, keep: number): Promise<void>;
  /** Whether `account` logged in successfully from `address` later than `since`. */
  isKnownAddress(account: string, address: string, since: number): Promise<boolean>;
  /** Drops what the throttle no longer reads (each bound uses an index: cheap when nothing is old). */
  prune(bounds: LoginThrottlePrune): Promise<void>;
}
