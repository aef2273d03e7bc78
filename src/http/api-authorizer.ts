// The authorizer of the management API's repository routes (/api/v1, scope access) in token mode.
// A browser or a script calls the API with the account's own credentials rather than with a token
// per scope: `Basic` (name and password, robots `robot+name` and secret, throttled like logins) or a
// Bearer token holding `registry:management:*` (management/authenticate.ts); no credentials is the
// anonymous caller, who sees public namespaces. What the caller may do is then decided by the same
// access policy as the token service's grants (src/auth/policy.ts), so /v2 and /api/v1 never disagree.
// Refusals: 401 with a Basic challenge for an anonymous caller, 403 DENIED for an account.
import { ANONYMOUS, principalOf, type Principal } from '../auth/model.js';
import type { AccessPolicy } from '../auth/policy.js';
import { catalogAccess, formatScope, type Access } from '../auth/scope.js';
import { DeniedError } from '../registry/errors.js';
import { authState, type Authorizer } from './access.js';
import { AuthChallengeError, basicChallenge } from './challenges.js';
import { presentedCredentials } from './credentials.js';
import { setCaller } from './management/caller.js';
import type { CallerAuthenticator } from './management/authenticate.js';

export interface ApiAuthorizerDeps {
  authenticate: CallerAuthenticator;
  policy: AccessPolicy;
  /** The Basic realm: auth.service. */
  realm: string;
}

const listsRepositories = (required: readonly Access[]) =>
  required.some((a) => a.type === catalogAccess.type && a.name === catalogAccess.name);

export function createApiAuthorizer({ authenticate, policy, realm }: ApiAuthorizerDeps): Authorizer {
  return {
    async authorize(ctx, required) {
      const anonymous = presentedCredentials(ctx).scheme === 'none';
      let principal: Principal = ANONYMOUS;
      if (!anonymous) {
        const caller = await authenticate(ctx);
        setCaller(ctx, caller);
        principal = principalOf(caller);
      }
      const state = authState(ctx);
      state.principal = principal;
      state.readableRepositories = () => policy.readable(principal);
      if (await policy.allows(principal, required)) {
        // Administrators read everything: no filter, so listings page in the database.
        const everything = principal.kind === 'account' && principal.admin;
        if (listsRepositories(required) && !everything) state.readable = await policy.readable(principal);
        return;
      }
      const refused = formatScope(required);
      if (anonymous) {
        throw new AuthChallengeError(`credentials required for ${refused}`, basicChallenge(realm));
      }
      throw new DeniedError(`not allowed: ${refused}`);
    },
  };
}
