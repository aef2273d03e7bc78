// `auth.mode: htpasswd`: the users of an htpasswd file (bcrypt entries only). The file is re-read when
// its modification time or size changes (checked at most once a second). bcrypt is slow on purpose, so
// a successful check is remembered for a minute (verified-logins.ts). An unknown user is checked
// against a dummy bcrypt hash of the file's most common cost, so response times do not tell which
// user names exist.
import bcrypt from 'bcryptjs';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../registry/deps.js';
import type { CheckLimiter } from './check-limiter.js';
import { parseHtpasswd } from './htpasswd.js';
import { verifySecret } from './passwords.js';
import { createVerifiedLogins } from './verified-logins.js';

export interface HtpasswdFileOptions {
  path: string;
  checks: CheckLimiter;
  clock: () => number;
  log: Logger;
  /** How long a verified username and password are remembered. */
  verifiedTtlMs?: number;
}

/** A bcrypt hash of the cost most entries use (10, bcrypt's default, when the file is empty). */
function dummyHashFor(hashes: Iterable<string>): string {
  const costs = new Map<number, number>();
  for (const hash of hashes) {
    const cost = Number(hash.slice(4, 6));
    costs.set(cost, (costs.get(cost) ?? 0) + 1);
  }
  const common = [...costs].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 10;
  return bcrypt.hashSync('berth: no such user', Math.min(Math.max(common, 4), 14));
}

export function createHtpasswdFile(options: HtpasswdFileOptions) {
  const { path, clock, log, checks, verifiedTtlMs = 60_000 } = options;
  const verified = createVerifiedLogins({ ttlMs: verifiedTtlMs, clock });
  let entries = new Map<string, string>();
  let dummyHash = '';
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
    dummyHash = dummyHashFor(entries.values());
    verified.clear();
    version = current;
  }

  reload();
  return {
    /** Whether this user and password were verified within the last minute (no hashing). */
    recall(username: string, password: string): boolean {
      reload();
      return verified.recall(username, password, version);
    },

    /** `signal` aborts a check still waiting for its turn (the client went away). */
    async authenticate(username: string, password: string, signal?: AbortSignal): Promise<boolean> {
      reload();
      if (verified.recall(username, password, version)) return true;
      const hash = entries.get(username);
      const matches = await verified.shared(
        username,
        password,
        () => checks.run(() => verifySecret(hash ?? dummyHash, password), signal),
        signal,
      );
      if (!matches || hash === undefined) return false;
      verified.remember(username, password, version);
      return true;
    },
  };
}

export type HtpasswdFile = ReturnType<typeof createHtpasswdFile>;
