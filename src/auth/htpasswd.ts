// Apache htpasswd files (`user:hash` per line). Like CNCF Distribution's htpasswd auth, only bcrypt
// hashes ($2a$, $2b$, $2y$; `htpasswd -B`) are accepted: MD5 (apr1), SHA-1 and crypt are too weak.
// Lines are trimmed; blank lines and lines starting with `#` are ignored.

export interface HtpasswdRejection {
  /** 1-based line number. */
  line: number;
  /** The user name as written ('' when the line has none). Never the hash. */
  user: string;
  reason: string;
}

export interface ParsedHtpasswd {
  /** User name -> bcrypt hash, in file order. */
  entries: Map<string, string>;
  /** User name -> the line its entry is on. */
  lines: Map<string, number>;
  rejected: HtpasswdRejection[];
}

const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

function unsupportedHashReason(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'MD5 (apr1) hash; only bcrypt (htpasswd -B) is accepted';
  if (hash.startsWith('{SHA}')) return 'SHA-1 hash; only bcrypt (htpasswd -B) is accepted';
  if (hash.startsWith('$2')) return 'malformed bcrypt hash';
  if (hash === '') return 'empty hash';
  return 'not a bcrypt hash; only bcrypt (htpasswd -B) is accepted';
}

/** Splits an htpasswd file into usable bcrypt entries and rejected lines; a user's first usable entry wins. */
export function parseHtpasswd(text: string): ParsedHtpasswd {
  const entries = new Map<string, string>();
  const lines = new Map<string, number>();
  const rejected: HtpasswdRejection[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const colon = trimmed.indexOf(':');
    if (colon === -1) {
      rejected.push({ line, user: '', reason: 'not of the form user:hash' });
      return;
    }
    const user = trimmed.slice(0, colon);
    const hash = trimmed.slice(colon + 1);
    if (user === '') {
      rejected.push({ line, user, reason: 'empty user name' });
    } else if (lines.has(user)) {
      rejected.push({ line, user, reason: `duplicate of line ${lines.get(user)}, which is used` });
    } else if (!BCRYPT_HASH.test(hash)) {
      rejected.push({ line, user, reason: unsupportedHashReason(hash) });
    } else {
      entries.set(user, hash);
      lines.set(user, line);
    }
  });
  return { entries, lines, rejected };
}
