// The accounts API's request and response shapes (zod): the route table checks requests against
// them, and the OpenAPI document (src/http/openapi.ts) and the contract tests are generated from them.
import { z } from 'zod';
import { ROLES } from '../../auth/model.js';

const description = z.string().max(1024).nullable().optional();
const role = z.enum(ROLES);
const isoTime = z.string().describe('ISO 8601 time');

export const NewUser = z.strictObject({
  name: z.string(),
  password: z.string(),
  admin: z.boolean().optional(),
  description,
});
export const NewPassword = z.strictObject({ password: z.string(), currentPassword: z.string().optional() });
export const AdminFlag = z.strictObject({ admin: z.boolean() });
/** Rotation takes no input: `{}` or no body at all (but, like every POST, Content-Type: application/json). */
export const NoInput = z.strictObject({}).optional();
export const NewRobot = z.strictObject({
  name: z.string(),
  description,
  grants: z.array(z.strictObject({ namespace: z.string(), role })).optional(),
});
export const NewNamespace = z.strictObject({ name: z.string(), public: z.boolean().optional() });
export const NamespaceChange = z.strictObject({ public: z.boolean() });
export const MemberRole = z.strictObject({ role });

export const AccountView = z.object({
  name: z.string(),
  kind: z.enum(['user', 'robot']),
  admin: z.boolean(),
  createdAt: isoTime,
  description: z.string().nullable(),
});
export const RoleView = z.object({ namespace: z.string(), role });
export const MemberView = z.object({ account: z.string(), role });
export const MembershipView = z.object({ namespace: z.string(), account: z.string(), role });
export const NamespaceView = z.object({ name: z.string(), public: z.boolean(), createdAt: isoTime });

export const AccountWithMemberships = AccountView.extend({ memberships: z.array(RoleView) });
export const NewRobotView = AccountView.extend({ secret: z.string().describe('shown only in this answer') });
export const RobotSecret = z.object({ secret: z.string().describe('shown only in this answer') });
export const NamespaceWithMembers = NamespaceView.extend({ members: z.array(MemberView) });

export const UserList = z.object({ users: z.array(AccountView) });
export const RobotList = z.object({ robots: z.array(AccountView) });
export const NamespaceList = z.object({ namespaces: z.array(NamespaceView) });

const count = z.number().int().nonnegative();
export const MirrorStatus = z.object({
  upstreams: z.array(
    z.object({
      upstream: z.string(),
      hits: count,
      misses: count,
      staleHits: count,
      bytesFromCache: count,
      bytesFromUpstream: count,
      cachedBytes: count,
      cachedItems: count,
    }),
  ),
});
export const NotificationsStatus = z.object({
  endpoints: z.array(
    z.object({
      name: z.string(),
      configured: z.boolean(),
      pending: count,
      retrying: count,
      oldestPendingAt: isoTime.nullable(),
      oldestPendingAgeSeconds: count.nullable(),
      delivered: count,
      dropped: count,
      lastSuccessAt: isoTime.nullable(),
      lastFailureAt: isoTime.nullable(),
      lastError: z.string().nullable(),
    }),
  ),
});
