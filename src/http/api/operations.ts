// Operations status under /api/v1: the pull-through mirror's counters per upstream and webhook
// deliveries per endpoint. Global administrators only (in auth modes without accounts: whoever the
// registry admits).
import type { MirrorUpstreamStatus } from '../../mirror/mirror-store.js';
import type { EndpointDeliveryStatus } from '../../notifications/notifications.js';
import { MirrorStatus, NotificationsStatus } from '../management/schemas.js';
import { API_PREFIX, defineRoute, type RouteSpec } from '../route-spec.js';

export interface OperationsDeps {
  /** The mirror's counters and cache sizes per upstream, when upstreams are configured. */
  mirrorStatus?: () => Promise<MirrorUpstreamStatus[]>;
  /** The webhook deliveries per endpoint, when notifications.endpoints are configured. */
  notificationsStatus?: () => Promise<EndpointDeliveryStatus[]>;
}

export function operationsRoutes({ mirrorStatus, notificationsStatus }: OperationsDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/mirror`,
      summary: "The pull-through mirror's counters per upstream",
      group: 'Operations',
      access: { account: 'admin' },
      responses: { 200: { description: 'per upstream (empty without upstreams)', body: MirrorStatus } },
      async handler(ctx) {
        ctx.body = { upstreams: (await mirrorStatus?.()) ?? [] };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/notifications`,
      summary: 'Webhook deliveries per endpoint',
      group: 'Operations',
      access: { account: 'admin' },
      responses: {
        200: { description: 'per endpoint (empty without endpoints)', body: NotificationsStatus },
      },
      async handler(ctx) {
        ctx.body = { endpoints: (await notificationsStatus?.()) ?? [] };
      },
    }),
  ];
}
