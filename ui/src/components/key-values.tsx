import type { ComponentChildren } from 'preact';

/** Name/value pairs (annotations, labels, environment): both untrusted, shown as text. */
export function KeyValues({
  entries,
  empty,
}: {
  entries: Array<[string, ComponentChildren]>;
  empty?: string;
}) {
  if (entries.length === 0) return <p class="muted">{empty ?? 'None.'}</p>;
  return (
    <dl class="key-values">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
