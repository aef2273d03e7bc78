// Secret hashing and verification. Stored hashes are self-describing (PHC-like) strings:
//   $scrypt$ln=15,r=8,p=1$<salt>$<hash>   user passwords (salt and hash: unpadded base64)
//   $sha256$<hex>                         robot secrets (generated, 256 random bits)
//   $2a$ / $2b$ / $2y$ ...                bcrypt, imported from htpasswd files as they are
// Verification never throws for a malformed or unknown hash: it answers false.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

interface ScryptCost {
  /** log2(N) */
  ln: number;
  r: number;
  p: number;
}

/**
 * New hashes: N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s). OWASP's cheat sheet now suggests N = 2^17;
 * each hash records its cost, so raising this later leaves existing hashes verifiable.
 */
const SCRYPT: ScryptCost = { ln: 15, r: 8, p: 1 };
const SCRYPT_SALT_BYTES = 16;
const SCRYPT_KEY_BYTES = 32;
/** Bounds on parameters read back from a stored hash, so a corrupt row cannot pin the CPU or memory. */
const SCRYPT_MAX = { ln: 20, r: 32, p: 16, memory: 256 * 1024 * 1024, keyBytes: 128 } as const;

const ROBOT_SECRET_PREFIX = 'berth_';
const ROBOT_SECRET_BYTES = 32;

const SCRYPT_HASH = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
const SHA256_HASH = /^\$sha256\$([0-9a-f]{64})$/;
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

function scryptKey(secret: string, salt: Buffer, keyLength: number, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.ln;
  // scrypt needs a little over 128 * N * r bytes: more than Node's default maxmem (32 MiB) at 2^15, 8.
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 2 * 128 * N * cost.r };
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A salted scrypt hash of a user password, in the `$scrypt$` format above. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await scryptKey(password, salt, SCRYPT_KEY_BYTES, SCRYPT);
  return `$scrypt$ln=${SCRYPT.ln},r=${SCRYPT.r},p=${SCRYPT.p}$${b64(salt)}$${b64(key)}`;
}

/** A new robot secret: 256 random bits, base64url, prefixed `berth_` so leaked ones are recognisable. */
export function newRobotSecret(): string {
  return ROBOT_SECRET_PREFIX + randomBytes(ROBOT_SECRET_BYTES).toString('base64url');
}

/** A generated password for a user: 144 random bits as 24 base64url characters. */
export function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * A robot secret's hash. One fast SHA-256 is right here, unlike for passwords: the secret is 256
 * random bits we generated, so there is no dictionary to guess from and stretching adds nothing.
 */
export function hashRobotSecret(secret: string): string {
  return `$sha256$${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** Whether `secret` matches `hash` (any format above); false for malformed or unknown formats. */
export async function verifySecret(hash: string, secret: string): Promise<boolean> {
  if (hash.startsWith('$scrypt$')) return verifyScrypt(hash, secret);
  if (hash.startsWith('$sha256$')) return verifySha256(hash, secret);
  if (BCRYPT_HASH.test(hash)) return verifyBcrypt(hash, secret);
  return false;
}

/** bcryptjs is loaded only when a bcrypt hash (from an htpasswd file) is first checked. */
async function verifyBcrypt(hash: string, secret: string): Promise<boolean> {
  const { default: bcrypt } = await import('bcryptjs');
  return bcrypt.compare(secret, hash).catch(() => false);
}

async function verifyScrypt(hash: string, secret: string): Promise<boolean> {
  const match = SCRYPT_HASH.exec(hash);
  if (!match) return false;
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < 1 || ln > SCRYPT_MAX.ln || r < 1 || r > SCRYPT_MAX.r || p < 1 || p > SCRYPT_MAX.p) return false;
  if (128 * 2 ** ln * r > SCRYPT_MAX.memory) return false;
  const salt = Buffer.from(match[4] as string, 'base64');
  const expected = Buffer.from(match[5] as string, 'base64');
  if (salt.length === 0 || expected.length < 16 || expected.length > SCRYPT_MAX.keyBytes) return false;
  const actual = await scryptKey(secret, salt, expected.length, { ln, r, p }).catch(() => undefined);
  return actual !== undefined && timingSafeEqual(actual, expected);
}

function verifySha256(hash: string, secret: string): boolean {
  const match = SHA256_HASH.exec(hash);
  if (!match) return false;
  const expected = Buffer.from(match[1] as string, 'hex');
  const actual = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(actual, expected);
}

/** A well-formed scrypt hash that no password produces in practice (its key is all zeros). */
const DUMMY_PASSWORD_HASH = `$scrypt$ln=${SCRYPT.ln},r=${SCRYPT.r},p=${SCRYPT.p}$${b64(
  Buffer.alloc(SCRYPT_SALT_BYTES),
)}$${b64(Buffer.alloc(SCRYPT_KEY_BYTES))}`;
const DUMMY_ROBOT_SECRET_HASH = `$sha256$${'0'.repeat(64)}`;

/**
 * Spends what verifying a real secret of that kind costs, then answers false: used when the account
 * does not exist, so response times do not tell which account names do.
 */
export async function verifyAgainstNothing(secret: string, kind: 'password' | 'robot' = 'password') {
  await verifySecret(kind === 'password' ? DUMMY_PASSWORD_HASH : DUMMY_ROBOT_SECRET_HASH, secret);
  return false as const;
}
