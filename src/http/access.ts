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

/** What an authorizer leaves on ctx.state for handlers. */
export interface AuthState {
  principal?: Principal;
  /**
   * Set when access is checked repository by repository (token mode): loads the filter of the
   * repositories the caller may pull, for a cross-repository mount without `from`, which may take the
   * blob only from one of those. Undefined: every repository is readable.
   */
  readableRepositories?: () => Promise<(repository: string) => boolean>;
  /** Set for routes that list repositories (the catalog): it shows only those this holds for. */
  readable?: (repository: string) => boolean;
}

export const authState = (ctx: Context): AuthState => ctx.state as AuthState;
