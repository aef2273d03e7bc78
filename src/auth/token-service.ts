// The token endpoint's logic (Docker token spec docs/spec/auth/token.md and oauth.md), free of HTTP:
// authenticate the grant (anonymous, password, or refresh token), intersect the requested scopes with
// what the account may do, and mint the JWTs. Failed logins are throttled and logged without secrets.
import { TokenRequestInvalidError, UnauthorizedError } from '../registry/errors.js';
import type { Logger } from '../registry/deps.js';
import type { LoginGate } from './login-gate.js';
import { ANONYMOUS, principalOf, subjectOf, type Account, type Principal } from './model.js';
import type { AccessPolicy } from './policy.js';
import { formatScope, missing, parseScopeList, type Access } from './scope.js';
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
  getAccount(name: string): Promise<Account | undefined>;
}

export interface TokenServiceDeps {
  service: string;
  accounts: TokenAccounts;
  policy: AccessPolicy;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  gate: LoginGate;
  log: Logger;
}

/** A remembered login counts only while the account's credentials and identity are unchanged. */
const stampOf = (account: Account | undefined) =>
  account ? `${account.credentialVersion}:${account.createdAt}` : 'no such account';

export function createTokenService(deps: TokenServiceDeps) {
  const { accounts, log } = deps;

  /**
   * Checks a username and password (or robot secret) through the login gate; shared with the
   * management API's Basic auth. `signal` aborts a check still waiting for its turn.
   */
  async function login(
    username: string,
    password: string,
    source: string,
    signal?: AbortSignal,
  ): Promise<Account> {
    const known = await accounts.getAccount(username);
    const ok = await deps.gate.login(
      {
        name: username,
        password,
        source,
        stamp: stampOf(known),
        // Robot secrets are 256 random bits: guessing one is hopeless, and a per-account limit would
        // only let anyone lock a CI robot out. Their failures count against the address alone.
        perAccount: known?.kind !== 'robot',
        signal,
      },
      async () => (await accounts.authenticate(username, password)) !== undefined,
    );
    const account = ok ? await accounts.getAccount(username) : undefined;
    // Clients print the message (docker: "unauthorized: invalid username or password").
    if (!account) throw new UnauthorizedError('invalid username or password', 'invalid username or password');
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
    const account = await accounts.getAccount(claims.name);
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
      // Asking for more than allowed is not an error (token.md); a scope naming a repository the
      // registry would refuse grants nothing and is logged, like a malformed one (scope.ts).
      const { access: requested, ignored } = parseScopeList(request.scopes);
      if (ignored.length > 0) {
        log.info(
          {
            event: 'scope ignored',
            account: subjectOf(principal) || '(anonymous)',
            source: request.source,
            ignored: ignored.slice(0, 10).map((item) => item.slice(0, 300)),
          },
          'malformed scopes or invalid repository names ignored',
        );
      }
      const access = (await deps.policy.grant(principal, requested)).filter((a) => a.actions.length > 0);
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
      const issued = deps.issuer.issueAccess(account, access);
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
