// The one path every password login takes, whatever checks the password (the account store, an
// htpasswd file): a password verified in the last minute passes at once (verified-logins.ts), else
// the login limits apply (login-throttle.ts, 429 when exceeded), then the slow check runs under the
// check limiter (check-limiter.ts), shared by concurrent logins with the same credentials; the
// outcome is counted and logged (account and address, never the password). Every successful login,
// remembered or checked, makes its address a known one for the account, where strangers' failures
// do not lock it (login-throttle.ts).
//
// The throttle keeps its state in the shared database, and a remembered login is what a busy client
// does on every request (in htpasswd mode, every request logs in), so a remembered login makes no
// store call while its account and address were recorded as known by this process within the last
// day: it records them only at a new address, and then once a day (a known address lasts 30 days).
import type { Logger } from '../registry/deps.js';
import { TooManyRequestsError } from '../registry/errors.js';
import type { CheckLimiter } from './check-limiter.js';
import type { LoginAttempt, LoginThrottle } from './login-throttle.js';
import { createVerifiedLogins } from './verified-logins.js';

/** How long a verified password spares the next login with it a slow check. */
const VERIFIED_LOGIN_TTL_MS = 60_000;
/** How often a remembered login records its address as known again (far less than its 30 days). */
const KNOWN_ADDRESS_REFRESH_MS = 24 * 60 * 60 * 1000;
/** (account, address) pairs whose recording this process remembers at most. */
const RECORDED_MAX = 10_000;

export interface LoginGateDeps {
  throttle: LoginThrottle;
  checks: CheckLimiter;
  log: Logger;
  clock: () => number;
}

export interface LoginAttemptDetails {
  name: string;
  password: string;
  /** The client's address. */
  source: string;
  /**
   * What the password is checked against, as of now (an account's credential version, the htpasswd
   * file's version): a remembered login counts only while it is unchanged.
   */
  stamp: string;
  /** Count failures per account too (false for robots: their secrets cannot be guessed). */
  perAccount: boolean;
  /** Aborts a check still waiting for its turn (the client went away). */
  signal?: AbortSignal;
}

export function createLoginGate({ throttle, checks, log, clock }: LoginGateDeps) {
  const verified = createVerifiedLogins({ ttlMs: VERIFIED_LOGIN_TTL_MS, clock });
  /** `account\0address` -> when this process last recorded the pair's success in the throttle. */
  const recorded = new Map<string, number>();

  async function recordSuccess(attempt: LoginAttempt): Promise<void> {
    await throttle.recordSuccess(attempt);
    if (attempt.account === undefined) return;
    if (recorded.size >= RECORDED_MAX) recorded.clear();
    recorded.set(`${attempt.account}\u0000${attempt.source}`, clock());
  }

  function recordedLately({ account, source }: LoginAttempt): boolean {
    if (account === undefined) return true; // robots have no known addresses
    const at = recorded.get(`${account}\u0000${source}`);
    return at !== undefined && at > clock() - KNOWN_ADDRESS_REFRESH_MS;
  }

  return {
    /** Whether `verify` (the slow check) accepts the password; throws TooManyRequestsError. */
    async login(details: LoginAttemptDetails, verify: () => Promise<boolean>): Promise<boolean> {
      const { name, password, source, stamp, signal } = details;
      const attempt = { account: details.perAccount ? name : undefined, source };
      // A guess that matches a remembered login is the password itself: no throttling, so others'
      // failures cannot lock its owner out.
      if (verified.recall(name, password, stamp)) {
        if (!recordedLately(attempt)) await recordSuccess(attempt);
        return true;
      }
      const wait = await throttle.retryAfterSeconds(attempt);
      if (wait > 0) {
        log.warn(
          { event: 'login throttled', account: name, source, retryAfterSeconds: wait },
          'login refused',
        );
        throw new TooManyRequestsError(wait);
      }
      const ok = await verified.shared(name, password, () => checks.run(verify, signal), signal);
      if (!ok) {
        await throttle.recordFailure(attempt);
        log.warn({ event: 'login failed', account: name, source }, 'login failed');
        return false;
      }
      await recordSuccess(attempt);
      verified.remember(name, password, stamp);
      return true;
    },
  };
}

export type LoginGate = ReturnType<typeof createLoginGate>;
