// Stops asking an upstream that keeps failing (Verdaccio's uplink max_fails / fail_timeout):
// after `threshold` failures in a row it is left alone for `cooldownMs`; then one request is let
// through as a trial, and its outcome closes the breaker or opens it again.

export interface CircuitBreaker {
  /** Whether a request may go upstream now. */
  allow(): boolean;
  succeeded(): void;
  failed(): void;
  /** Seconds until the next trial while open, else 0. */
  retryAfterSeconds(): number;
}

export function createCircuitBreaker(options: {
  threshold: number;
  cooldownMs: number;
  clock: () => number;
}): CircuitBreaker {
  let failures = 0;
  let openUntil = 0;
  let trialInFlight = false;

  return {
    allow() {
      if (failures < options.threshold) return true;
      if (options.clock() < openUntil || trialInFlight) return false;
      trialInFlight = true;
      return true;
    },
    succeeded() {
      failures = 0;
      trialInFlight = false;
    },
    failed() {
      failures += 1;
      trialInFlight = false;
      if (failures >= options.threshold) openUntil = options.clock() + options.cooldownMs;
    },
    retryAfterSeconds() {
      return Math.max(0, Math.ceil((openUntil - options.clock()) / 1000));
    },
  };
}
