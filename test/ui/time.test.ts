import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTime, relativeTime, toMillis } from '../../ui/src/lib/time.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const ago = (seconds: number) => NOW - seconds * 1000;

describe('relativeTime', () => {
  it('says "just now" within 45 seconds either way (clocks differ)', () => {
    expect(relativeTime(ago(0), NOW)).toBe('just now');
    expect(relativeTime(ago(44), NOW)).toBe('just now');
    expect(relativeTime(ago(-30), NOW)).toBe('just now');
  });

  it('uses the largest unit that fits, rounded down', () => {
    expect(relativeTime(ago(90), NOW)).toBe('1 minute ago');
    expect(relativeTime(ago(59 * 60), NOW)).toBe('59 minutes ago');
    expect(relativeTime(ago(3 * 3600 + 59 * 60), NOW)).toBe('3 hours ago');
    expect(relativeTime(ago(26 * 3600), NOW)).toBe('yesterday');
    expect(relativeTime(ago(10 * 86400), NOW)).toBe('last week');
    expect(relativeTime(ago(45 * 86400), NOW)).toBe('last month');
    expect(relativeTime(ago(800 * 86400), NOW)).toBe('2 years ago');
  });

  it('speaks of the future for times ahead of the clock', () => {
    expect(relativeTime(ago(-2 * 3600), NOW)).toBe('in 2 hours');
  });

  it('takes ISO strings, numbers and Dates, and says "never" for missing or unreadable times', () => {
    expect(relativeTime('2026-12-02T11:55:00Z', NOW)).toBe('5 minutes ago');
    expect(relativeTime(new Date(ago(120)), NOW)).toBe('2 minutes ago');
    expect(relativeTime(null, NOW)).toBe('never');
    expect(relativeTime(undefined, NOW)).toBe('never');
    expect(relativeTime('not a time', NOW)).toBe('never');
    expect(toMillis('')).toBeUndefined();
  });
});

describe('exactTime', () => {
  const tz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = 'Europe/Berlin';
  });
  afterAll(() => {
    process.env.TZ = tz;
  });

  it("gives the full time in the viewer's zone with its offset", () => {
    expect(exactTime('2026-12-02T06:31:08.123Z')).toBe('2026-12-02 07:31:08 UTC+01:00');
    expect(exactTime('2026-07-01T00:00:00Z')).toBe('2026-07-01 02:00:00 UTC+02:00');
    expect(exactTime(null)).toBe('');
  });
});
