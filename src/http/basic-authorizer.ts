// `auth.mode: htpasswd`: HTTP Basic on every request, checked against the htpasswd file. Any valid user
// may do everything (like CNCF Distribution's htpasswd mode); failures are throttled and logged.
import type { Context } from 'koa';
import type { HtpasswdFile } from '../auth/htpasswd-file.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { Logger } from '../registry/deps.js';
import { TooManyRequestsError } from '../registry/errors.js';
import { authState, type Authorizer } from './access.js';
import { AuthChallengeError, basicChallenge } from './challenges.js';
import { responseAbandonedSignal } from './body.js';
import { clientAddress, presentedCredentials } from './credentials.js';

export interface BasicAuthorizerDeps {
  users: HtpasswdFile;
  throttle: LoginThrottle;
  realm: string;
  log: Logger;
}

export function createBasicAuthorizer({ users, throttle, realm, log }: BasicAuthorizerDeps): Authorizer {
  const challenge = basicChallenge(realm);
  return {
    async authorize(ctx) {
      const credentials = presentedCredentials(ctx);
      if (credentials.scheme !== 'basic')
        throw new AuthChallengeError('basic authentication required', challenge);
      const { username, password } = credentials;
      const attempt = { account: username, source: clientAddress(ctx) };
      // Credentials verified a moment ago pass even while others' failures throttle this account or
      // address (a guess that matches them is the password itself).
      if (users.recall(username, password)) return grantAll(ctx, username);
      const wait = throttle.retryAfterSeconds(attempt);
      if (wait > 0) {
        log.warn({ event: 'login throttled', ...attempt, retryAfterSeconds: wait }, 'login refused');
        throw new TooManyRequestsError(wait);
      }
      const signal = responseAbandonedSignal(ctx.res);
      if (!(await users.authenticate(username, password, signal))) {
        throttle.recordFailure(attempt);
        log.warn({ event: 'login failed', ...attempt }, 'login failed');
        throw new AuthChallengeError('invalid username or password', challenge);
      }
      throttle.recordSuccess(attempt);
      grantAll(ctx, username);
    },
  };
}

/** Every valid htpasswd user may do everything. */
function grantAll(ctx: Context, username: string): void {
  authState(ctx).principal = { kind: 'account', name: username, accountKind: 'user', admin: true };
}
