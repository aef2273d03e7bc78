// `auth.mode: htpasswd`: the users of an htpasswd file (bcrypt entries only). The file is re-read when
// its modification time or size changes (checked at most once a second); its version is the stamp the
// login gate remembers verified passwords under. An unknown user is checked against a dummy bcrypt hash
// of the file's most common cost, so response times do not tell which user names exist.
import bcrypt from 'bcryptjs';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../registry/deps.js';
import { parseHtpasswd } from './htpasswd.js';
import { verifySecret } from './passwords.js';

export interface HtpasswdFileOptions {
  path: string;
  clock: () => number;
  log: Logger;
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
  const { path, clock, log } = options;
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
    version = current;
  }

  reload();
  return {
    /** The file's current version (its modification time and size). */
    version(): string {
      reload();
      return version;
    },

    /** The slow check: whether the file has this user with this password. */
    verify(username: string, password: string): Promise<boolean> {
      const hash = entries.get(username);
      return hash === undefined
        ? verifySecret(dummyHash, password).then(() => false)
        : verifySecret(hash, password);
    },
  };
}

export type HtpasswdFile = ReturnType<typeof createHtpasswdFile>;
