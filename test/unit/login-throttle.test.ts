// Login throttling (src/auth/login-throttle.ts) on its SQLite store, on fake clocks: the limits, known
// addresses and forgiveness on one in-memory database; two throttles on one database file, as two
// replicas on one shared database; and the login gate's use of it (a remembered login makes no store
// call but to record a new address, or a known one again after a day).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCheckLimiter } from '../../src/auth/check-limiter.js';
import { createLoginGate } from '../../src/auth/login-gate.js';
import type { LoginThrottleStore } from '../../src/auth/login-throttle-store.js';
import { createLoginThrottle, type LoginThrottleOptions } from '../../src/auth/login-throttle.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteLoginThrottleStore } from '../../src/metadata/sqlite-login-throttle-store.js';
import type { Logger } from '../../src/registry/deps.js';
import { TooManyRequestsError } from '../../src/registry/errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;

const opened: SqliteDatabase[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

/** A throttle store on its own database (`path`, or a new one in memory). */
function storeOn(path = ':memory:'): LoginThrottleStore {
  const db = openDatabase(path);
  opened.push(db);
  return createSqliteLoginThrottleStore(db);
}

const createThrottle = (options: Omit<LoginThrottleOptions, 'store'>, store = storeOn()) =>
  createLoginThrottle({ store, ...options });

describe('login throttle', () => {
  it('limits failures per account and per source, and forgets them after the window', async () => {
    let now = 0;
    const throttle = createThrottle({
      perAccount: 2,
      perAddress: 2,
      windowMs: 60_000,
      clock: () => now,
    });
    const attempt = { account: 'alice', source: '10.0.0.1' };
    await throttle.recordFailure(attempt);
    expect(await throttle.retryAfterSeconds(attempt)).toBe(0);
    now = 10_000;
    await throttle.recordFailure(attempt);
    expect(await throttle.retryAfterSeconds(attempt)).toBe(50);
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: '10.0.0.2' })).toBe(50);
    expect(await throttle.retryAfterSeconds({ account: 'bob', source: '10.0.0.1' })).toBe(50);
    expect(await throttle.retryAfterSeconds({ account: 'bob', source: '10.0.0.2' })).toBe(0);
    now = 60_001; // the first failure has left the window: one remains, under the limit
    expect(await throttle.retryAfterSeconds(attempt)).toBe(0);
    await throttle.recordFailure(attempt);
    expect(await throttle.retryAfterSeconds(attempt)).toBe(10);
  });

  it('counts failures without an account (robots) against the address only', async () => {
    const throttle = createThrottle({ perAccount: 1, perAddress: 3, windowMs: 60_000, clock: () => 0 });
    await throttle.recordFailure({ account: undefined, source: 'a' });
    await throttle.recordFailure({ account: undefined, source: 'a' });
    expect(await throttle.retryAfterSeconds({ account: undefined, source: 'b' })).toBe(0);
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'b' })).toBe(0);
    await throttle.recordFailure({ account: undefined, source: 'a' });
    expect(await throttle.retryAfterSeconds({ account: undefined, source: 'a' })).toBe(60);
  });

  it('forgives on success the account failures from that address only, and never the address', async () => {
    const throttle = createThrottle({ perAccount: 2, perAddress: 1, windowMs: 60_000, clock: () => 0 });
    await throttle.recordFailure({ account: 'alice', source: 'a' });
    await throttle.recordFailure({ account: 'alice', source: 'b' });
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'c' })).toBe(60);
    await throttle.recordSuccess({ account: 'alice', source: 'b' });
    // b's own failure is forgiven, a's is not: one of two, so unknown addresses may try again.
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'c' })).toBe(0);
    await throttle.recordFailure({ account: 'alice', source: 'c' });
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'd' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: 'carol', source: 'a' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: 'carol', source: 'b' })).toBe(60);
  });

  it('does not apply the account limit at an address the account logged in from before', async () => {
    let now = 0;
    const throttle = createThrottle({
      perAccount: 2,
      perAddress: 3,
      windowMs: 60_000,
      clock: () => now,
    });
    await throttle.recordSuccess({ account: 'alice', source: 'home' });
    now = 1_000;
    for (const source of ['evil-1', 'evil-2']) await throttle.recordFailure({ account: 'alice', source });
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'evil-3' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'home' })).toBe(0);
    // Known for alice only: bob's limit still applies at alice's address.
    for (const source of ['evil-1', 'evil-2']) await throttle.recordFailure({ account: 'bob', source });
    expect(await throttle.retryAfterSeconds({ account: 'bob', source: 'home' })).toBe(60);
    // The owner's success at home does not reset the strangers' count.
    await throttle.recordSuccess({ account: 'alice', source: 'home' });
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'evil-3' })).toBe(60);
  });

  it('holds a known address to the per-address limit, counting its failures for the address only', async () => {
    const throttle = createThrottle({ perAccount: 2, perAddress: 3, windowMs: 60_000, clock: () => 0 });
    await throttle.recordSuccess({ account: 'alice', source: 'home' });
    await throttle.recordFailure({ account: 'alice', source: 'home' });
    await throttle.recordFailure({ account: 'alice', source: 'home' });
    // Two failures at home: the account's limit is not reached for alice's other addresses...
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'office' })).toBe(0);
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'home' })).toBe(0);
    await throttle.recordFailure({ account: 'alice', source: 'home' });
    // ...and the third reaches home's own limit, for every account guessed from there.
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'home' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: 'bob', source: 'home' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: 'alice', source: 'office' })).toBe(0);
  });

  it('forgets a known address after its time, and keeps a bounded number per account', async () => {
    let now = 0;
    const throttle = createThrottle({
      perAccount: 1,
      perAddress: 100,
      windowMs: 60_000,
      clock: () => now,
      knownAddressesPerAccount: 2,
      knownAddressTtlMs: 10 * 60_000,
    });
    const lockedAt = async (account: string, source: string) =>
      (await throttle.retryAfterSeconds({ account, source })) > 0;
    await throttle.recordSuccess({ account: 'alice', source: 'a1' });
    now = 1;
    await throttle.recordSuccess({ account: 'alice', source: 'a2' });
    now = 2;
    await throttle.recordSuccess({ account: 'alice', source: 'a3' }); // a1 leaves: two per account
    now = 3;
    await throttle.recordFailure({ account: 'alice', source: 'evil' });
    expect([
      await lockedAt('alice', 'a1'),
      await lockedAt('alice', 'a2'),
      await lockedAt('alice', 'a3'),
    ]).toEqual([true, false, false]);
    // Other accounts' addresses do not push alice's out: each account keeps its own.
    await throttle.recordSuccess({ account: 'bob', source: 'b1' });
    await throttle.recordSuccess({ account: 'carol', source: 'c1' });
    await throttle.recordFailure({ account: 'bob', source: 'evil' });
    await throttle.recordFailure({ account: 'carol', source: 'evil' });
    expect([await lockedAt('alice', 'a2'), await lockedAt('alice', 'a3')]).toEqual([false, false]);
    expect([await lockedAt('bob', 'b1'), await lockedAt('carol', 'c1')]).toEqual([false, false]);
    now = 10 * 60_000 + 1; // a2's success was 10 minutes ago: forgotten; a3's not yet
    await throttle.recordFailure({ account: 'alice', source: 'evil' });
    expect([await lockedAt('alice', 'a2'), await lockedAt('alice', 'a3')]).toEqual([true, false]);
    now = 10 * 60_000 + 2;
    expect(await lockedAt('alice', 'a3')).toBe(true);
  });

  it('keeps at most maxFailures failures, forgetting the earliest recorded first', async () => {
    const throttle = createThrottle({
      perAccount: 100,
      perAddress: 1,
      windowMs: 60_000,
      clock: () => 0,
      maxFailures: 2,
    });
    for (const source of ['a', 'b', 'c']) await throttle.recordFailure({ account: undefined, source });
    expect(await throttle.retryAfterSeconds({ account: undefined, source: 'a' })).toBe(0);
    expect(await throttle.retryAfterSeconds({ account: undefined, source: 'b' })).toBe(60);
    expect(await throttle.retryAfterSeconds({ account: undefined, source: 'c' })).toBe(60);
  });
});

