// The management API's route table (auth.mode token only): JSON over HTTP under /api/v1, every
// response `Cache-Control: no-store`. Each route declares who may call it; one middleware
// authenticates the caller (authenticate.ts), checks that rule (403 DENIED when it fails), runs the
// handler and records the change in the log (method, path, caller: never a body, so never a secret).
//   authenticated     any account
//   admin             a global administrator
//   self-or-admin     the user named in the path, or a global administrator
//   namespace-member  a global administrator, or any role in the namespace named in the path
//   namespace-admin   a global administrator, or the admin role in the namespace (a user's personal one too)
// The rule is checked before the target is looked up, so callers without the right learn nothing of
// which accounts or namespaces exist.
// CSRF: a browser holding Basic credentials for Berth sends them with any request a page makes, and a
// cross-site POST of a form-like Content-Type (text/plain, form encodings) needs no CORS preflight.
// Every POST must therefore say `Content-Type: application/json` (a page can send that cross-site
// only after a preflight, which Berth never approves), checked before anything else: 400 INVALID
// naming `Content-Type`. PUT, PATCH and DELETE always need a preflight cross-site.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountService } from '../../auth/accounts.js';
import type { CheckLimiter } from '../../auth/check-limiter.js';
import { InvalidInputError } from '../../auth/errors.js';
import type { Account } from '../../auth/model.js';
import type { Logger } from '../../registry/deps.js';
import { DeniedError, ReadOnlyError } from '../../registry/errors.js';
import { clientAddress } from '../credentials.js';
import { createCallerAuthenticator, type CallerAuthenticatorDeps } from './authenticate.js';
import {
  API_PREFIX,
  managementHandlers,
  type ManagementHandler,
  type ManagementHandlerDeps,
  type ManagementHandlers,
  type Params,
} from './handlers.js';

export interface ManagementDeps extends CallerAuthenticatorDeps {
  accounts: AccountService;
  /** The limiter of password checks that logins use (src/auth/check-limiter.ts). */
  checks: CheckLimiter;
  log: Logger;
  mirrorStatus?: ManagementHandlerDeps['mirrorStatus'];
  /** server.readOnly: every change (any method but GET) is refused, as on /v2. */
  readOnly?: boolean;
  notificationsStatus?: ManagementHandlerDeps['notificationsStatus'];
}

type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
type Rule = 'authenticated' | 'admin' | 'self-or-admin' | 'namespace-member' | 'namespace-admin';

interface ManagementRoute {
  method: Method;
  path: string;
  rule: Rule;
  handler: ManagementHandler;
}

export function managementRoutes(h: ManagementHandlers): ManagementRoute[] {
  const ns = '/namespaces/:name';
  return [
    { method: 'GET', path: '/me', rule: 'authenticated', handler: h.me },
    { method: 'GET', path: '/users', rule: 'admin', handler: h.listUsers },
    { method: 'POST', path: '/users', rule: 'admin', handler: h.addUser },
    { method: 'GET', path: '/users/:name', rule: 'admin', handler: h.getUser },
    { method: 'DELETE', path: '/users/:name', rule: 'admin', handler: h.removeUser },
    { method: 'PUT', path: '/users/:name/password', rule: 'self-or-admin', handler: h.setPassword },
    { method: 'PUT', path: '/users/:name/admin', rule: 'admin', handler: h.setAdmin },
    { method: 'GET', path: '/robots', rule: 'admin', handler: h.listRobots },
    { method: 'POST', path: '/robots', rule: 'admin', handler: h.addRobot },
    { method: 'GET', path: '/robots/:name', rule: 'admin', handler: h.getRobot },
    { method: 'POST', path: '/robots/:name/secret', rule: 'admin', handler: h.rotateRobotSecret },
    { method: 'DELETE', path: '/robots/:name', rule: 'admin', handler: h.removeRobot },
    { method: 'GET', path: '/namespaces', rule: 'authenticated', handler: h.listNamespaces },
    { method: 'POST', path: '/namespaces', rule: 'admin', handler: h.addNamespace },
    { method: 'GET', path: ns, rule: 'namespace-member', handler: h.getNamespace },
    { method: 'PATCH', path: ns, rule: 'namespace-admin', handler: h.changeNamespace },
    { method: 'DELETE', path: ns, rule: 'admin', handler: h.removeNamespace },
    { method: 'PUT', path: `${ns}/members/:account`, rule: 'namespace-admin', handler: h.setMember },
    { method: 'DELETE', path: `${ns}/members/:account`, rule: 'namespace-admin', handler: h.removeMember },
    { method: 'GET', path: '/mirror', rule: 'admin', handler: h.mirrorStatus },
    { method: 'GET', path: '/notifications', rule: 'admin', handler: h.notificationsStatus },
  ];
}

/** Why `caller` may not do what `rule` guards, or undefined when they may. */
async function refusal(
  rule: Rule,
  caller: Account,
  params: Params,
  accounts: AccountService,
): Promise<string | undefined> {
  if (rule === 'authenticated' || caller.admin) return undefined;
  const name = params.name ?? '';
  switch (rule) {
    case 'admin':
      return 'only global administrators may do this';
    case 'self-or-admin':
      return caller.name === name
        ? undefined
        : 'only the account itself or a global administrator may do this';
    case 'namespace-member':
      return (await accounts.roleIn(name, caller.name))
        ? undefined
        : `only members of namespace ${name} may see it`;
    case 'namespace-admin':
      return (await accounts.roleIn(name, caller.name)) === 'admin'
        ? undefined
        : `only administrators of namespace ${name} may do this`;
  }
}

/** Whether the request says its body is JSON (`application/json`, parameters such as charset allowed). */
const isJsonRequest = (ctx: Context) => ctx.request.type.trim().toLowerCase() === 'application/json';

/** Registers the management API on `router` (whose allowedMethods then answers 405 for it too). */
export function mountManagementApi(router: Router, deps: ManagementDeps): void {
  const { accounts, log } = deps;
  const authenticate = createCallerAuthenticator(deps);
  const handlers = managementHandlers(deps);
  for (const route of managementRoutes(handlers)) {
    router.register(`${API_PREFIX}${route.path}`, [route.method], async (ctx: Context) => {
      ctx.set('Cache-Control', 'no-store');
      if (deps.readOnly && route.method !== 'GET') throw new ReadOnlyError();
      if (route.method === 'POST' && !isJsonRequest(ctx)) {
        throw new InvalidInputError('Content-Type', 'POST requests must be sent as application/json');
      }
      const caller = await authenticate(ctx);
      const params = (ctx as unknown as { params: Params }).params;
      const refused = await refusal(route.rule, caller, params, accounts);
      if (refused) {
        log.info(
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
      await route.handler(ctx, caller, params);
      if (route.method !== 'GET') {
        log.info(
          {
            event: 'account change',
            account: caller.name,
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
          },
          'management change',
        );
      }
    });
  }
}
