// The key that signs Berth's tokens: a PEM private key (EC P-256/P-384 or RSA), loaded from the
// configured file or generated on first start and kept with the data (mode 0600).
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export type SigningAlgorithm = 'ES256' | 'ES384' | 'RS256';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  algorithm: SigningAlgorithm;
  /** libtrust key id of the public key, as CNCF Distribution expects in the JWT `kid` header. */
  keyId: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key id: the first 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, base32, in
 * twelve groups of four joined by ':' (github.com/docker/libtrust util.go keyIDFromCryptoKey).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)!.join(':');
}

/** The JWT algorithm a public or private key signs with; undefined for key types tokens cannot use. */
export function algorithmsFor(key: KeyObject): string[] {
  if (key.asymmetricKeyType === 'rsa') return ['RS256', 'RS384', 'RS512'];
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return ['ES256'];
    if (curve === 'secp384r1') return ['ES384'];
    if (curve === 'secp521r1') return ['ES512'];
  }
  return [];
}

function fromPrivateKey(privateKey: KeyObject, source: string): SigningKey {
  const algorithm = algorithmsFor(privateKey)[0];
  if (algorithm !== 'ES256' && algorithm !== 'ES384' && algorithm !== 'RS256') {
    throw new Error(`${source}: token signing needs an EC P-256, EC P-384 or RSA private key`);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, algorithm, keyId: libtrustKeyId(publicKey) };
}

/**
 * Reads the PEM key at `path`; when `generate` is set and the file is missing, creates an EC P-256 key
 * there. The key is written to a temporary file, flushed, then linked into place: a process starting at
 * the same moment (another replica on the same data directory) reads either no key or the whole key,
 * never half of one, and the first link wins (later ones read the winner's key).
 */
export function loadSigningKey(path: string, generate: boolean): SigningKey {
  if (!existsSync(path)) {
    if (!generate) throw new Error(`token signing key ${path} does not exist`);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, pem);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temporary, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(temporary);
    }
  }
  return fromPrivateKey(createPrivateKey(readFileSync(path)), path);
}
