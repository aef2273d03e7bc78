// The circuit breaker of an upstream (Verdaccio's max_fails / fail_timeout), on a pinned clock.
import { describe, expect, it } from 'vitest';
import { createCircuitBreaker } from '../../src/mirror/circuit-breaker.js';

function pinned() {
  let now = 1_000_000;
  return { clock: () => now, advance: (ms: number) => void (now += ms) };
}

describe('createCircuitBreaker', () => {
  it('lets requests through until `threshold` failures in a row', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 3, cooldownMs: 30_000, clock: time.clock });
    for (let i = 0; i < 2; i++) {
      expect(breaker.allow()).toBe(true);
      breaker.failed();
    }
    expect(breaker.allow()).toBe(true);
    expect(breaker.retryAfterSeconds()).toBe(0);
    breaker.failed();
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterSeconds()).toBe(30);
  });

  it('forgets failures after a success', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 2, cooldownMs: 1000, clock: time.clock });
    breaker.failed();
    breaker.succeeded();
    breaker.failed();
    expect(breaker.allow()).toBe(true);
  });

  it('stays open for the cooldown, counting the seconds down', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 1, cooldownMs: 10_000, clock: time.clock });
    breaker.failed();
    time.advance(4_500);
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterSeconds()).toBe(6);
    time.advance(5_499);
    expect(breaker.allow()).toBe(false);
    expect(breaker.retryAfterSeconds()).toBe(1);
  });

  it('lets one trial through after the cooldown and holds the others back while it runs', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 2, cooldownMs: 1000, clock: time.clock });
    breaker.failed();
    breaker.failed();
    time.advance(1000);
    expect(breaker.retryAfterSeconds()).toBe(0);
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    expect(breaker.allow()).toBe(false);
  });

  it('opens again for a full cooldown when the trial fails', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 2, cooldownMs: 1000, clock: time.clock });
    breaker.failed();
    breaker.failed();
    time.advance(1500);
    expect(breaker.allow()).toBe(true);
    breaker.failed();
    expect(breaker.allow()).toBe(false);
    time.advance(999);
    expect(breaker.allow()).toBe(false);
    time.advance(1);
    expect(breaker.allow()).toBe(true);
  });

  it('closes when the trial succeeds', () => {
    const time = pinned();
    const breaker = createCircuitBreaker({ threshold: 2, cooldownMs: 1000, clock: time.clock });
    breaker.failed();
    breaker.failed();
    time.advance(1000);
    expect(breaker.allow()).toBe(true);
    breaker.succeeded();
    for (let i = 0; i < 5; i++) expect(breaker.allow()).toBe(true);
    breaker.failed();
    expect(breaker.allow()).toBe(true);
  });
});
