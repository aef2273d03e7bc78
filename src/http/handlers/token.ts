// The token endpoint (Docker token spec): GET /auth/token with Basic credentials or anonymously
// (docs/spec/auth/token.md), and the OAuth2 POST form that containerd and buildkit send first
// (docs/spec/auth/oauth.md: grant_type=password | refresh_token).
import type { Context } from 'koa';
import type { TokenGrant, TokenResponse, TokenService } from '../../auth/token-service.js';
import { formatScope } from '../../auth/scope.js';
import { TokenRequestInvalidError, UnauthorizedError } from '../../registry/errors.js';
import { AuthChallengeError, basicChallenge } from '../challenges.js';
import { readCappedBody, responseAbandonedSignal } from '../body.js';
import { clientAddress, presentedCredentials } from '../credentials.js';

/** A token form is a few hundred bytes; anything near this is not one. */
const FORM_MAX_BYTES = 64 * 1024;

const tooLargeForm = () => new TokenRequestInvalidError(`the form exceeds ${FORM_MAX_BYTES} bytes`);

const all = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const first = (value: string | string[] | undefined): string | undefined => all(value)[0];

function noStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}

/**
 * token.md: a failed authentication is a 401. The token endpoint authenticates with Basic, so its
 * 401s challenge for Basic (RFC 9110 11.6.1), in the realm named after the service.
 */
async function withBasicChallenge<T>(realm: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UnauthorizedError && !(err instanceof AuthChallengeError)) {
      const reason = (err.detail as { reason?: string } | undefined)?.reason ?? err.message;
      throw new AuthChallengeError(reason, basicChallenge(realm), err.message);
    }
    throw err;
  }
}

export function tokenHandlers(tokens: TokenService, realm: string) {
  return {
    /** GET /auth/token?service=&scope=&offline_token=&client_id=&account= */
    async get(ctx: Context) {
      const credentials = presentedCredentials(ctx);
      if (credentials.scheme !== 'basic' && credentials.scheme !== 'none') {
        throw new AuthChallengeError('the token endpoint takes Basic credentials', basicChallenge(realm));
      }
      const grant: TokenGrant =
        credentials.scheme === 'basic'
          ? { kind: 'password', username: credentials.username, password: credentials.password }
          : { kind: 'anonymous' };
      const issued = await withBasicChallenge(realm, () =>
        tokens.issue({
          grant,
          service: first(ctx.query.service),
          scopes: all(ctx.query.scope),
          offline: first(ctx.query.offline_token) === 'true',
          account: first(ctx.query.account),
          clientId: first(ctx.query.client_id),
          source: clientAddress(ctx),
          signal: responseAbandonedSignal(ctx.res),
        }),
      );
      noStore(ctx);
      ctx.body = {
        token: issued.token,
        access_token: issued.token,
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt,
        ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
      };
    },

    /** POST /auth/token, application/x-www-form-urlencoded (RFC 6749 4.3 and 6). */
    async post(ctx: Context) {
      if (!ctx.is('application/x-www-form-urlencoded')) {
        throw new TokenRequestInvalidError('expected an application/x-www-form-urlencoded body');
      }
      const form = new URLSearchParams(
        (await readCappedBody(ctx.req, FORM_MAX_BYTES, tooLargeForm)).toString('utf8'),
      );
      const grantType = form.get('grant_type');
      let grant: TokenGrant;
      if (grantType === 'password') {
        grant = {
          kind: 'password',
          username: form.get('username') ?? '',
          password: form.get('password') ?? '',
        };
      } else if (grantType === 'refresh_token') {
        grant = { kind: 'refresh', refreshToken: form.get('refresh_token') ?? '' };
      } else {
        throw new TokenRequestInvalidError('grant_type must be password or refresh_token');
      }
      const issued: TokenResponse = await withBasicChallenge(realm, () =>
        tokens.issue({
          grant,
          service: form.get('service') ?? undefined,
          scopes: form.getAll('scope'),
          offline: form.get('access_type') === 'offline',
          clientId: form.get('client_id') ?? undefined,
          source: clientAddress(ctx),
          signal: responseAbandonedSignal(ctx.res),
        }),
      );
      noStore(ctx);
      ctx.body = {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt,
        scope: formatScope(issued.access),
        ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
      };
    },
  };
}
