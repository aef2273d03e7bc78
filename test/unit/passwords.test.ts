import bcrypt from 'bcryptjs';
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseHtpasswd } from '../../src/auth/htpasswd.js';
import {
  hashPassword,
  hashRobotSecret,
  newPassword,
  newRobotSecret,
  verifyAgainstNothing,
  verifySecret,
} from '../../src/auth/passwords.js';

const SCRYPT_HASH = /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

describe('hashPassword and verifySecret', () => {
  it('hashes a password as $scrypt$ with its cost, salt and key, and verifies only that password', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(SCRYPT_HASH);
    expect(await verifySecret(hash, 'correct horse')).toBe(true);
    expect(await verifySecret(hash, 'correct horse ')).toBe(false);
    expect(await verifySecret(hash, '')).toBe(false);
  });

  it('salts each hash, so the same password hashes differently', async () => {
    const [a, b] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    expect(a).not.toBe(b);
    expect(await verifySecret(b, 'same password')).toBe(true);
  });

  it('verifies a hash of another cost, reading N, r and p from the hash', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const key = scryptSync('pw-123456', salt, 32, { N: 2 ** 14, r: 4, p: 2 });
    const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
    const hash = `$scrypt$ln=14,r=4,p=2$${b64(salt)}$${b64(key)}`;
    expect(await verifySecret(hash, 'pw-123456')).toBe(true);
    expect(await verifySecret(hash.replace('ln=14', 'ln=13'), 'pw-123456')).toBe(false);
  });

  it.each([
    ['an unknown scheme', '$md5$abc$def'],
    ['plain text', 'password123'],
    ['an empty hash', ''],
    [
      'scrypt with a cost beyond the bounds',
      '$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43),
    ],
    ['scrypt needing 1 GiB of memory', '$scrypt$ln=20,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43)],
    ['scrypt without a key', '$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$'],
    ['scrypt with a short key', '$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA'],
    ['sha256 of the wrong length', '$sha256$abcd'],
    ['bcrypt cut short', '$2y$10$abcdefghijklmnopqrstuv'],
  ])('answers false for %s', async (_what, hash) => {
    expect(await verifySecret(hash, 'password123')).toBe(false);
  });
});

describe('bcrypt hashes (from htpasswd files)', () => {
  it('verifies a $2b$ hash made by bcryptjs', async () => {
    const hash = await bcrypt.hash('s3cret-pw', 4);
    expect(hash.startsWith('$2b$04$')).toBe(true);
    expect(await verifySecret(hash, 's3cret-pw')).toBe(true);
    expect(await verifySecret(hash, 'wrong-pw')).toBe(false);
  });

  // $2a$ (older bcrypt) and $2y$ (what `htpasswd -B` writes) hash ASCII passwords as $2b$ does.
  it.each(['2a', '2y'])('verifies a $%s$ hash', async (version) => {
    const hash = (await bcrypt.hash('s3cret-pw', 4)).replace(/^\$2b\$/, `$${version}$`);
    expect(hash.startsWith(`$${version}$04$`)).toBe(true);
    expect(await verifySecret(hash, 's3cret-pw')).toBe(true);
    expect(await verifySecret(hash, 's3cret-PW')).toBe(false);
  });
});

describe('robot secrets', () => {
  it('are berth_ and 256 random bits in base64url, different each time', () => {
    const a = newRobotSecret();
    expect(a).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice('berth_'.length), 'base64url')).toHaveLength(32);
    expect(newRobotSecret()).not.toBe(a);
  });

  it('hash to $sha256$ and the lowercase hex digest, and verify only the same secret', async () => {
    const secret = newRobotSecret();
    const hash = hashRobotSecret(secret);
    expect(hash).toMatch(/^\$sha256\$[0-9a-f]{64}$/);
    expect(hashRobotSecret(secret)).toBe(hash);
    expect(hashRobotSecret('abc')).toBe(
      '$sha256$ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(await verifySecret(hash, secret)).toBe(true);
    expect(await verifySecret(hash, newRobotSecret())).toBe(false);
  });
});

describe('newPassword', () => {
  it('generates 24 base64url characters, different each time', () => {
    const a = newPassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(newPassword()).not.toBe(a);
  });
});

describe('verifyAgainstNothing', () => {
  it('answers false after spending about as long as verifying a real password', async () => {
    const hash = await hashPassword('a real password');
    const time = async (work: () => Promise<unknown>) => {
      const start = performance.now();
      await work();
      return performance.now() - start;
    };
    const real = Math.min(
      await time(() => verifySecret(hash, 'wrong guess')),
      await time(() => verifySecret(hash, 'wrong guess')),
    );
    const nothing = Math.min(
      await time(() => verifyAgainstNothing('wrong guess')),
      await time(() => verifyAgainstNothing('wrong guess')),
    );
    expect(await verifyAgainstNothing('a real password')).toBe(false);
    expect(await verifyAgainstNothing('x', 'robot')).toBe(false);
    // A shortcut (no scrypt) would be two orders of magnitude faster.
    expect(nothing).toBeGreaterThan(real * 0.3);
  });
});

describe('parseHtpasswd', () => {
  const alice = '$2y$05$' + 'a'.repeat(53);
  const bob = '$2b$10$' + 'b'.repeat(53);

  it('keeps bcrypt entries, skipping blank lines and comments', () => {
    const parsed = parseHtpasswd(`# users\n\nalice:${alice}\r\n  bob:${bob}  \n\n`);
    expect([...parsed.entries]).toEqual([
      ['alice', alice],
      ['bob', bob],
    ]);
    expect([...parsed.lines]).toEqual([
      ['alice', 3],
      ['bob', 4],
    ]);
    expect(parsed.rejected).toEqual([]);
  });

  it('rejects other hash formats, malformed lines and duplicates, naming line and user but never the hash', () => {
    const apr1 = '$apr1$salt$0123456789abcdefghijkl';
    const sha = '{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=';
    const crypt = 'rl5yZ0MIsnJT.';
    const text = [
      `carol:${apr1}`,
      `dave:${sha}`,
      `erin:${crypt}`,
      'just-a-line-without-colon',
      `:${alice}`,
      `alice:${alice}`,
      `alice:${bob}`,
      `frank:$2y$05$short`,
      'gina:',
    ].join('\n');
    const parsed = parseHtpasswd(text);
    expect([...parsed.entries]).toEqual([['alice', alice]]);
    expect(parsed.rejected).toEqual([
      { line: 1, user: 'carol', reason: 'MD5 (apr1) hash; only bcrypt (htpasswd -B) is accepted' },
      { line: 2, user: 'dave', reason: 'SHA-1 hash; only bcrypt (htpasswd -B) is accepted' },
      { line: 3, user: 'erin', reason: 'not a bcrypt hash; only bcrypt (htpasswd -B) is accepted' },
      { line: 4, user: '', reason: 'not of the form user:hash' },
      { line: 5, user: '', reason: 'empty user name' },
      { line: 7, user: 'alice', reason: 'duplicate of line 6, which is used' },
      { line: 8, user: 'frank', reason: 'malformed bcrypt hash' },
      { line: 9, user: 'gina', reason: 'empty hash' },
    ]);
    const shown = JSON.stringify(parsed.rejected);
    for (const secret of [apr1, sha, crypt, bob, '$2y$05$short', 'just-a-line']) {
      expect(shown).not.toContain(secret);
    }
  });
});
