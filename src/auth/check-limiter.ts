// Slow password checks (scrypt, bcrypt: ~100+ ms of CPU each, by design) run on libuv's thread pool,
// which file reads and writes share. At most `concurrent` checks run at once and at most `queued` wait;
// beyond that a login is refused at once (TOOMANYREQUESTS) instead of stalling blob I/O behind a
// queue of guesses. A waiting check whose client has gone away is dropped before it starts.
import { TooManyRequestsError } from '../registry/errors.js';

export interface CheckLimiterOptions {
  concurrent: number;
  queued: number;
}

export function createCheckLimiter({ concurrent, queued }: CheckLimiterOptions) {
  let running = 0;
  const waiting: Array<() => void> = [];

  function release(): void {
    running -= 1;
    waiting.shift()?.();
  }

  async function acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (running < concurrent) {
      running += 1;
      return;
    }
    if (waiting.length >= queued) throw new TooManyRequestsError(1, 'too many logins at once');
    await new Promise<void>((resolve, reject) => {
      const start = () => {
        signal?.removeEventListener('abort', abandon);
        running += 1;
        resolve();
      };
      const abandon = () => {
        const at = waiting.indexOf(start);
        if (at !== -1) waiting.splice(at, 1);
        reject(signal?.reason);
      };
      waiting.push(start);
      signal?.addEventListener('abort', abandon, { once: true });
    });
  }

  return {
    async run<T>(check: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      await acquire(signal);
      try {
        return await check();
      } finally {
        release();
      }
    },
    /** Checks running and waiting, for tests and diagnostics. */
    load: () => ({ running, waiting: waiting.length }),
  };
}

export type CheckLimiter = ReturnType<typeof createCheckLimiter>;
