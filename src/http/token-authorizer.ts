// `auth.mode: token`: every registry request carries a Bearer JWT from Berth's token service (or a
// trusted issuer) whose access claim covers the route's requirements (Docker token spec).
// - no token: 401 with a Bearer challenge naming the scope to ask for;
// - a bad token (tampered, expired, another service or issuer, alg none, or one of Berth's own tokens
//   whose account was deleted, even if an account of the same name exists now): 401
//   error="invalid_token";
// - a good token that lacks the scope: 401 error="insufficient_scope" when the caller could get it by
//   asking (or is anonymous, so the client should log in); 403 DENIED when the account may not.
import { ANONYMOUS, principalOf, type Principal } from '../auth/model.js';
import type { AccessPolicy } from '../auth/policy.js';
import { catalogAccess, covers, formatScope, missing, repositoryAccess, type Access } from '../auth/scope.js';
import { InvalidTokenError } from '../auth/invalid-token-error.js';
import type { TokenVerifier, VerifiedAccessToken } from '../auth/tokens.js';
import type { Logger } from '../registry/deps.js';
import { DeniedError } from '../registry/errors.js';
import { authState, type Authorizer } from './access.js';
import { AuthChallengeError, bearerChallenge, tokenRealm } from './challenges.js';
import { clientAddress, presentedCredentials } from './credentials.js';

export interface TokenAuthorizerDeps {
  verifier: TokenVerifier;
  policy: AccessPolicy;
  service: string;
  /** auth.realm; null derives it from each request. */
  realm: string | null;
  log: Logger;
}

/** Whether the route lists repositories (the catalog), so that it needs the caller's `readable` filter. */
const listsRepositories = (required: readonly Access[]) =>
  required.some((a) => a.type === catalogAccess.type && a.name === catalogAccess.name);

/** The repositories an access claim lets its bearer pull. */
const pullableWith =
  (granted: readonly Access[]) =>
  (repository: string): boolean =>
    covers(granted, [repositoryAccess(repository, 'pull')]);

export function createTokenAuthorizer(deps: TokenAuthorizerDeps): Authorizer {
  const { verifier, policy, log } = deps;

  /** The verifier has checked that an own token's account is the one it was issued to. */
  function principalFor(token: VerifiedAccessToken): Principal {
    if (!token.own) return { kind: 'external', subject: token.subject, issuer: token.issuer };
    return token.account ? principalOf(token.account) : ANONYMOUS;
  }

  return {
    async authorize(ctx, required) {
      const challenge = (error?: 'invalid_token' | 'insufficient_scope') =>
        bearerChallenge({
          realm: tokenRealm(ctx, deps.realm),
          service: deps.service,
          scope: required,
          error,
        });
      const credentials = presentedCredentials(ctx);
      if (credentials.scheme !== 'bearer') {
        throw new AuthChallengeError('a bearer token from the token service is required', challenge());
      }
      let token: VerifiedAccessToken;
      let principal: Principal;
      try {
        token = await verifier.verifyAccess(credentials.token);
        principal = principalFor(token);
      } catch (err) {
        if (!(err instanceof InvalidTokenError)) throw err;
        log.warn(
          { event: 'token refused', reason: err.reason, source: clientAddress(ctx), path: ctx.path },
          'token refused',
        );
        throw new AuthChallengeError(`invalid token: ${err.reason}`, challenge('invalid_token'));
      }
      const state = authState(ctx);
      state.principal = principal;
      // What the account may pull, not only what this token names; an external principal has no
      // account, so what its token grants is all it may pull.
      state.readableRepositories = async () =>
        principal.kind === 'external' ? pullableWith(token.access) : policy.readable(principal);
      if (covers(token.access, required)) {
        // Read only for the routes that list: the filter costs queries, every other request none.
        if (listsRepositories(required)) {
          state.readable = principal.kind === 'external' ? () => true : await policy.readable(principal);
        }
        return;
      }

      const lacking = formatScope(missing(token.access, required));
      if (principal.kind === 'account' && !(await policy.allows(principal, required))) {
        log.info(
          { event: 'access denied', account: principal.name, source: clientAddress(ctx), refused: lacking },
          'access denied',
        );
        throw new DeniedError(`not allowed: ${lacking}`);
      }
      throw new AuthChallengeError(`the token does not grant ${lacking}`, challenge('insufficient_scope'));
    },
  };
}
