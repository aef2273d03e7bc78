// Handlers of the management API: parse, call the account service, shape the answer. Who may call
// which handler is declared in the route table (router.ts) and checked before any of these runs.
// Password work (a user proving their current password, hashing a new one with scrypt) runs under the
// same check limiter as logins, so parallel requests cannot flood libuv's thread pool.
import type { Context } from 'koa';
import type { z } from 'zod';
import { robotAccountName, type AccountService } from '../../auth/accounts.js';
import type { CheckLimiter } from '../../auth/check-limiter.js';
import { AccountNotFoundError, InvalidInputError, NamespaceNotFoundError } from '../../auth/errors.js';
import type { Account, AccountKind } from '../../auth/model.js';
import type { TokenService } from '../../auth/token-service.js';
import { UnauthorizedError } from '../../registry/errors.js';
import { responseAbandonedSignal } from '../body.js';
import { clientAddress } from '../credentials.js';
import { respondEmpty } from '../respond.js';
import type {
  AdminFlag,
  MemberRole,
  NamespaceChange,
  NewNamespace,
  NewPassword,
  NewRobot,
  NewUser,
} from './schemas.js';
import { accountView, memberView, membershipView, namespaceView, roleView } from './views.js';

import { API_PREFIX } from '../route-spec.js';

export { API_PREFIX };

export type Params = Readonly<Record<string, string>>;
/** A handler of the accounts API: its caller, path parameters and (already checked) JSON body. */
export type ManagementHandler = (ctx: Context, caller: Account, params: Params, body: never) => unknown;

function created(ctx: Context, path: string, body: unknown): void {
  ctx.status = 201;
  ctx.set('Location', `${API_PREFIX}${path}`);
  ctx.body = body;
}

export interface ManagementHandlerDeps {
  accounts: AccountService;
  /** Checks a user's current password like a login: throttled, limited, logged. */
  tokens: Pick<TokenService, 'login'>;
  /** Bounds concurrent password checks and hashing (src/auth/check-limiter.ts). */
  checks: CheckLimiter;
}

const WRONG_CURRENT_PASSWORD = 'the current password is required and must be right';

