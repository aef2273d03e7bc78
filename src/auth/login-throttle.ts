// Failed logins are limited per account and per client address (auth.loginLimit): after `perAccount`
// failures for an account, or `perAddress` from an address, within `window`, further attempts for that
// key are refused until the oldest failure ages out.
//
// The per-account limit slows a guesser, never the owner: it does not apply at an address the account
// has logged in from before (a known address). Each account keeps the last `knownAddressesPerAccount`
// addresses it logged in from successfully, each for `knownAddressTtlMs` after its last success, and
// at most `maxKnownAddresses` pairs are kept overall (the least recently used accounts are forgotten
// first). So failures from strangers lock the account at unknown addresses only, and its owner still
// gets in from home, the office or CI. A known address is held to the per-address limit alone: its
// failures count for the address (so it cannot guess freely), not for the account (so the owner's
// typos there cannot lock the account elsewhere nor push strangers' failures out of its count).
// Accounts whose secrets cannot be guessed (robots) are limited per address only.
//
// A success forgives the account's failures from the same address only (the owner's own typos), never
// others' (an owner logging in must not hand a guesser a fresh allowance), and never the address's
// (so one valid account cannot reset an address that is guessing other accounts' passwords).
//
// Addresses are what the HTTP layer reports: behind a reverse proxy, set server.trustProxy, or every
// client shares the proxy's address.

export interface LoginThrottleOptions {
  perAccount: number;
  perAddress: number;
  windowMs: number;
  clock: () => number;
  /** Keys with failures remembered at most; the least recently failed are forgotten first. */
  maxKeys?: number;
  /** Addresses remembered per account as having logged in (default 10). */
  knownAddressesPerAccount?: number;
  /** How long an address stays known after its last successful login (default 30 days). */
  knownAddressTtlMs?: number;
  /** Known (account, address) pairs remembered at most, over all accounts (default 100,000). */
  maxKnownAddresses?: number;
}

export interface LoginAttempt {
  /** Undefined for accounts whose secrets cannot be guessed (robots): only the address counts. */
  account: string | undefined;
  source: string;
}

interface Failure {
  at: number;
  source: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const accountKey = (account: string) => `account:${account}`;
const sourceKey = (source: string) => `source:${source}`;

export function createLoginThrottle(options: LoginThrottleOptions) {
  const { windowMs, clock } = options;
  const limitOf = (key: string) => (key.startsWith('account:') ? options.perAccount : options.perAddress);
  const maxKeys = options.maxKeys ?? 100_000;
  const perAccountKnown = options.knownAddressesPerAccount ?? 10;
  const knownTtlMs = options.knownAddressTtlMs ?? 30 * DAY_MS;
  const maxKnown = options.maxKnownAddresses ?? 100_000;
  const failuresByKey = new Map<string, Failure[]>();
  /** account -> address -> time of its last successful login; both in least recently used order. */
  const knownByAccount = new Map<string, Map<string, number>>();
  let knownCount = 0;

  function recent(key: string, now: number): Failure[] {
    const failures = (failuresByKey.get(key) ?? []).filter((f) => f.at > now - windowMs);
    if (failures.length === 0) failuresByKey.delete(key);
    else failuresByKey.set(key, failures);
    return failures;
  }

  function isKnown(account: string, source: string, now: number): boolean {
    const sources = knownByAccount.get(account);
    const at = sources?.get(source);
    if (at === undefined) return false;
    if (at > now - knownTtlMs) return true;
    forget(account, sources!, source);
    return false;
  }

  function forget(account: string, sources: Map<string, number>, source: string): void {
    if (sources.delete(source)) knownCount -= 1;
    if (sources.size === 0) knownByAccount.delete(account);
  }

  function rememberKnown(account: string, source: string, now: number): void {
    const sources = knownByAccount.get(account) ?? new Map<string, number>();
    knownByAccount.delete(account); // re-insert both: Map order is then least recently used first
    if (sources.delete(source)) knownCount -= 1;
    sources.set(source, now);
    knownCount += 1;
    knownByAccount.set(account, sources);
    for (const [oldest, at] of sources) {
      if (sources.size <= perAccountKnown && at > now - knownTtlMs) break;
      forget(account, sources, oldest);
    }
    while (knownCount > maxKnown) {
      const [lru, lruSources] = knownByAccount.entries().next().value as [string, Map<string, number>];
      forget(lru, lruSources, lruSources.keys().next().value as string);
    }
  }

  /** The keys an attempt is held to and counted for: its address, and its account unless known there. */
  function keysOf({ account, source }: LoginAttempt, now: number): string[] {
    return account === undefined || isKnown(account, source, now)
      ? [sourceKey(source)]
      : [accountKey(account), sourceKey(source)];
  }

  return {
    /** Seconds until an attempt is allowed again, or 0 when it is allowed now. */
    retryAfterSeconds(attempt: LoginAttempt): number {
      const now = clock();
      let wait = 0;
      for (const key of keysOf(attempt, now)) {
        const failures = recent(key, now);
        const limit = limitOf(key);
        if (failures.length >= limit) {
          wait = Math.max(wait, failures[failures.length - limit]!.at + windowMs - now);
        }
      }
      return Math.ceil(wait / 1000);
    },

    recordFailure(attempt: LoginAttempt): void {
      const now = clock();
      for (const key of keysOf(attempt, now)) {
        const failures = recent(key, now);
        failures.push({ at: now, source: attempt.source });
        failuresByKey.delete(key); // re-insert: Map order is then least recently failed first
        failuresByKey.set(key, failures.slice(-limitOf(key)));
      }
      while (failuresByKey.size > maxKeys) failuresByKey.delete(failuresByKey.keys().next().value as string);
    },

    /** A verified login: the address becomes known for the account, and its own failures there are forgiven. */
    recordSuccess({ account, source }: LoginAttempt): void {
      if (account === undefined) return;
      const now = clock();
      rememberKnown(account, source, now);
      const key = accountKey(account);
      const others = (failuresByKey.get(key) ?? []).filter((f) => f.source !== source);
      if (others.length === 0) failuresByKey.delete(key);
      else failuresByKey.set(key, others);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
