// Passwords verified recently, so a client that logs in again and again (podman, skopeo and the
// htpasswd mode's Basic on every request) does not pay a slow hash each time. Entries are keyed by an
// HMAC of the name and password under a key that lives only in this process: no password, nor a fast
// hash of one, is kept. Each entry carries a stamp (the account's credential version, the htpasswd
// file's version) and only counts while the caller's current stamp is the same. An entry in use is
// renewed, so a busy client never sees it expire; and concurrent checks of the same name and password
// share one slow check (single flight), so a burst of one client's requests costs one hash.
import { createHmac, randomBytes } from 'node:crypto';

export interface VerifiedLoginsOptions {
  ttlMs: number;
  clock: () => number;
  maxEntries?: number;
}

export function createVerifiedLogins({ ttlMs, clock, maxEntries = 10_000 }: VerifiedLoginsOptions) {
  const key = randomBytes(32);
  const entries = new Map<string, { stamp: string; until: number }>();
  const inFlight = new Map<string, Promise<unknown>>();
  const keyOf = (name: string, password: string) =>
    createHmac('sha256', key).update(`${name}\u0000${password}`).digest('base64');

  return {
    remember(name: string, password: string, stamp: string): void {
      if (entries.size >= maxEntries) entries.clear();
      entries.set(keyOf(name, password), { stamp, until: clock() + ttlMs });
    },

    /** Whether this name and password were verified within the TTL under the same stamp. */
    recall(name: string, password: string, stamp: string): boolean {
      const id = keyOf(name, password);
      const entry = entries.get(id);
      if (!entry) return false;
      if (entry.until > clock() && entry.stamp === stamp) {
        entry.until = clock() + ttlMs;
        return true;
      }
      entries.delete(id);
      return false;
    },

    /**
     * Runs `check` for this name and password, or joins the one already running. A joiner whose own
     * client is still there runs its own check if the shared one was abandoned by its first caller.
     */
    async shared<T>(
      name: string,
      password: string,
      check: () => Promise<T>,
      signal?: AbortSignal,
    ): Promise<T> {
      const id = keyOf(name, password);
      const running = inFlight.get(id) as Promise<T> | undefined;
      if (running) {
        try {
          return await running;
        } catch (err) {
          if (signal?.aborted || (err as Error | undefined)?.name !== 'AbortError') throw err;
          return check();
        }
      }
      const started = check();
      inFlight.set(id, started);
      try {
        return await started;
      } finally {
        inFlight.delete(id);
      }
    },
  };
}

export type VerifiedLogins = ReturnType<typeof createVerifiedLogins>;
