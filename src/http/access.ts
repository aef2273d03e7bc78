// The access each route needs, declared in the route table, so authorization is one middleware.
// Scope vocabulary follows the Docker token spec (docs/spec/auth/scope.md), defined in src/auth/scope.ts.
import type { Context } from 'koa';
import type { Principal } from '../auth/model.js';
import type { Access } from '../auth/scope.js';

export type { RepositoryAction } from '../auth/scope.js';
export { catalogAccess as catalog, repositoryAccess as repository } from '../auth/scope.js';

export type AccessRequirement = Access;

/** Decides whether a request may proceed; throws UnauthorizedError or DeniedError when not. */
export interface Authorizer {
  authorize(ctx: Context, required: readonly AccessRequirement[]): Promise<void>;
}

/** `auth.mode: none`: every request is allowed. */
export const allowEverything: Authorizer = {
  async authorize() {},
};

/** What an authorizer leaves on ctx.state for handlers: listings show only what the caller may read. */
export interface AuthState {
  principal?: Principal;
  readable?: (repository: string) => boolean;
}

export const authState = (ctx: Context): AuthState => ctx.state as AuthState;
