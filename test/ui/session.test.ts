// The browser session (ui/src/lib/session.ts) with a fake Berth: what is sent, what is kept, and when
// tokens are renewed. Time and timers are the test's.
import { beforeEach, describe, expect, it } from 'vitest';
import { createSession, REFRESH_TOKEN_KEY, type KeyValueStore } from '../../ui/src/lib/session.js';
import type { Info } from '../../ui/src/lib/types.js';

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

const ME = { name: 'alice', kind: 'user', admin: false, createdAt: '', description: null };

function fakeBerth(info: Partial<Info> = {}) {
  const sent: Sent[] = [];
  let issued = 0;
  let refreshOk = true;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = typeof init.body === 'string' ? init.body : '';
    sent.push({ method: init.method ?? 'GET', url, headers, body });
    if (url === '/api/v1/info') {
      return json(200, {
        version: '1',
        authMode: 'token',
        service: 'berth',
        readOnly: false,
        deleteEnabled: true,
        ...info,
      });
    }
    if (url === '/auth/token') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') === 'password' && form.get('password') !== 'right') {
        return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
      }
      if (form.get('grant_type') === 'refresh_token' && !refreshOk) {
        return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'refresh token revoked' }] });
      }
      issued++;
      return json(200, { access_token: `access-${issued}`, expires_in: 300, refresh_token: 'refresh-1' });
    }
    if (url === '/api/v1/me') {
      return headers.authorization?.startsWith('Bearer ')
        ? json(200, { ...ME, memberships: [{ namespace: 'team', role: 'write' }] })
        : json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
    if (url.startsWith('/api/v1/repositories')) {
      return headers.authorization === `Basic ${btoa('bob:right')}`
        ? json(200, { repositories: [], total: 0, next: null })
        : json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
    return json(404, {});
  }) as typeof globalThis.fetch;
  return {
    fetch,
    sent,
    revokeRefresh: () => (refreshOk = false),
    forms: () =>
      sent.filter((s) => s.url === '/auth/token').map((s) => Object.fromEntries(new URLSearchParams(s.body))),
  };
}

