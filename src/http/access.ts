// The access each route needs, declared in the route table, so authorization is one middleware.
// Scope vocabulary follows the Docker token spec (docs/spec/auth/scope.md).
import type { Context } from 'koa';

export type RepositoryAction = 'pull' | 'push' | 'delete';

export type AccessRequirement =
  | { type: 'repository'; name: string; actions: RepositoryAction[] }
  | { type: 'registry'; name: 'catalog'; actions: ['*'] };

/** Decides whether a request may proceed; throws UnauthorizedError or DeniedError when not. */
export interface Authorizer {
  authorize(ctx: Context, required: readonly AccessRequirement[]): Promise<void>;
}

/** `auth: none`: every request is allowed. */
export const allowEverything: Authorizer = {
  async authorize() {},
};

export const repository = (name: string, ...actions: RepositoryAction[]): AccessRequirement => ({
  type: 'repository',
  name,
  actions,
});

export const catalog: AccessRequirement = { type: 'registry', name: 'catalog', actions: ['*'] };
