import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { useApp } from '../app-context.js';
import { ApiError, describeError } from '../lib/http.js';
import { routes } from '../lib/routes.js';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="loading" role="status">
      {what}…
    </p>
  );
}

/** Nothing to show, and what to do about it. */
export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

/** A failed request: what went wrong and what to do (sign in, ask for a role, retry). */
export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { state } = useApp();
  const { url } = useLocation();
  const status = error instanceof ApiError ? error.status : 0;
  let advice: ComponentChildren;
  if (status === 401 && state.kind === 'anonymous') {
    advice = (
      <>
        This needs an account: <a href={routes.signIn(url)}>sign in</a>.
      </>
    );
  } else if (status === 401) {
    advice = 'Berth did not accept your credentials: sign out and in again.';
  } else if (status === 403) {
    advice = 'Your account may not do this: a namespace or global administrator can give you a role.';
  } else if (status === 404) {
    advice = 'It may have been deleted, or the name is misspelt.';
  } else if (status === 0 || status >= 500) {
    advice = 'Berth may be restarting or overloaded: try again in a moment.';
  }
  return (
    <div class="error-note" role="alert">
      <p>
        <strong>
          {status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Something went wrong'}:
        </strong>{' '}
        {describeError(error)}
      </p>
      {advice && <p>{advice}</p>}
      {onRetry && status !== 404 && status !== 403 && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