function memoryStorage(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

function clock() {
  let now = 1_000_000;
  const timers: Array<{ at: number; run: () => void; id: number }> = [];
  let ids = 0;
  return {
    now: () => now,
    setTimer: (run: () => void, ms: number) => {
      const id = ++ids;
      timers.push({ at: now + ms, run, id });
      return id;
    },
    clearTimer: (id: unknown) => {
      const at = timers.findIndex((t) => t.id === id);
      if (at >= 0) timers.splice(at, 1);
    },
    pending: () => timers.map((t) => t.at - now),
    /** Moves time on, running the timers that come due. */
    advance(ms: number) {
      now += ms;
      for (const timer of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.run();
      }
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('session in token mode', () => {
  let berth: ReturnType<typeof fakeBerth>;
  let storage: ReturnType<typeof memoryStorage>;
  let time: ReturnType<typeof clock>;
  const make = () => createSession({ fetch: berth.fetch, storage, ...time });

  beforeEach(() => {
    berth = fakeBerth();
    storage = memoryStorage();
    time = clock();
  });

  it('signs in with the OAuth2 password grant and keeps no password, only the refresh token', async () => {
    const session = make();
    await session.start();
    expect(session.state.kind).toBe('anonymous');
    await session.signIn('alice', 'right');
    expect(berth.forms()).toEqual([
      {
        grant_type: 'password',
        username: 'alice',
        password: 'right',
        client_id: 'berth-ui',
        access_type: 'offline',
        service: 'berth',
        scope: 'registry:management:*',
      },
    ]);
    expect(session.state).toMatchObject({ kind: 'signed-in', user: { name: 'alice', admin: false } });
    expect([...storage.data.entries()]).toEqual([[REFRESH_TOKEN_KEY, 'refresh-1']]);
    expect(JSON.stringify([...storage.data.values()])).not.toContain('right');
    expect(await session.authorization()).toBe('Bearer access-1');
  });

  it('says why a sign-in failed, and stays anonymous', async () => {
    const session = make();
    await session.start();
    await expect(session.signIn('alice', 'wrong')).rejects.toThrow('Wrong name or password.');
    expect(session.state.kind).toBe('anonymous');
    expect(storage.data.size).toBe(0);
  });

  it('renews the access token a minute before it expires, with the refresh token', async () => {
    const session = make();
    await session.start();
    await session.signIn('alice', 'right');
    expect(time.pending()).toEqual([240_000]); // expires_in 300 s: renewed at 240 s
    time.advance(240_000);
    await settle();
    expect(berth.forms().at(-1)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-1',
      client_id: 'berth-ui',
      service: 'berth',
      scope: 'registry:management:*',
    });
    expect(await session.authorization()).toBe('Bearer access-2');
  });

  it('renews before use when a sleeping tab missed its timer', async () => {
    const session = make();
    await session.start();
    await session.signIn('alice', 'right');
    time.clearTimer(1); // the browser never ran it
    time.advance(299_000);
    expect(await session.authorization()).toBe('Bearer access-2');
  });

  it('resumes the sign-in of this tab after a reload, without asking as anonymous first', async () => {
    storage.setItem(REFRESH_TOKEN_KEY, 'refresh-1');
    const session = make();
    const seen: string[] = [];
    session.subscribe((state) => seen.push(state.kind));
    await session.start();
    expect(seen).toEqual(['signed-in']);
    expect(berth.sent.map((s) => s.url)).toEqual(['/api/v1/info', '/auth/token', '/api/v1/me']);
  });

  it('signs out, with a notice, when Berth refuses the refresh token (password changed, account gone)', async () => {
    const session = make();
    await session.start();
    await session.signIn('alice', 'right');
    berth.revokeRefresh();
    expect(await session.unauthorized()).toBe(false);
    expect(session.state).toMatchObject({ kind: 'anonymous', notice: 'Your session ended: sign in again.' });
    expect(storage.data.size).toBe(0);
    expect(await session.authorization()).toBeUndefined();
  });

  it('signs out: forgets every token', async () => {
    const session = make();
    await session.start();
    await session.signIn('alice', 'right');
    session.signOut();
    expect(session.state.kind).toBe('anonymous');
    expect(storage.data.size).toBe(0);
    expect(time.pending()).toEqual([]);
    expect(await session.authorization()).toBeUndefined();
  });
});

describe('session in other modes', () => {
  it('is open in auth mode none: nothing to sign in to, no Authorization header', async () => {
    const berth = fakeBerth({ authMode: 'none' });
    const session = createSession({ fetch: berth.fetch, storage: memoryStorage(), ...clock() });
    await session.start();
    expect(session.state.kind).toBe('open');
    expect(await session.authorization()).toBeUndefined();
  });

  it('keeps htpasswd credentials in memory only', async () => {
    const berth = fakeBerth({ authMode: 'htpasswd' });
    const storage = memoryStorage();
    const session = createSession({ fetch: berth.fetch, storage, ...clock() });
    await session.start();
    await expect(session.signIn('bob', 'wrong')).rejects.toThrow('Wrong name or password.');
    await session.signIn('bob', 'right');
    expect(session.state).toMatchObject({ kind: 'signed-in', user: { name: 'bob', admin: true } });
    expect(await session.authorization()).toBe(`Basic ${btoa('bob:right')}`);
    expect(storage.data.size).toBe(0);
    expect(berth.sent.some((s) => s.url === '/auth/token')).toBe(false);
  });

  it('says Berth is unreachable when /api/v1/info does not answer', async () => {
    const session = createSession({
      fetch: (() => Promise.reject(new TypeError('Failed to fetch'))) as typeof fetch,
      storage: memoryStorage(),
      ...clock(),
    });
    await session.start();
    expect(session.state).toEqual({ kind: 'unreachable', error: 'Failed to fetch' });
  });
});
