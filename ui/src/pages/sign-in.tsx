// Sign-in with the same accounts as `docker login`. Token mode: the form's password goes once to
// /auth/token and is forgotten (lib/session.ts); htpasswd: the credentials stay in memory for this tab.
import { useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../app-context.js';
import { useTitle } from '../hooks.js';
import { safeNext } from '../lib/routes.js';
import { SignInError } from '../lib/session.js';

export function SignInPage(_props: { path?: string }) {
  useTitle('Sign in');
  const { session, state } = useApp();
  const { query, route, path } = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const next = safeNext(path === '/sign-in' ? query.next : path);

  useEffect(() => {
    if (state.kind === 'signed-in' || state.kind === 'open') route(next, true);
  }, [state.kind]);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await session.signIn(username.trim(), password);
      setPassword('');
      route(next, true);
    } catch (err) {
      setError(err instanceof SignInError ? err.message : String(err));
      setBusy(false);
    }
  };

  const notice = state.kind === 'anonymous' ? state.notice : undefined;
  const tokenMode = 'info' in state && state.info.authMode === 'token';
  return (
    <section class="sign-in">
      <h1>Sign in to Berth</h1>
      <p class="muted">
        Use the account you give <code>docker login</code>
        {tokenMode ? ' (robots: robot+name and their secret).' : '.'}
      </p>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit} class="stack">
        <label class="field">
          <span>Name</span>
          <input
            name="username"
            autoComplete="username"
            required
            autoFocus
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {tokenMode && (
        <p class="muted small-print">
          Public namespaces can be browsed without signing in: <a href="/">repositories</a>.
        </p>
      )}
    </section>
  );
}
