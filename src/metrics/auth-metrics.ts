// Token issuance and access denials, by wrapping what server.ts composes (src/auth-composition.ts):
// the token service (issue) and the registry routes' Authorizer. Labels are fixed words: never a
// user name, a scope, a repository or a token.
import { Counter, type Registry } from 'prom-client';
import type { TokenRequest, TokenResponse } from '../auth/token-service.js';
import { allowEverything, type Authorizer } from '../http/access.js';
import { AuthChallengeError } from '../http/challenges.js';
import {
  DeniedError,
  RegistryError,
  TokenRequestInvalidError,
  TooManyRequestsError,
} from '../registry/errors.js';

interface Issuing {
  issue(request: TokenRequest): Promise<TokenResponse>;
}

/** issued, or why not: invalid_request (400), unauthorized, toomanyrequests, unavailable, error. */
function outcomeOf(err: unknown): string {
  if (err instanceof TokenRequestInvalidError) return 'invalid_request';
  if (err instanceof RegistryError) return err.code.toLowerCase();
  return 'error';
}

const CHALLENGE_ERROR = /error="(invalid_token|insufficient_scope)"/;

/** The status and kind of an authorizer's refusal, or undefined for other failures. */
function denialOf(err: unknown, presented: boolean): { status: string; reason: string } | undefined {
  if (err instanceof AuthChallengeError) {
    const reason = CHALLENGE_ERROR.exec(err.challenge)?.[1];
    return {
      status: '401',
      reason: reason ?? (presented ? 'invalid_credentials' : 'credentials_required'),
    };
  }
  if (err instanceof DeniedError) return { status: '403', reason: 'denied' };
  if (err instanceof TooManyRequestsError) return { status: '429', reason: 'too_many_failed_logins' };
  return undefined;
}

export function createAuthMetrics(registry: Registry) {
  const tokenRequests = new Counter({
    name: 'berth_token_requests_total',
    help: 'Token endpoint requests by grant (anonymous, password, refresh) and outcome (issued, or the reason it was not)',
    labelNames: ['grant', 'outcome'],
    registers: [registry],
  });
  const denials = new Counter({
    name: 'berth_auth_denials_total',
    help: 'Registry requests refused by authorization, by status (401: authenticate, 403: not allowed, 429: login limit) and reason',
    labelNames: ['status', 'reason'],
    registers: [registry],
  });

  return {
    instrumentTokens<T extends Issuing>(tokens: T): T {
      return {
        ...tokens,
        async issue(request: TokenRequest): Promise<TokenResponse> {
          const grant = request.grant.kind;
          try {
            const issued = await tokens.issue(request);
            tokenRequests.inc({ grant, outcome: 'issued' });
            return issued;
          } catch (err) {
            tokenRequests.inc({ grant, outcome: outcomeOf(err) });
            throw err;
          }
        },
      };
    },

    /** auth.mode none refuses nothing: its authorizer is returned as it is. */
    instrumentAuthorizer(authorizer: Authorizer): Authorizer {
      if (authorizer === allowEverything) return authorizer;
      return {
        async authorize(ctx, required) {
          try {
            await authorizer.authorize(ctx, required);
          } catch (err) {
            const denial = denialOf(err, ctx.get('Authorization') !== '');
            if (denial) denials.inc(denial);
            throw err;
          }
        },
      };
    },
  };
}
