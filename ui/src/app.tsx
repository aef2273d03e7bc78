// The shell: session start-up, header and navigation, the routes, and the status line that tells the
// user what happened. Pages get the session, the API and the registry host from AppContext.
import type { ComponentChildren } from 'preact';
import { lazy, LocationProvider, Router, useLocation } from 'preact-iso';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AppContext, useApp, type AppContextValue } from './app-context.js';
import { Loading } from './components/states.js';
import { createApi } from './lib/api.js';
import { isAdministrator, administeredNamespaces } from './lib/permissions.js';
import { routes } from './lib/routes.js';
import { createSession, type SessionState } from './lib/session.js';
import { NotFoundPage } from './pages/not-found.js';
import { RepositoriesPage } from './pages/repositories.js';
import { RepositoryPages } from './pages/repository-pages.js';
import { SignInPage } from './pages/sign-in.js';
import { applyTheme, storedTheme, THEMES, type Theme } from './theme.js';

/** Administration is for few: its code loads when first opened. */
const AdminPage = lazy(() => import('./pages/admin.js').then((module) => module.AdminPage));

/** Links the router follows in the page; others (the API document) load as usual. */
const UI_LINKS = /^\/(?:$|\?|repositories|admin|sign-in)/;

/**
 * Every request of the UI: same origin, and `credentials: 'omit'`. The UI sends its Authorization
 * header itself and never relies on what the browser would add (cookies, Basic credentials it
 * remembers: CSRF); and a 401 with a Basic challenge then never opens the browser's own password
 * prompt, which would stall the request. (Browsers present no TLS client certificate either: behind
 * server.tls.clientCa the UI cannot work.)
 */
const browserFetch: typeof fetch = (input, init) => fetch(input, { ...init, credentials: 'omit' });

function createBrowserSession() {
  return createSession({
    fetch: browserFetch,
    storage: sessionStorage,
    now: Date.now,
    setTimer: (run, ms) => setTimeout(run, ms),
    clearTimer: (handle) => clearTimeout(handle as number),
  });
}

export function App() {
  const session = useMemo(createBrowserSession, []);
  const api = useMemo(() => createApi({ fetch: browserFetch, session }), [session]);
  const [state, setState] = useState<SessionState>(session.state);
  const [message, setMessage] = useState<{ text: string; kind: 'ok' | 'error'; id: number }>();
  const messageTimer = useRef<number | undefined>(undefined);

  useEffect(() => {
    const unsubscribe = session.subscribe(setState);
    void session.start();
    return unsubscribe;
  }, [session]);

  const notify = useCallback((text: string, kind: 'ok' | 'error' = 'ok') => {
    setMessage({ text, kind, id: Date.now() });
    clearTimeout(messageTimer.current);
    messageTimer.current = window.setTimeout(() => setMessage(undefined), kind === 'error' ? 8000 : 3000);
  }, []);

  // `/` focuses the page's search field, wherever focus is (except while typing).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target as HTMLElement;
      if (target.closest('input, textarea, select, [contenteditable], dialog')) return;
      const search = document.querySelector<HTMLInputElement>('[data-search]');
      if (!search) return;
      event.preventDefault();
      search.focus();
      search.select();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const value: AppContextValue = { session, state, api, host: location.host, notify };
  return (
    <AppContext.Provider value={value}>
      <LocationProvider scope={UI_LINKS}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <Header />
        <main id="main" tabIndex={-1}>
          <Body />
        </main>
        <Footer />
        <div class={`toast ${message?.kind ?? ''}`} role="status" aria-live="polite">
          {message?.text}
        </div>
      </LocationProvider>
    </AppContext.Provider>
  );
}

function Body() {
  const { state } = useApp();
  const { path } = useLocation();
  if (state.kind === 'starting') return <Loading what="Connecting to Berth" />;
  if (state.kind === 'unreachable') {
    return (
      <div class="error-note" role="alert">
        <p>
          <strong>Berth did not answer:</strong> {state.error}
        </p>
        <p>Check that it is running and reachable, then reload this page.</p>
      </div>
    );
  }
  // htpasswd: nothing is visible without credentials, so every page starts with the form.
  if (state.kind === 'anonymous' && state.info.authMode === 'htpasswd' && path !== '/sign-in') {
    return <SignInPage />;
  }
  return (
    <Router>
      <RepositoriesPage path="/" />
      <RepositoryPages path="/repositories/:rest*" />
      <AdminPage path="/admin/:rest*" />
      <SignInPage path="/sign-in" />
      <NotFoundPage default />
    </Router>
  );
}

function NavLink({ href, children, active }: { href: string; children: ComponentChildren; active: boolean }) {
  return (
    <a href={href} aria-current={active ? 'page' : undefined}>
      {children}
    </a>
  );
}

function Header() {
  const { state, session } = useApp();
  const { path, url, route } = useLocation();
  const showAdmin =
    isAdministrator(state) || (state.kind === 'signed-in' && administeredNamespaces(state).length > 0);
  return (
    <header class="top">
      <a class="brand" href="/" aria-label="Berth: repositories">
        <span class="logo" aria-hidden="true" />
        Berth
      </a>
      <nav aria-label="Main">
        <NavLink href="/" active={path === '/' || path.startsWith('/repositories')}>
          Repositories
        </NavLink>
        {showAdmin && (
          <NavLink href={routes.admin()} active={path.startsWith('/admin')}>
            Administration
          </NavLink>
        )}
      </nav>
      <div class="account">
        <ThemeToggle />
        {state.kind === 'signed-in' && (
          <>
            <span class="who" title={state.user.admin ? 'global administrator' : undefined}>
              {state.user.name}
            </span>
            <button
              type="button"
              class="small"
              onClick={() => {
                session.signOut();
                route('/');
              }}
            >
              Sign out
            </button>
          </>
        )}
        {state.kind === 'anonymous' && path !== '/sign-in' && (
          <a class="button small primary" href={routes.signIn(url)}>
            Sign in
          </a>
        )}
      </div>
    </header>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length] ?? 'system';
  return (
    <button
      type="button"
      class="small ghost"
      title={`Theme: ${theme}. Switch to ${next}.`}
      aria-label={`Theme: ${theme}. Switch to ${next}`}
      onClick={() => {
        applyTheme(next);
        setTheme(next);
      }}
    >
      {theme === 'dark' ? '☾ Dark' : theme === 'light' ? '☀ Light' : '◐ Auto'}
    </button>
  );
}

function Footer() {
  const { state } = useApp();
  const info = 'info' in state ? state.info : undefined;
  return (
    <footer class="bottom">
      <span>Berth {info?.version}</span>
      {info?.authMode === 'none' && <span>auth: none (anyone may push and delete)</span>}
      {info?.readOnly && <span class="badge warn">read-only</span>}
      <a href="/api/v1/openapi.json" target="_blank" rel="noreferrer">
        API (OpenAPI)
      </a>
      <span class="muted">
        Press <kbd>/</kbd> to search
      </span>
    </footer>
  );
}
