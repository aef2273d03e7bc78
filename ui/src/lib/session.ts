// Who the browser is to Berth, per auth mode (GET /api/v1/info says which):
// - none: open, nothing to sign in to.
// - token: the sign-in form's name and password go once to POST /auth/token (OAuth2 password grant,
//   client_id=berth-ui, scope=registry:management:*, access_type=offline) and are then forgotten.
//   The access token lives in memory only; the refresh token in sessionStorage (this tab, until it
//   closes), so a reload stays signed in. The access token is refreshed before it expires (a timer,
//   and a check before each use, since background tabs delay timers), and once more after a 401.
//   Without a sign-in the browser is anonymous: public namespaces only.
// - htpasswd: there is no token service, so the name and password themselves are the credential.
//   They are kept in memory only (never stored): a reload asks for them again.
// API requests carry `Authorization: Bearer` or `Basic`, never a cookie, so a page of another site
// cannot make requests as the signed-in user (CSRF).
import { apiErrorOf, basicAuthorization, queryString, type ApiError } from './http.js';
import type { Info, Me } from './types.js';

export const CLIENT_ID = 'berth-ui';
export const MANAGEMENT_SCOPE = 'registry:management:*';
export const REFRESH_TOKEN_KEY = 'berth.refreshToken';

export interface SessionUser {
  name: string;
  /** token: from /api/v1/me; htpasswd: every user may do everything. */
  admin: boolean;
  /** token mode: roles per namespace (the personal namespace included). */
  memberships: Me['memberships'];
}

