// Failed logins are limited per account and per client address (auth.loginLimit): after `perAccount`
// failures for an account, or `perAddress` from an address, within `window`, further attempts for that
// key are refused until the oldest failure ages out. A success clears the account's count, never the address's (so one valid account cannot be used
// to reset an address that is guessing other accounts' passwords).

export interface LoginThrottleOptions {
  perAccount: number;
  perAddress: number;
  windowMs: number;
  clock: () => number;
  /** Keys remembered at most; the least recently failed are forgotten first. */
  maxKeys?: number;
}

export interface LoginAttempt {
  /** Undefined for accounts whose secrets cannot be guessed (robots): only the address counts. */
  account: string | undefined;
  source: string;
}

const keysOf = ({ account, source }: LoginAttempt) =>
  account === undefined ? [`source:${source}`] : [`account:${account}`, `source:${source}`];

export function createLoginThrottle(options: LoginThrottleOptions) {
  const { windowMs, clock } = options;
  const limitOf = (key: string) => (key.startsWith('account:') ? options.perAccount : options.perAddress);
  const maxKeys = options.maxKeys ?? 100_000;
  const failuresByKey = new Map<string, number[]>();

  function recent(key: string, now: number): number[] {
    const times = (failuresByKey.get(key) ?? []).filter((t) => t > now - windowMs);
    if (times.length === 0) failuresByKey.delete(key);
    else failuresByKey.set(key, times);
    return times;
  }

  return {
    /** Seconds until an attempt is allowed again, or 0 when it is allowed now. */
    retryAfterSeconds(attempt: LoginAttempt): number {
      const now = clock();
      let wait = 0;
      for (const key of keysOf(attempt)) {
        const times = recent(key, now);
        const limit = limitOf(key);
        if (times.length >= limit) wait = Math.max(wait, times[times.length - limit]! + windowMs - now);
      }
      return Math.ceil(wait / 1000);
    },

    recordFailure(attempt: LoginAttempt): void {
      const now = clock();
      for (const key of keysOf(attempt)) {
        const times = recent(key, now);
        times.push(now);
        failuresByKey.delete(key); // re-insert: Map order is then least recently failed first
        failuresByKey.set(key, times.slice(-limitOf(key)));
      }
      while (failuresByKey.size > maxKeys) failuresByKey.delete(failuresByKey.keys().next().value as string);
    },

    recordSuccess(attempt: LoginAttempt): void {
      if (attempt.account !== undefined) failuresByKey.delete(`account:${attempt.account}`);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
