// WWW-Authenticate challenges (RFC 9110 11.6.1). Token auth follows the Docker token spec
// (docs/spec/auth/token.md): Bearer realm="<token endpoint>",service="<service>",scope="<scope>" and,
// per RFC 6750 3.1, error="invalid_token" or error="insufficient_scope" when a token was presented.
import type { Context } from 'koa';
import { formatScope, type Access } from '../auth/scope.js';
import { UnauthorizedError } from '../registry/errors.js';

/** A 401 that tells the client how to authenticate. */
export class AuthChallengeError extends UnauthorizedError {
  constructor(
    reason: string,
    readonly challenge: string,
    message?: string,
  ) {
    super(reason, message);
  }
}

const quoted = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;

export interface BearerChallenge {
  realm: string;
  service: string;
  scope?: readonly Access[];
  error?: 'invalid_token' | 'insufficient_scope';
}

export function bearerChallenge({ realm, service, scope, error }: BearerChallenge): string {
  const params = [`realm=${quoted(realm)}`, `service=${quoted(service)}`];
  if (scope && scope.length > 0) params.push(`scope=${quoted(formatScope(scope))}`);
  if (error) params.push(`error=${quoted(error)}`);
  return `Bearer ${params.join(',')}`;
}

export const basicChallenge = (realm: string) => `Basic realm=${quoted(realm)}`;

/** The token endpoint's URL: the configured realm, else this request's scheme and host. */
export const tokenRealm = (ctx: Context, configured: string | null): string =>
  configured ?? `${ctx.protocol}://${ctx.host}/auth/token`;
