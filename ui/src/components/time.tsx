import { exactTime, relativeTime, toMillis } from '../lib/time.js';

/** A relative time ("3 hours ago") with the exact time on hover, or `never`. */
export function Time({
  value,
  never = 'never',
}: {
  value: string | number | null | undefined;
  never?: string;
}) {
  const ms = toMillis(value);
  if (ms === undefined) return <span class="muted">{never}</span>;
  return (
    <time dateTime={new Date(ms).toISOString()} title={exactTime(ms)}>
      {relativeTime(ms, Date.now())}
    </time>
  );
}
