// The token endpoint's logic (Docker token spec docs/spec/auth/token.md and oauth.md), free of HTTP:
// authenticate the grant (anonymous, password, or refresh token), intersect the requested scopes with
// what the account may do, and mint the JWTs. Failed logins are throttled and logged without secrets.
import { TokenRequestInvalidError, TooManyRequestsError, UnauthorizedError } from '../registry/errors.js';
import type { Logger } from '../registry/deps.js';
import type { CheckLimiter } from './check-limiter.js';
import type { LoginThrottle } from './login-throttle.js';
import { createVerifiedLogins } from './verified-logins.js';
import { ANONYMOUS, principalOf, subjectOf, type Account, type Principal } from './model.js';
import type { AccessPolicy } from './policy.js';
import { formatScope, missing, parseScopes, type Access } from './scope.js';
import { InvalidTokenError, type TokenIssuer, type TokenVerifier } from './tokens.js';

export type TokenGrant =
  | { kind: 'anonymous' }
  | { kind: 'password'; username: string; password: string }
  | { kind: 'refresh'; refreshToken: string };

export interface TokenRequest {
  grant: TokenGrant;
  /** The `service` parameter; must name this registry's service when given. */
  service: string | undefined;
  /** `scope` values as sent (repeated parameters, or space-separated in one). */
  scopes: readonly string[];
  /** offline_token=true (GET) or access_type=offline (POST): also return a refresh token. */
  offline: boolean;
  /** The `account` parameter: when given, it must match the authenticated username. */
  account?: string;
  clientId?: string;
  /** The client's address, for throttling and logs. */
  source: string;
  /** Aborted when the client goes away before the answer. */
  signal?: AbortSignal;
}

export interface TokenResponse {
  token: string;
  expiresIn: number;
  issuedAt: string;
  access: Access[];
  refreshToken?: string;
}

/** What the token service reads of the account directory. */
export interface TokenAccounts {
  authenticate(name: string, secret: string): Promise<Account | undefined>;
  getAccount(name: string): Account | undefined;
}

export interface TokenServiceDeps {
  service: string;
  accounts: TokenAccounts;
  policy: AccessPolicy;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  throttle: LoginThrottle;
  checks: CheckLimiter;
  clock: () => number;
  log: Logger;
}

/** How long a verified password spares the next login of the same account its slow hash. */
const VERIFIED_LOGIN_TTL_MS = 60_000;

/** A remembered login counts only while the account's credentials and identity are unchanged. */
const stampOf = (account: Account) => `${account.credentialVersion}:${account.createdAt}`;

export function createTokenService(deps: TokenServiceDeps) {
  const { accounts, log, throttle } = deps;
  const verified = createVerifiedLogins({ ttlMs: VERIFIED_LOGIN_TTL_MS, clock: deps.clock });

  /**
   * Checks a username and password (or robot secret), with throttling; shared with the management
   * API's Basic auth. `signal` aborts a check still waiting for its turn (the client went away).
   */
  async function login(
    username: string,
    password: string,
    source: string,
    signal?: AbortSignal,
  ): Promise<Account> {
    const known = accounts.getAccount(username);
    // Verified a moment ago with the same credential version: no hashing, and no throttling (a
    // guess that matches is the password itself, so others' failures cannot lock the owner out).
    if (known && verified.recall(username, password, stampOf(known))) return known;
    // Robot secrets are 256 random bits: guessing one is hopeless, and a per-account limit would only
    // let anyone lock a CI robot out. Their failures count against the address alone.
    const attempt = { account: known?.kind === 'robot' ? undefined : username, source };
    const wait = throttle.retryAfterSeconds(attempt);
    if (wait > 0) {
      log.warn(
        { event: 'login throttled', account: username, source, retryAfterSeconds: wait },
        'login refused',
      );
      throw new TooManyRequestsError(wait);
    }
    const account = await verified.shared(
      username,
      password,
      () => deps.checks.run(() => accounts.authenticate(username, password), signal),
      signal,
    );
    if (!account) {
      throttle.recordFailure(attempt);
      log.warn({ event: 'login failed', account: username, source }, 'login failed');
      // Clients print the message (docker: "unauthorized: invalid username or password").
      throw new UnauthorizedError('invalid username or password', 'invalid username or password');
    }
    throttle.recordSuccess(attempt);
    verified.remember(username, password, stampOf(account));
    return account;
  }

  async function principalFor({
    grant,
    source,
    signal,
  }: TokenRequest): Promise<{ principal: Principal; account?: Account }> {
    if (grant.kind === 'anonymous') return { principal: ANONYMOUS };
    if (grant.kind === 'password') {
      const account = await login(grant.username, grant.password, source, signal);
      return { principal: principalOf(account), account };
    }
    let claims;
    try {
      claims = deps.verifier.verifyRefresh(grant.refreshToken);
    } catch (err) {
      const reason = err instanceof InvalidTokenError ? err.reason : 'invalid refresh token';
      log.warn({ event: 'refresh token refused', source, reason }, 'login failed');
      throw new UnauthorizedError(`invalid refresh token: ${reason}`);
    }
    const account = accounts.getAccount(claims.name);
    const same =
      account?.credentialVersion === claims.credentialVersion && account.createdAt === claims.createdAt;
    if (!account || !same) {
      log.warn(
        { event: 'refresh token refused', account: claims.name, source, reason: 'revoked' },
        'login failed',
      );
      throw new UnauthorizedError('refresh token revoked');
    }
    return { principal: principalOf(account), account };
  }

  return {
    login,

    async issue(request: TokenRequest): Promise<TokenResponse> {
      if (request.service !== undefined && request.service !== deps.service) {
        throw new TokenRequestInvalidError(`this token service issues tokens for "${deps.service}"`);
      }
      const { principal, account } = await principalFor(request);
      if (
        request.account !== undefined &&
        request.account !== '' &&
        account &&
        request.account !== account.name
      ) {
        throw new UnauthorizedError('the account parameter does not match the credentials');
      }
      const requested = parseScopes(request.scopes);
      const access = deps.policy.grant(principal, requested).filter((a) => a.actions.length > 0);
      const refused = missing(access, requested);
      if (refused.length > 0) {
        log.info(
          {
            event: 'access denied',
            account: subjectOf(principal) || '(anonymous)',
            source: request.source,
            refused: formatScope(refused),
          },
          'token grants less than requested',
        );
      }
      const issued = deps.issuer.issueAccess(subjectOf(principal), access);
      log.info(
        {
          event: 'token issued',
          account: subjectOf(principal) || '(anonymous)',
          grant: request.grant.kind,
          clientId: request.clientId,
          scope: formatScope(access),
        },
        'token issued',
      );
      // oauth.md: a refresh grant answers with the refresh token it was given.
      const refreshToken =
        request.grant.kind === 'refresh'
          ? request.grant.refreshToken
          : request.offline && account
            ? deps.issuer.issueRefresh(account)
            : undefined;
      return {
        token: issued.token,
        expiresIn: issued.expiresIn,
        issuedAt: issued.issuedAt.toISOString(),
        access,
        ...(refreshToken ? { refreshToken } : {}),
      };
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
