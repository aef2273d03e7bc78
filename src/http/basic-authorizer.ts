// `auth.mode: htpasswd`: HTTP Basic on every request, checked against the htpasswd file. Any valid user
// may do everything (like CNCF Distribution's htpasswd mode); logins go through the login gate.
import type { HtpasswdFile } from '../auth/htpasswd-file.js';
import type { LoginGate } from '../auth/login-gate.js';
import { authState, type Authorizer } from './access.js';
import { AuthChallengeError, basicChallenge } from './challenges.js';
import { responseAbandonedSignal } from './body.js';
import { clientAddress, presentedCredentials } from './credentials.js';

export interface BasicAuthorizerDeps {
  users: HtpasswdFile;
  gate: LoginGate;
  realm: string;
}

export function createBasicAuthorizer({ users, gate, realm }: BasicAuthorizerDeps): Authorizer {
  const challenge = basicChallenge(realm);
  return {
    async authorize(ctx) {
      const credentials = presentedCredentials(ctx);
      if (credentials.scheme !== 'basic')
        throw new AuthChallengeError('basic authentication required', challenge);
      const { username, password } = credentials;
      const ok = await gate.login(
        {
          name: username,
          password,
          source: clientAddress(ctx),
          stamp: users.version(),
          perAccount: true,
          signal: responseAbandonedSignal(ctx.res),
        },
        () => users.verify(username, password),
      );
      if (!ok) throw new AuthChallengeError('invalid username or password', challenge);
      // Every valid htpasswd user may do everything.
      authState(ctx).principal = { kind: 'account', name: username, accountKind: 'user', admin: true };
    },
  };
}
