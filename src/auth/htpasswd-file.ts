// `auth.mode: htpasswd`: the users of an htpasswd file (bcrypt entries only). The file is re-read when
// its modification time or size changes (checked at most once a second). bcrypt is slow on purpose, so
// a successful check is remembered for a minute under an HMAC of the credentials with a key that lives
// only in this process: no password, nor a fast hash of one, is kept in memory.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../registry/deps.js';
import type { CheckLimiter } from './check-limiter.js';
import { parseHtpasswd } from './htpasswd.js';
import { verifyAgainstNothing, verifySecret } from './passwords.js';

export interface HtpasswdFileOptions {
  path: string;
  checks: CheckLimiter;
  clock: () => number;
  log: Logger;
  /** How long a verified username and password are remembered. */
  verifiedTtlMs?: number;
}

export function createHtpasswdFile(options: HtpasswdFileOptions) {
  const { path, clock, log, checks, verifiedTtlMs = 60_000 } = options;
  const cacheKey = randomBytes(32);
  const verified = new Map<string, number>();
  let entries = new Map<string, string>();
  let version = '';
  let checkedAt = Number.NEGATIVE_INFINITY;

  function reload(): void {
    const now = clock();
    if (now - checkedAt < 1000) return;
    checkedAt = now;
    const stat = statSync(path);
    const current = `${stat.mtimeMs}:${stat.size}`;
    if (current === version) return;
    const parsed = parseHtpasswd(readFileSync(path, 'utf8'));
    for (const rejection of parsed.rejected) {
      log.warn(
        { file: path, line: rejection.line, user: rejection.user, reason: rejection.reason },
        'htpasswd entry ignored',
      );
    }
    entries = parsed.entries;
    verified.clear();
    version = current;
  }

  reload();
  return {
    /** `signal` aborts a check still waiting for its turn (the client went away). */
    async authenticate(username: string, password: string, signal?: AbortSignal): Promise<boolean> {
      reload();
      const key = createHmac('sha256', cacheKey).update(`${username}\u0000${password}`).digest('base64');
      const until = verified.get(key);
      if (until !== undefined && until > clock()) return true;
      const hash = entries.get(username);
      const matches = await checks.run(
        () => (hash === undefined ? verifyAgainstNothing(password) : verifySecret(hash, password)),
        signal,
      );
      if (!matches) return false;
      if (verified.size >= 10_000) verified.clear();
      verified.set(key, clock() + verifiedTtlMs);
      return true;
    },
  };
}

export type HtpasswdFile = ReturnType<typeof createHtpasswdFile>;