export type SessionState =
  | { kind: 'starting' }
  | { kind: 'unreachable'; error: string }
  | { kind: 'open'; info: Info }
  | { kind: 'anonymous'; info: Info; notice?: string }
  | { kind: 'signed-in'; info: Info; user: SessionUser };

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface SessionDeps {
  fetch: typeof fetch;
  /** sessionStorage in the browser. */
  storage: KeyValueStore;
  now: () => number;
  setTimer: (run: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
}

interface TokenAnswer {
  access_token: string;
  expires_in?: number;
  refresh_token?: string;
}

interface AccessToken {
  token: string;
  expiresAt: number;
}

/** A token is renewed this long before it expires (a fifth of its life, at most a minute). */
export function refreshLead(expiresInSeconds: number): number {
  return Math.min(60, expiresInSeconds / 5) * 1000;
}

/** The Docker token spec's default lifetime when the answer names none. */
const DEFAULT_EXPIRES_IN = 60;

export class SignInError extends Error {}

export function createSession(deps: SessionDeps) {
  let state: SessionState = { kind: 'starting' };
  const listeners = new Set<(state: SessionState) => void>();
  let access: AccessToken | undefined;
  let refreshing: Promise<boolean> | undefined;
  let timer: unknown;
  let basic: string | undefined;

  const setState = (next: SessionState) => {
    state = next;
    for (const listener of listeners) listener(state);
  };
  /** GET /api/v1/info, once start() has read it. */
  let info: Info | undefined;
  const infoOf = (): Info | undefined => info;

  function clearCredentials() {
    access = undefined;
    basic = undefined;
    if (timer !== undefined) deps.clearTimer(timer);
    timer = undefined;
    deps.storage.removeItem(REFRESH_TOKEN_KEY);
  }

  async function tokenRequest(form: Record<string, string>): Promise<TokenAnswer> {
    const res = await deps.fetch('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
    if (!res.ok) throw await apiErrorOf(res);
    return (await res.json()) as TokenAnswer;
  }

  const expiryOf = (answer: TokenAnswer) => deps.now() + (answer.expires_in ?? DEFAULT_EXPIRES_IN) * 1000;

  /** Keeps a new access token and plans its renewal. */
  function keepAccess(answer: TokenAnswer) {
    const expiresIn = answer.expires_in ?? DEFAULT_EXPIRES_IN;
    access = { token: answer.access_token, expiresAt: expiryOf(answer) };
    if (answer.refresh_token) deps.storage.setItem(REFRESH_TOKEN_KEY, answer.refresh_token);
    if (timer !== undefined) deps.clearTimer(timer);
    timer = deps.setTimer(
      () => {
        timer = undefined;
        void refresh();
      },
      Math.max(1000, expiresIn * 1000 - refreshLead(expiresIn)),
    );
  }

  /** A new access token from the refresh token; false (and signed out) when Berth refuses it. */
  function refresh(): Promise<boolean> {
    refreshing ??= (async () => {
      const refreshToken = deps.storage.getItem(REFRESH_TOKEN_KEY);
      const info = infoOf();
      if (!refreshToken || !info) return false;
      try {
        keepAccess(
          await tokenRequest({
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
            client_id: CLIENT_ID,
            service: info.service,
            scope: MANAGEMENT_SCOPE,
          }),
        );
        return true;
      } catch (err) {
        if ((err as ApiError).status === 401 || (err as ApiError).status === 400) {
          clearCredentials();
          setState({ kind: 'anonymous', info, notice: 'Your session ended: sign in again.' });
        }
        return false;
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  }

  async function loadMe(): Promise<SessionUser> {
    const res = await deps.fetch('/api/v1/me', {
      headers: { Accept: 'application/json', Authorization: `Bearer ${access?.token ?? ''}` },
    });
    if (!res.ok) throw await apiErrorOf(res);
    const me = (await res.json()) as Me;
    return { name: me.name, admin: me.admin, memberships: me.memberships };
  }

  const session = {
    get state(): SessionState {
      return state;
    },

    subscribe(listener: (state: SessionState) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /** Asks Berth how it authenticates; in token mode, resumes this tab's sign-in. */
    async start(): Promise<void> {
      try {
        const res = await deps.fetch('/api/v1/info', { headers: { Accept: 'application/json' } });
        if (!res.ok) throw await apiErrorOf(res);
        info = (await res.json()) as Info;
      } catch (err) {
        setState({ kind: 'unreachable', error: err instanceof Error ? err.message : String(err) });
        return;
      }
      if (info.authMode === 'none') return setState({ kind: 'open', info });
      // Pages wait ('starting') while this tab's sign-in resumes, so they never ask as anonymous first.
      const resumable = info.authMode === 'token' && deps.storage.getItem(REFRESH_TOKEN_KEY) !== null;
      if (!resumable) return setState({ kind: 'anonymous', info });
      if (!(await refresh())) {
        if (state.kind === 'starting') setState({ kind: 'anonymous', info });
        return;
      }
      try {
        setState({ kind: 'signed-in', info, user: await loadMe() });
      } catch {
        clearCredentials();
        setState({ kind: 'anonymous', info, notice: 'Your session ended: sign in again.' });
      }
    },

    /** Signs in; throws SignInError with a message for the form. The password is not kept (token mode). */
    async signIn(username: string, password: string): Promise<void> {
      const info = infoOf();
      if (!info || info.authMode === 'none') return;
      clearCredentials();
      if (info.authMode === 'htpasswd') {
        const authorization = basicAuthorization(username, password);
        const res = await deps.fetch(`/api/v1/repositories${queryString({ limit: 1 })}`, {
          headers: { Accept: 'application/json', Authorization: authorization },
        });
        if (res.status === 401) throw new SignInError('Wrong name or password.');
        if (res.status === 429) throw new SignInError('Too many attempts: wait a minute, then try again.');
        if (!res.ok) throw new SignInError((await apiErrorOf(res)).reason);
        basic = authorization;
        setState({ kind: 'signed-in', info, user: { name: username, admin: true, memberships: [] } });
        return;
      }
      let answer: TokenAnswer;
      try {
        answer = await tokenRequest({
          grant_type: 'password',
          username,
          password,
          client_id: CLIENT_ID,
          access_type: 'offline',
          service: info.service,
          scope: MANAGEMENT_SCOPE,
        });
      } catch (err) {
        const status = (err as ApiError).status;
        if (status === 401) throw new SignInError('Wrong name or password.');
        if (status === 429) throw new SignInError('Too many attempts: wait a minute, then try again.');
        throw new SignInError(err instanceof Error ? err.message : String(err));
      }
      keepAccess(answer);
      try {
        setState({ kind: 'signed-in', info, user: await loadMe() });
      } catch (err) {
        clearCredentials();
        throw new SignInError(
          `Signed in, but Berth refused the management API: ${err instanceof Error ? err.message : err}`,
        );
      }
    },

    signOut(): void {
      clearCredentials();
      const info = infoOf();
      if (info) setState(info.authMode === 'none' ? { kind: 'open', info } : { kind: 'anonymous', info });
    },

    /** The Authorization header for /api/v1, renewed first when the access token is about to expire. */
    async authorization(): Promise<string | undefined> {
      if (basic) return basic;
      if (!access) return undefined;
      if (deps.now() >= access.expiresAt - 5_000) await refresh();
      return access ? `Bearer ${access.token}` : undefined;
    },

    /**
     * After a 401 with credentials: renews the access token once (true: retry the request). htpasswd
     * credentials that stopped working sign the user out.
     */
    async unauthorized(): Promise<boolean> {
      if (basic) {
        const info = infoOf();
        clearCredentials();
        if (info) setState({ kind: 'anonymous', info, notice: 'Berth no longer accepts your password.' });
        return false;
      }
      return access ? refresh() : false;
    },
  };
  return session;
}

export type Session = ReturnType<typeof createSession>;
