// Berth's JWTs (Docker token spec, docs/spec/auth/jwt.md): access tokens carry iss, sub, aud, exp,
// nbf, iat, jti and the `access` claim; refresh tokens (offline_token / OAuth2 refresh_token) carry
// `token_use: "refresh"`, the account's credential version and creation time, so a new password, a
// rotated secret, or deleting the account (even if one of the same name is made later) voids them.
// An access token for an account also carries its creation time (`ca`, a claim CNCF Distribution
// ignores): Berth accepts one of its own access tokens only while the account it names is the very
// account it was issued to, so deleting an account voids its tokens even if the name is taken again.
// Anonymous tokens (`sub: ""`) carry no `ca`.
import jwt from 'jsonwebtoken';
import { InvalidTokenError } from './invalid-token-error.js';
import type { KeyObject } from 'node:crypto';
import type { Account } from './model.js';
import type { Access } from './scope.js';
import type { SigningKey } from './signing-key.js';
import { algorithmsFor } from './signing-key.js';

export interface TokenIssuerOptions {
  key: SigningKey;
  issuer: string;
  service: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  clock: () => number;
  newId: () => string;
}

/** The account a refresh token speaks for, as it was when the token was issued. */
export interface RefreshSubject {
  name: string;
  credentialVersion: number;
  createdAt: number;
}

