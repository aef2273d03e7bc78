// Who is calling the management API. Two ways in, both naming an account:
// - `Authorization: Bearer <token>`: one of Berth's own access tokens whose access claim holds
//   `registry:management:*` (ask /auth/token for that scope; only accounts get it), and whose `sub` is
//   the account. A token for pulling or pushing is not a credential here, so one leaked from a
//   `docker pull` cannot manage accounts. Anonymous tokens and tokens of trusted external issuers name
//   no account: refused.
// - `Authorization: Basic` with the account's name and password (robots: `robot+name` and secret),
//   checked by the token service's login, so failures are throttled (429) and logged like /auth/token.
// Every refusal is a 401 with `WWW-Authenticate: Basic realm="<auth.service>"`.
import type { Context } from 'koa';
import type { Account } from '../../auth/model.js';
import type { TokenService } from '../../auth/token-service.js';
import { covers, formatScope, managementAccess } from '../../auth/scope.js';
import { InvalidTokenError } from '../../auth/invalid-token-error.js';
import type { TokenVerifier } from '../../auth/tokens.js';
import type { Logger } from '../../registry/deps.js';
import { UnauthorizedError } from '../../registry/errors.js';
import { AuthChallengeError, basicChallenge } from '../challenges.js';
import { responseAbandonedSignal } from '../body.js';
import { clientAddress, presentedCredentials } from '../credentials.js';

export interface CallerAuthenticatorDeps {
  tokens: Pick<TokenService, 'login'>;
  verifier: Pick<TokenVerifier, 'verifyAccess'>;
  /** The Basic realm: auth.service. */
  realm: string;
  log: Logger;
}

/** Returns the calling account, or throws AuthChallengeError (401) or TooManyRequestsError (429). */
export type CallerAuthenticator = (ctx: Context) => Promise<Account>;

const SCOPE = formatScope([managementAccess]);

export function createCallerAuthenticator(deps: CallerAuthenticatorDeps): CallerAuthenticator {
  const challenge = basicChallenge(deps.realm);
  const refuse = (reason: string) => new AuthChallengeError(reason, challenge);

  async function accountOfToken(ctx: Context, raw: string): Promise<Account> {
    let token;
    try {
      token = await deps.verifier.verifyAccess(raw);
      if (!token.own) throw new InvalidTokenError('tokens of other issuers are not accepted here');
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
      deps.log.warn(
        { event: 'token refused', reason: err.reason, source: clientAddress(ctx), path: ctx.path },
        'token refused',
      );
      throw refuse(`invalid token: ${err.reason}`);
    }
    if (token.subject === '') throw refuse('an anonymous token names no account: log in');
    if (!covers(token.access, [managementAccess])) {
      deps.log.warn(
        {
          event: 'token refused',
          reason: 'no management scope',
          account: token.subject,
          source: clientAddress(ctx),
          path: ctx.path,
        },
        'token refused',
      );
      throw refuse(`the token lacks the scope ${SCOPE}: request a token with scope=${SCOPE}`);
    }
    // The verifier has looked up the account the token was issued to (and refused a namesake).
    if (!token.account) throw refuse('the token names no account');
    return token.account;
  }

  return async function authenticate(ctx) {
    const credentials = presentedCredentials(ctx);
    switch (credentials.scheme) {
      case 'basic':
        try {
          return await deps.tokens.login(
            credentials.username,
            credentials.password,
            clientAddress(ctx),
            responseAbandonedSignal(ctx.res),
          );
        } catch (err) {
          if (err instanceof UnauthorizedError) throw refuse('invalid username or password');
          throw err;
        }
      case 'bearer':
        return accountOfToken(ctx, credentials.token);
      case 'malformed':
        throw refuse('malformed Authorization header');
      case 'none':
        throw refuse('credentials required: Basic (account and password) or a Bearer token');
    }
  };
}
