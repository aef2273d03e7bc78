import { useTitle } from '../hooks.js';

export function NotFoundPage(_props: { default?: boolean }) {
  useTitle('Not found');
  return (
    <section>
      <h1>No such page</h1>
      <p>
        Go back to the <a href="/">repositories</a>.
      </p>
    </section>
  );
}