/** The account an access token speaks for: its name and creation time tell it from a later namesake. */
export type AccessSubject = Pick<Account, 'name' | 'createdAt'>;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export function createTokenIssuer(options: TokenIssuerOptions) {
  const { key, issuer, service, clock, newId } = options;
  const sign = (payload: object) =>
    jwt.sign(payload, key.privateKey, { algorithm: key.algorithm, keyid: key.keyId });
  return {
    /**
     * An access token granting exactly `access` (already intersected with what the account may do),
     * for `account`, or for anonymous callers when it is undefined.
     */
    issueAccess(account: AccessSubject | undefined, access: readonly Access[]): IssuedToken {
      const now = clock();
      const iat = seconds(now);
      const token = sign({
        iss: issuer,
        sub: account?.name ?? '',
        aud: service,
        exp: iat + options.accessTtlSeconds,
        nbf: iat,
        iat,
        jti: newId(),
        access,
        ...(account ? { ca: account.createdAt } : {}),
      });
      return { token, expiresIn: options.accessTtlSeconds, issuedAt: new Date(now) };
    },

    issueRefresh(account: RefreshSubject): string {
      const iat = seconds(clock());
      return sign({
        iss: issuer,
        sub: account.name,
        aud: service,
        exp: iat + options.refreshTtlSeconds,
        nbf: iat,
        iat,
        jti: newId(),
        token_use: 'refresh',
        cv: account.credentialVersion,
        ca: account.createdAt,
      });
    },
  };
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>;

// Declared apart so that code which only checks for it does not load the JWT library.
export { InvalidTokenError };

/** Where the keys of one accepted issuer come from. */
export interface TrustedIssuer {
  issuer: string;
  service: string;
  /** Public keys that may have signed a token with this `kid` (all of them when kid is absent). */
  keysFor(kid: string | undefined): Promise<KeyObject[]>;
}

export interface VerifiedAccessToken {
  issuer: string;
  subject: string;
  access: Access[];
  /** Issued by Berth itself (not a trusted external issuer). */
  own: boolean;
  expiresAt: number;
  /**
   * One of Berth's own tokens for an account: that account, as it is now (looked up on every
   * verification, never cached with the token). Undefined for anonymous and external tokens.
   */
  account?: Account;
}

/** The verified claims of a token, remembered until it expires. */
type VerifiedClaims = Omit<VerifiedAccessToken, 'account'> & { accountCreatedAt?: number };

export interface TokenVerifierOptions {
  own: { key: SigningKey; issuer: string; service: string };
  trusted: readonly TrustedIssuer[];
  /** The account directory: an own token counts only while the account it was issued to exists. */
  accounts: { getAccount(name: string): Promise<Account | undefined> };
  clockSkewSeconds: number;
  clock: () => number;
  /** Verified tokens remembered until they expire, so each is checked cryptographically once. */
  cacheSize?: number;
}

function isAccessList(value: unknown): value is Access[] {
  return (
    Array.isArray(value) &&
    value.every(
      (a: Partial<Access>) =>
        typeof a === 'object' &&
        a !== null &&
        typeof a.type === 'string' &&
        typeof a.name === 'string' &&
        Array.isArray(a.actions) &&
        a.actions.every((x) => typeof x === 'string'),
    )
  );
}

export function createTokenVerifier(options: TokenVerifierOptions) {
  const { own, trusted, clock } = options;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, VerifiedClaims>();

  function verifyWith(
    token: string,
    keys: readonly KeyObject[],
    issuer: string,
    audience: string,
  ): jwt.JwtPayload {
    if (keys.length === 0) throw new InvalidTokenError('no key of the issuer matches the token');
    let lastError: unknown;
    for (const key of keys) {
      try {
        const payload = jwt.verify(token, key, {
          algorithms: algorithmsFor(key) as jwt.Algorithm[],
          issuer,
          audience,
          clockTolerance: options.clockSkewSeconds,
          clockTimestamp: seconds(clock()),
        });
        if (typeof payload === 'string') throw new InvalidTokenError('token payload is not a JSON object');
        return payload;
      } catch (err) {
        lastError = err;
      }
    }
    if (lastError instanceof InvalidTokenError) throw lastError;
    const message = lastError instanceof Error ? lastError.message : 'verification failed';
    throw new InvalidTokenError(message);
  }

  function decodeUnverified(token: string): { kid?: string; iss?: string } {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === 'string') throw new InvalidTokenError('malformed token');
    return { kid: decoded.header.kid, iss: decoded.payload.iss };
  }

  function requireOwn(token: string): jwt.JwtPayload {
    return verifyWith(token, [own.key.publicKey], own.issuer, own.service);
  }

  /** The claims plus the account an own token names, which must be the one it was issued to. */
  async function withAccount(claims: VerifiedClaims): Promise<VerifiedAccessToken> {
    const { accountCreatedAt, ...verified } = claims;
    if (!verified.own || verified.subject === '') return verified;
    const account = await options.accounts.getAccount(verified.subject);
    if (!account) throw new InvalidTokenError('the token names an account that no longer exists');
    if (account.createdAt !== accountCreatedAt) {
      throw new InvalidTokenError("the token's account was deleted");
    }
    return { ...verified, account };
  }

  async function verifyClaims(token: string): Promise<VerifiedClaims> {
    const cached = cache.get(token);
    if (cached && cached.expiresAt + options.clockSkewSeconds * 1000 > clock()) return cached;
    if (cached) cache.delete(token);

    const { kid, iss } = decodeUnverified(token);
    let payload: jwt.JwtPayload;
    let ownToken = false;
    if (iss === own.issuer) {
      payload = requireOwn(token);
      ownToken = true;
    } else {
      const external = trusted.find((t) => t.issuer === iss);
      if (!external) throw new InvalidTokenError('token from an untrusted issuer');
      payload = verifyWith(token, await external.keysFor(kid), external.issuer, external.service);
    }
    if (payload.token_use !== undefined) throw new InvalidTokenError('not an access token');
    if (typeof payload.exp !== 'number') throw new InvalidTokenError('token has no expiry');
    const access = payload.access ?? [];
    if (!isAccessList(access)) throw new InvalidTokenError('malformed access claim');
    const subject = payload.sub ?? '';
    if (ownToken && subject !== '' && typeof payload.ca !== 'number') {
      throw new InvalidTokenError("the token does not name its account's creation time");
    }
    const verified: VerifiedClaims = {
      issuer: payload.iss ?? '',
      subject,
      access,
      own: ownToken,
      expiresAt: payload.exp * 1000,
      ...(ownToken && subject !== '' ? { accountCreatedAt: payload.ca as number } : {}),
    };
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(token, verified);
    return verified;
  }

  return {
    /**
     * Verifies a Bearer token presented to the registry; throws InvalidTokenError. The signature and
     * claims are checked once per token (then cached); the account an own token names, every time.
     */
    async verifyAccess(token: string): Promise<VerifiedAccessToken> {
      return withAccount(await verifyClaims(token));
    },

    /** Verifies one of Berth's refresh tokens; throws InvalidTokenError. */
    verifyRefresh(token: string): RefreshSubject {
      decodeUnverified(token);
      const payload = requireOwn(token);
      const { token_use: use, cv, ca, sub } = payload;
      if (use !== 'refresh' || typeof cv !== 'number' || typeof ca !== 'number' || !sub) {
        throw new InvalidTokenError('not a refresh token');
      }
      return { name: sub, credentialVersion: cv, createdAt: ca };
    },
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
