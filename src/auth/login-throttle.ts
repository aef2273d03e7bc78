// Failed logins are limited per account and per client address (auth.loginLimit): after `perAccount`
// failures for an account, or `perAddress` from an address, within `window`, further attempts for that
// key are refused until the oldest failure ages out.
//
// The per-account limit slows a guesser, never the owner: it does not apply at an address the account
// has logged in from before (a known address). Each account keeps the last `knownAddressesPerAccount`
// addresses it logged in from successfully, each for `knownAddressTtlMs` after its last success. So
// failures from strangers lock the account at unknown addresses only, and its owner still gets in from
// home, the office or CI. A known address is held to the per-address limit alone: its failures count
// for the address (so it cannot guess freely), not for the account (so the owner's typos there cannot
// lock the account elsewhere nor push strangers' failures out of its count).
// Accounts whose secrets cannot be guessed (robots) are limited per address only.
//
// A success forgives the account's failures from the same address only (the owner's own typos), never
// others' (an owner logging in must not hand a guesser a fresh allowance), and never the address's
// (so one valid account cannot reset an address that is guessing other accounts' passwords).
//
// All of it lives in the shared database (login-throttle-store.ts), not in this process: replicas on
// one database count every failure once, whichever replica saw it, and an address known on one is
// known on all. Growth is bounded on every write: failures older than the window and known addresses
// past their lifetime are pruned, each key keeps only its newest `limit` failures (no more are read),
// and at most `maxFailures` are kept overall (the earliest recorded go first). Known addresses need no
// overall cap: only a verified login makes one, at most `knownAddressesPerAccount` per account.
//
// Addresses are what the HTTP layer reports: behind a reverse proxy, set server.trustProxy, or every
// client shares the proxy's address.
import type { FailureKey, LoginThrottleStore } from './login-throttle-store.js';

export interface LoginThrottleOptions {
  store: LoginThrottleStore;
  perAccount: number;
  perAddress: number;
  windowMs: number;
  clock: () => number;
  /** Failures kept at most, over all keys; the earliest recorded are forgotten first (default 100,000). */
  maxFailures?: number;
  /** Addresses remembered per account as having logged in (default 10). */
  knownAddressesPerAccount?: number;
  /** How long an address stays known after its last successful login (default 30 days). */
  knownAddressTtlMs?: number;
}

export interface LoginAttempt {
  /** Undefined for accounts whose secrets cannot be guessed (robots): only the address counts. */
  account: string | undefined;
  source: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const accountKey = (account: string) => `account:${account}`;
const sourceKey = (source: string) => `source:${source}`;

export function createLoginThrottle(options: LoginThrottleOptions) {
  const { store, windowMs, clock } = options;
  const limitOf = (key: string) => (key.startsWith('account:') ? options.perAccount : options.perAddress);
  const maxFailures = options.maxFailures ?? 100_000;
  const perAccountKnown = options.knownAddressesPerAccount ?? 10;
  const knownTtlMs = options.knownAddressTtlMs ?? 30 * DAY_MS;

  /** The keys an attempt is held to and counted for: its address, and its account unless known there. */
  async function keysOf({ account, source }: LoginAttempt, now: number): Promise<FailureKey[]> {
    const keys = [sourceKey(source)];
    if (account !== undefined && !(await store.isKnownAddress(account, source, now - knownTtlMs))) {
      keys.unshift(accountKey(account));
    }
    return keys.map((key) => ({ key, keep: limitOf(key) }));
  }

  const prune = (now: number) =>
    store.prune({ failuresUpTo: now - windowMs, addressesUpTo: now - knownTtlMs, maxFailures });

  return {
    /** Seconds until an attempt is allowed again, or 0 when it is allowed now. */
    async retryAfterSeconds(attempt: LoginAttempt): Promise<number> {
      const now = clock();
      const waits = await Promise.all(
        (await keysOf(attempt, now)).map(async ({ key, keep: limit }) => {
          // The limit-th newest failure in the window: the one whose ageing out lets an attempt in.
          const failures = await store.recentFailures(key, now - windowMs, limit);
          return failures.length >= limit ? failures[limit - 1]! + windowMs - now : 0;
        }),
      );
      return Math.ceil(Math.max(0, ...waits) / 1000);
    },

    async recordFailure(attempt: LoginAttempt): Promise<void> {
      const now = clock();
      await store.addFailure(await keysOf(attempt, now), attempt.source, now);
      await prune(now);
    },

    /** A verified login: the address becomes known for the account, and its own failures there are forgiven. */
    async recordSuccess({ account, source }: LoginAttempt): Promise<void> {
      if (account === undefined) return;
      const now = clock();
      await store.rememberAddress(account, source, now, perAccountKnown);
      await store.forgetFailures(accountKey(account), source);
      await prune(now);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
