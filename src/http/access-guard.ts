// The one place where a route's declared access (route-spec.ts RouteAccess) is checked, before its
// input is read or its handler runs:
// - scopes on /v2: the authorizer of the configured auth mode (Docker token spec in token mode);
// - scopes on /api/v1: the management API's authorizer (api-authorizer.ts in token mode; the same
//   as /v2 in modes none and htpasswd, where every admitted caller may do everything); /v1/search
//   (docker search) takes either (see authorizerFor);
// - an account rule (token mode): the caller authenticated as an account, then the rule, checked
//   before the target is looked up, so callers without the right learn nothing of what exists. In
//   modes without accounts, whoever the registry admits passes (none: everyone; htpasswd: its users);
// - open: nothing.
import type { Context } from 'koa';
import type { AccountService } from '../auth/accounts.js';
import { principalOf, type Account } from '../auth/model.js';
import type { Logger } from '../registry/deps.js';
import { DeniedError } from '../registry/errors.js';
import { authState, type Authorizer } from './access.js';
import { clientAddress, presentedCredentials } from './credentials.js';
import type { CallerAuthenticator } from './management/authenticate.js';
import { setCaller } from './management/caller.js';
import { type AccountRule, type Query, type RouteSpec } from './route-spec.js';

export interface AccessGuardDeps {
  /** /v2 routes. */
  authorizer: Authorizer;
  /** /api/v1 routes with scopes. */
  apiAuthorizer: Authorizer;
  /** Token mode: who the caller of an account-rule route is, and their roles. */
  accounts?: { authenticate: CallerAuthenticator; service: Pick<AccountService, 'roleIn'> };
  log: Logger;
}

export type AccessGuard = (
  ctx: Context,
  route: RouteSpec,
  params: Record<string, string>,
  query: Query,
) => Promise<void>;

/** Why `caller` may not do what `rule` guards, or undefined when they may. */
async function refusal(
  rule: AccountRule,
  caller: Account,
  params: Record<string, string>,
  accounts: Pick<AccountService, 'roleIn'>,
): Promise<string | undefined> {
  if (rule === 'authenticated' || caller.admin) return undefined;
  const namespace = params.namespace ?? params.name ?? '';
  switch (rule) {
    case 'admin':
      return 'only global administrators may do this';
    case 'self-or-admin':
      return caller.name === namespace
        ? undefined
        : 'only the account itself or a global administrator may do this';
    case 'namespace-member':
      return (await accounts.roleIn(namespace, caller.name))
        ? undefined
        : `only members of namespace ${namespace} may see it`;
    case 'namespace-admin':
      return (await accounts.roleIn(namespace, caller.name)) === 'admin'
        ? undefined
        : `only administrators of namespace ${namespace} may do this`;
  }
}

export function createAccessGuard(deps: AccessGuardDeps): AccessGuard {
  /**
   * /v2: the registry's. /api/v1: the management API's. /v1 (`docker search`): a registry token when
   * the client brings one (docker asks for `registry:catalog:search` after a login that left an
   * identity token), else the management API's (Basic, or anonymous).
   */
  function authorizerFor(ctx: Context, path: string): Authorizer {
    if (path.startsWith('/v2/')) return deps.authorizer;
    if (path.startsWith('/v1/') && presentedCredentials(ctx).scheme === 'bearer') return deps.authorizer;
    return deps.apiAuthorizer;
  }

  async function checkRule(ctx: Context, rule: AccountRule, params: Record<string, string>) {
    if (!deps.accounts) {
      await deps.authorizer.authorize(ctx, []);
      return;
    }
    const caller = await deps.accounts.authenticate(ctx);
    setCaller(ctx, caller);
    authState(ctx).principal = principalOf(caller);
    const refused = await refusal(rule, caller, params, deps.accounts.service);
    if (!refused) return;
    deps.log.info(
      {
        event: 'access denied',
        account: caller.name,
        source: clientAddress(ctx),
        method: ctx.method,
        path: ctx.path,
      },
      'access denied',
    );
    throw new DeniedError(refused);
  }

  return async (ctx, route, params, query) => {
    const { access } = route;
    if ('open' in access) return;
    if ('account' in access) return checkRule(ctx, access.account, params);
    await authorizerFor(ctx, route.path).authorize(ctx, access.scopes(params, query));
  };
}