export function managementHandlers({ accounts, tokens, checks }: ManagementHandlerDeps) {
  async function requireAccount(name: string, kind: AccountKind): Promise<Account> {
    const account = await accounts.getAccount(name);
    if (account?.kind !== kind) throw new AccountNotFoundError(name);
    return account;
  }
  const requireUser = (name: string) => requireAccount(name, 'user');
  const requireRobot = (name: string) => requireAccount(robotAccountName(name), 'robot');

  const withMemberships = async (account: Account) => ({
    ...accountView(account),
    memberships: (await accounts.membershipsOf(account.name)).map(roleView),
  });

  /**
   * Throws 400 INVALID (currentPassword) unless `currentPassword` is the caller's password. Checked by
   * the token service's login, so wrong guesses count towards auth.loginLimit and a throttled caller
   * gets 429 TOOMANYREQUESTS. A missing one is no guess: refused without a check.
   */
  async function proveCurrentPassword(ctx: Context, caller: Account, currentPassword?: string) {
    if (currentPassword === undefined || currentPassword === '') {
      throw new InvalidInputError('currentPassword', WRONG_CURRENT_PASSWORD);
    }
    try {
      await tokens.login(caller.name, currentPassword, clientAddress(ctx), responseAbandonedSignal(ctx.res));
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        throw new InvalidInputError('currentPassword', WRONG_CURRENT_PASSWORD);
      }
      throw err;
    }
  }

  /** Runs scrypt hashing (addUser, setPassword) under the check limiter; 429 when it is full. */
  const hashing = <T>(ctx: Context, work: () => Promise<T>): Promise<T> =>
    checks.run(work, responseAbandonedSignal(ctx.res));

  async function requireNamespace(name: string) {
    const namespace = await accounts.getNamespace(name);
    if (!namespace) throw new NamespaceNotFoundError(name);
    return namespace;
  }

  return {
    async me(ctx, caller) {
      ctx.body = await withMemberships(caller);
    },

    async listUsers(ctx) {
      ctx.body = { users: (await accounts.listAccounts('user')).map(accountView) };
    },

    async addUser(ctx, _caller, _params, body: z.output<typeof NewUser>) {
      const account = await hashing(ctx, () =>
        accounts.addUser(body.name, body.password, {
          admin: body.admin,
          description: body.description,
        }),
      );
      created(ctx, `/users/${account.name}`, accountView(account));
    },

    async getUser(ctx, _caller, { name = '' }) {
      ctx.body = await withMemberships(await requireUser(name));
    },

    async removeUser(ctx, _caller, { name = '' }) {
      await accounts.removeAccount((await requireUser(name)).name);
      respondEmpty(ctx, 204);
    },

    async setPassword(ctx, caller, { name = '' }, body: z.output<typeof NewPassword>) {
      const { password, currentPassword } = body;
      const user = await requireUser(name);
      // A user changing their own password proves they know it, so a leaked 5-minute access token
      // cannot take the account over; administrators reset passwords without it.
      if (!caller.admin) await proveCurrentPassword(ctx, caller, currentPassword);
      await hashing(ctx, () => accounts.setPassword(user.name, password));
      respondEmpty(ctx, 204);
    },

    async setAdmin(ctx, _caller, { name = '' }, { admin }: z.output<typeof AdminFlag>) {
      await accounts.setAdmin((await requireUser(name)).name, admin);
      ctx.body = accountView(await requireUser(name));
    },

    async listRobots(ctx) {
      ctx.body = { robots: (await accounts.listAccounts('robot')).map(accountView) };
    },

    /** The secret is in this response and the rotation's, never anywhere else. */
    async addRobot(ctx, _caller, _params, body: z.output<typeof NewRobot>) {
      const { account, secret } = await accounts.addRobot(body.name, {
        description: body.description,
        grants: body.grants,
      });
      created(ctx, `/robots/${account.name}`, { ...accountView(account), secret });
    },

    async getRobot(ctx, _caller, { name = '' }) {
      ctx.body = await withMemberships(await requireRobot(name));
    },

    async rotateRobotSecret(ctx, _caller, { name = '' }) {
      ctx.body = { secret: await accounts.rotateRobotSecret((await requireRobot(name)).name) };
    },

    async removeRobot(ctx, _caller, { name = '' }) {
      await accounts.removeAccount((await requireRobot(name)).name);
      respondEmpty(ctx, 204);
    },

    /** Global admins see every namespace; others the ones they belong to, and the public ones. */
    async listNamespaces(ctx, caller) {
      let namespaces = await accounts.listNamespaces();
      if (!caller.admin) {
        const mine = new Set((await accounts.membershipsOf(caller.name)).map((m) => m.namespace));
        namespaces = namespaces.filter((n) => n.public || mine.has(n.name));
      }
      ctx.body = { namespaces: namespaces.map(namespaceView) };
    },

    async addNamespace(ctx, _caller, _params, body: z.output<typeof NewNamespace>) {
      const namespace = await accounts.addNamespace(body.name, { public: body.public });
      created(ctx, `/namespaces/${namespace.name}`, namespaceView(namespace));
    },

    async getNamespace(ctx, _caller, { name = '' }) {
      const namespace = await requireNamespace(name);
      ctx.body = { ...namespaceView(namespace), members: (await accounts.listMembers(name)).map(memberView) };
    },

    async changeNamespace(ctx, _caller, { name = '' }, body: z.output<typeof NamespaceChange>) {
      await accounts.setNamespacePublic(name, body.public);
      ctx.body = namespaceView(await requireNamespace(name));
    },

    async removeNamespace(ctx, _caller, { name = '' }) {
      await accounts.removeNamespace(name);
      respondEmpty(ctx, 204);
    },

    async setMember(ctx, _caller, { name = '', account = '' }, body: z.output<typeof MemberRole>) {
      ctx.body = membershipView(await accounts.setMember(name, account, body.role));
    },

    async removeMember(ctx, _caller, { name = '', account = '' }) {
      await accounts.removeMember(name, account);
      respondEmpty(ctx, 204);
    },
  } satisfies Record<string, ManagementHandler>;
}

export type ManagementHandlers = ReturnType<typeof managementHandlers>;