describe('login throttle across replicas', () => {
  it('counts failures spread over two replicas on one database as one replica would', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-throttle-'));
    try {
      const path = join(dir, 'berth.db');
      let now = 0;
      const options = { perAccount: 4, perAddress: 6, windowMs: 60_000, clock: () => now };
      // Two processes on one database file, each with its own connection, and one alone for comparison.
      const replicas = [createThrottle(options, storeOn(path)), createThrottle(options, storeOn(path))];
      const alone = createThrottle(options);
      const all = [...replicas, alone];
      const guess = (n: number) => ({ account: 'alice', source: `evil-${n}` });

      for (let n = 0; n < 4; n += 1) {
        now = n * 1_000;
        for (const throttle of all) expect(await throttle.retryAfterSeconds(guess(n))).toBe(0);
        await replicas[n % 2]!.recordFailure(guess(n));
        await alone.recordFailure(guess(n));
      }
      // Two failures through each replica: both refuse a fifth guess, as the lone replica does, until
      // the first failure (at 0) leaves the window.
      for (const throttle of all) expect(await throttle.retryAfterSeconds(guess(4))).toBe(57);

      // An address guessing many accounts, through both replicas in turn.
      for (let n = 0; n < 6; n += 1) {
        await replicas[n % 2]!.recordFailure({ account: `user-${n}`, source: 'nat' });
        await alone.recordFailure({ account: `user-${n}`, source: 'nat' });
      }
      for (const throttle of all) {
        expect(await throttle.retryAfterSeconds({ account: 'someone', source: 'nat' })).toBe(60);
      }

      // An address known through one replica is known to the other.
      await replicas[0]!.recordSuccess({ account: 'alice', source: 'home' });
      expect(await replicas[1]!.retryAfterSeconds({ account: 'alice', source: 'home' })).toBe(0);
      expect(await replicas[1]!.retryAfterSeconds({ account: 'alice', source: 'evil-5' })).toBe(57);
    } finally {
      for (const db of opened.splice(0)) db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('login gate', () => {
  const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

  /** `store`, and the names of the calls made on it. */
  function counted(store: LoginThrottleStore): { store: LoginThrottleStore; calls: string[] } {
    const calls: string[] = [];
    const wrapped = Object.fromEntries(
      Object.entries(store).map(([name, method]: [string, (...args: unknown[]) => unknown]) => [
        name,
        (...args: unknown[]) => {
          calls.push(name);
          return method(...args);
        },
      ]),
    ) as unknown as LoginThrottleStore;
    return { store: wrapped, calls };
  }

  function gateOn(clock: () => number) {
    const { store, calls } = counted(storeOn());
    const throttle = createLoginThrottle({ store, perAccount: 1, perAddress: 5, windowMs: 60_000, clock });
    const checks = createCheckLimiter({ concurrent: 1, queued: 4 });
    return { gate: createLoginGate({ throttle, checks, log: silent, clock }), calls };
  }

  it('answers a remembered login without a store call, but records a new address once a day', async () => {
    let now = 0;
    const { gate, calls } = gateOn(() => now);
    let checks = 0;
    const verify = async () => {
      checks += 1;
      return true;
    };
    const from = (source: string) =>
      gate.login({ name: 'alice', password: 'pw', source, stamp: 'v1', perAccount: true }, verify);
    expect(await from('home')).toBe(true);
    expect(checks).toBe(1);
    expect(calls).toContain('rememberAddress');
    calls.length = 0;
    // Remembered at a new address: it becomes known (one write), as a checked login's would.
    now = 30_000;
    expect(await from('office')).toBe(true);
    expect(calls).toContain('rememberAddress');
    calls.length = 0;
    // A busy client (in htpasswd mode every request logs in) for the rest of the day: no store call.
    for (now = 60_000; now < DAY_MS; now += 30_000) {
      expect(await from(now % 60_000 === 0 ? 'home' : 'office')).toBe(true);
    }
    expect(calls).toEqual([]);
    // A day after home was recorded, it is recorded again (a known address lasts 30 days).
    now = DAY_MS;
    expect(await from('home')).toBe(true);
    expect(calls).toContain('rememberAddress');
    expect(checks).toBe(1);
  });

  it("answers a robot's remembered login without a store call", async () => {
    const { gate, calls } = gateOn(() => 0);
    const login = { name: 'robot+ci', password: 'secret', source: 'ci', stamp: 'v1', perAccount: false };
    expect(await gate.login(login, async () => true)).toBe(true);
    calls.length = 0;
    expect(await gate.login({ ...login, source: 'elsewhere' }, async () => true)).toBe(true);
    expect(calls).toEqual([]);
  });

  it('refuses guesses beyond the limit with Retry-After, and lets the owner in from a known address', async () => {
    const { gate } = gateOn(() => 0);
    const verify = (password: string) => async () => password === 'right';
    const login = (password: string, source: string) =>
      gate.login({ name: 'alice', password, source, stamp: 'v1', perAccount: true }, verify(password));
    expect(await login('right', 'home')).toBe(true);
    expect(await login('guess-1', 'evil')).toBe(false);
    const refused = login('guess-2', 'evil-2');
    await expect(refused).rejects.toBeInstanceOf(TooManyRequestsError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 60 });
    // Once the password changes (a new stamp), the owner is checked again, and gets in from home.
    expect(
      await gate.login(
        { name: 'alice', password: 'right', source: 'home', stamp: 'v2', perAccount: true },
        verify('right'),
      ),
    ).toBe(true);
  });
});
