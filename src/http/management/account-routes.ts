// The accounts API (auth.mode token only): users, robots, namespaces and their members, as routes of Berth's one route table (routes.ts).
// Each route declares its account rule (route-spec.ts AccountRule), checked by accessGuard.ts
// before the target is looked up, so callers without the right learn nothing of which accounts or
// namespaces exist.
import { z } from 'zod';
import type { AccountService } from '../../auth/accounts.js';
import type { CheckLimiter } from '../../auth/check-limiter.js';
import type { Logger } from '../../registry/deps.js';
import { defineRoute, type RouteSpec } from '../route-spec.js';
import type { CallerAuthenticatorDeps } from './authenticate.js';
import { callerOf } from './caller.js';
import { API_PREFIX, managementHandlers } from './handlers.js';
import * as schema from './schemas.js';

export interface ManagementDeps extends CallerAuthenticatorDeps {
  accounts: AccountService;
  /** The limiter of password checks that logins use (src/auth/check-limiter.ts). */
  checks: CheckLimiter;
  log: Logger;
}

const NameParam = z.object({ name: z.string() });
const MemberParams = z.object({ name: z.string(), account: z.string() });
const noContent = { 204: { description: 'done' } };

export function accountRoutes(deps: ManagementDeps): RouteSpec[] {
  const h = managementHandlers(deps);
  const ns = `${API_PREFIX}/namespaces/:name`;
  const users = `${API_PREFIX}/users`;
  const robots = `${API_PREFIX}/robots`;
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/me`,
      summary: 'The calling account with its memberships',
      group: 'Accounts',
      access: { account: 'authenticated' },
      responses: { 200: { description: 'the caller', body: schema.AccountWithMemberships } },
      handler: (ctx) => h.me(ctx, callerOf(ctx)),
    }),
    defineRoute({
      method: 'GET',
      path: users,
      summary: 'List users',
      group: 'Accounts',
      access: { account: 'admin' },
      responses: { 200: { description: 'every user', body: schema.UserList } },
      handler: (ctx) => h.listUsers(ctx),
    }),
    defineRoute({
      method: 'POST',
      path: users,
      summary: 'Add a user',
      group: 'Accounts',
      access: { account: 'admin' },
      body: schema.NewUser,
      responses: { 201: { description: 'the new user', body: schema.AccountView } },
      handler: (ctx, { params, body }) => h.addUser(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'GET',
      path: `${users}/:name`,
      summary: 'A user with memberships',
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      responses: { 200: { description: 'the user', body: schema.AccountWithMemberships } },
      handler: (ctx, { params }) => h.getUser(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${users}/:name`,
      summary: 'Remove a user',
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      responses: noContent,
      handler: (ctx, { params }) => h.removeUser(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'PUT',
      path: `${users}/:name/password`,
      summary: "Set a user's password (their own needs currentPassword)",
      group: 'Accounts',
      access: { account: 'self-or-admin' },
      params: NameParam,
      body: schema.NewPassword,
      responses: noContent,
      handler: (ctx, { params, body }) => h.setPassword(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'PUT',
      path: `${users}/:name/admin`,
      summary: 'Grant or withdraw global administration',
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      body: schema.AdminFlag,
      responses: { 200: { description: 'the user', body: schema.AccountView } },
      handler: (ctx, { params, body }) => h.setAdmin(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'GET',
      path: robots,
      summary: 'List robot accounts',
      group: 'Accounts',
      access: { account: 'admin' },
      responses: { 200: { description: 'every robot', body: schema.RobotList } },
      handler: (ctx) => h.listRobots(ctx),
    }),
    defineRoute({
      method: 'POST',
      path: robots,
      summary: 'Add a robot account (its secret is shown once)',
      group: 'Accounts',
      access: { account: 'admin' },
      body: schema.NewRobot,
      responses: { 201: { description: 'the robot and its secret', body: schema.NewRobotView } },
      handler: (ctx, { params, body }) => h.addRobot(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'GET',
      path: `${robots}/:name`,
      summary: 'A robot account with memberships',
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      responses: { 200: { description: 'the robot', body: schema.AccountWithMemberships } },
      handler: (ctx, { params }) => h.getRobot(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'POST',
      path: `${robots}/:name/secret`,
      summary: "Rotate a robot's secret (shown once)",
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      body: schema.NoInput,
      responses: { 200: { description: 'the new secret', body: schema.RobotSecret } },
      handler: (ctx, { params }) => h.rotateRobotSecret(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${robots}/:name`,
      summary: 'Remove a robot account',
      group: 'Accounts',
      access: { account: 'admin' },
      params: NameParam,
      responses: noContent,
      handler: (ctx, { params }) => h.removeRobot(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/namespaces`,
      summary: 'Namespaces the caller belongs to, and the public ones (admins: all)',
      group: 'Namespaces',
      access: { account: 'authenticated' },
      responses: { 200: { description: 'namespaces', body: schema.NamespaceList } },
      handler: (ctx) => h.listNamespaces(ctx, callerOf(ctx)),
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/namespaces`,
      summary: 'Add a namespace',
      group: 'Namespaces',
      access: { account: 'admin' },
      body: schema.NewNamespace,
      responses: { 201: { description: 'the namespace', body: schema.NamespaceView } },
      handler: (ctx, { params, body }) => h.addNamespace(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'GET',
      path: ns,
      summary: 'A namespace with its members',
      group: 'Namespaces',
      access: { account: 'namespace-member' },
      params: NameParam,
      responses: { 200: { description: 'the namespace', body: schema.NamespaceWithMembers } },
      handler: (ctx, { params }) => h.getNamespace(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'PATCH',
      path: ns,
      summary: 'Make a namespace public or private',
      group: 'Namespaces',
      access: { account: 'namespace-admin' },
      params: NameParam,
      body: schema.NamespaceChange,
      responses: { 200: { description: 'the namespace', body: schema.NamespaceView } },
      handler: (ctx, { params, body }) => h.changeNamespace(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'DELETE',
      path: ns,
      summary: 'Remove a namespace',
      group: 'Namespaces',
      access: { account: 'admin' },
      params: NameParam,
      responses: noContent,
      handler: (ctx, { params }) => h.removeNamespace(ctx, callerOf(ctx), params),
    }),
    defineRoute({
      method: 'PUT',
      path: `${ns}/members/:account`,
      summary: "Set an account's role in a namespace",
      group: 'Namespaces',
      access: { account: 'namespace-admin' },
      params: MemberParams,
      body: schema.MemberRole,
      responses: { 200: { description: 'the membership', body: schema.MembershipView } },
      handler: (ctx, { params, body }) => h.setMember(ctx, callerOf(ctx), params, body),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${ns}/members/:account`,
      summary: 'Remove an account from a namespace',
      group: 'Namespaces',
      access: { account: 'namespace-admin' },
      params: MemberParams,
      responses: noContent,
      handler: (ctx, { params }) => h.removeMember(ctx, callerOf(ctx), params),
    }),
  ];
}
