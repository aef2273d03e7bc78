// Times as people read them: "3 minutes ago" in the page, the exact time on hover (title).

const UNITS: ReadonlyArray<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** Milliseconds since the epoch, or undefined for a missing or unreadable time. */
export function toMillis(time: string | number | Date | null | undefined): number | undefined {
  if (time === null || time === undefined || time === '') return undefined;
  const ms = time instanceof Date ? time.getTime() : typeof time === 'number' ? time : Date.parse(time);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * "just now", "5 minutes ago", "yesterday", "in 2 hours", "3 years ago": the largest unit that fits,
 * rounded down. Times within 45 seconds either way are "just now" (clocks of client and server differ).
 */
export function relativeTime(time: string | number | Date | null | undefined, now: number): string {
  const ms = toMillis(time);
  if (ms === undefined) return 'never';
  const seconds = (ms - now) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      const count = Math.trunc(seconds / size);
      return relative.format(count, unit);
    }
  }
  return 'just now';
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** "2026-12-02 07:31:08 UTC+01:00": unambiguous, in the viewer's time zone. */
export function exactTime(time: string | number | Date | null | undefined): string {
  const ms = toMillis(time);
  if (ms === undefined) return '';
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const zone =
    offset === 0
      ? 'UTC'
      : `UTC${offset > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`
  );
}
