// The route table: every endpoint of the OCI Distribution Spec v1.1 with the access it needs.
// Repository names contain '/', hence the `*name` wildcard; routes are matched in order, so the
// uploads routes come before `blobs/:digest`.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { TokenService } from '../auth/token-service.js';
import { ReadOnlyError, StoreUnavailableError } from '../registry/errors.js';
import { parseRepoName } from '../registry/references.js';
import type { Registry } from '../registry/registry.js';
import { catalog, repository, type AccessRequirement, type Authorizer } from './access.js';
import { apiVersionCheck } from './handlers/base.js';
import { blobHandlers } from './handlers/blobs.js';
import { discoveryHandlers } from './handlers/discovery.js';
import { healthHandlers } from './handlers/health.js';
import { manifestHandlers } from './handlers/manifests.js';
import { tokenHandlers } from './handlers/token.js';
import { uploadHandlers } from './handlers/uploads.js';
import { mountManagementApi, type ManagementDeps } from './management/router.js';
import type { EventBus, RegistryEvent } from '../events/registry-event.js';
import {
  blobCommitted,
  blobDeleted,
  blobPulled,
  manifestDeleted,
  manifestPulled,
  manifestPushed,
  type EventOf,
} from './events.js';

type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
type Handler = (ctx: Context) => unknown;
type AccessOf = (
  params: Record<string, string>,
  query: Record<string, string | string[] | undefined>,
) => AccessRequirement[];

interface RouteSpec {
  method: Method;
  path: string;
  access: AccessOf;
  handler: Handler;
  /** The registry event a successful answer makes (metrics, webhooks, audit). */
  event?: EventOf;
}

// Names are parsed before anything else: an invalid one is 400 NAME_INVALID, never part of a challenge.
const name = (p: Record<string, string>) => parseRepoName(p.name ?? '');
const pull: AccessOf = (p) => [repository(name(p), 'pull')];
const push: AccessOf = (p) => [repository(name(p), 'pull', 'push')];
const remove: AccessOf = (p) => [repository(name(p), 'delete')];
const firstValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
// Cross-repository mount also reads the source repository: the first `from`, as the handler uses.
const pushWithMount: AccessOf = (p, q) => {
  const from = firstValue(q.from);
  return from !== undefined && q.mount !== undefined
    ? [...push(p, q), repository(parseRepoName(from), 'pull')]
    : push(p, q);
};

export interface RouteOptions {
  registry: Registry;
  authorizer: Authorizer;
  manifestMaxBytes: number;
  /** The token endpoint, served at /auth/token when auth.mode is token. */
  tokens?: TokenService;
  /** auth.service: the realm of the token endpoint's Basic challenges. */
  service?: string;
  /** The management API, served under /api/v1 when auth.mode is token. */
  management?: ManagementDeps;
  /**
   * The pull-through mirror's local name for a name asked with containerd's `?ns=<registry host>`,
   * or undefined when no upstream serves that host.
   */
  localNameForNamespace?: (name: string, ns: string) => string | undefined;
  /** Where registry events go; none are made while it has no listeners. */
  events?: EventBus;
  /** server.readOnly: every /v2 write (any method but GET and HEAD) is refused. */
  readOnly?: boolean;
  /** GET /metrics (Prometheus), when served on this listener (metrics.enabled, no metrics.listen). */
  metricsEndpoint?: Handler;
}

export function routeTable({ registry, manifestMaxBytes }: RouteOptions): RouteSpec[] {
  const blobs = blobHandlers(registry);
  const uploads = uploadHandlers(registry);
  const manifests = manifestHandlers(registry, manifestMaxBytes);
  const discovery = discoveryHandlers(registry);
  const uploadsPath = '/v2/*name/blobs/uploads';
  const uploadPath = '/v2/*name/blobs/uploads/:uuid';
  const blobPath = '/v2/*name/blobs/:digest';
  const manifestPath = '/v2/*name/manifests/:reference';
  return [
    { method: 'GET', path: '/v2/', access: () => [], handler: apiVersionCheck },
    { method: 'GET', path: '/v2/_catalog', access: () => [catalog], handler: discovery.catalog },
    {
      method: 'POST',
      path: `${uploadsPath}{/}`,
      access: pushWithMount,
      handler: uploads.start,
      event: blobCommitted,
    },
    { method: 'GET', path: uploadPath, access: push, handler: uploads.status },
    { method: 'PATCH', path: uploadPath, access: push, handler: uploads.patch },
    { method: 'PUT', path: uploadPath, access: push, handler: uploads.complete, event: blobCommitted },
    { method: 'DELETE', path: uploadPath, access: push, handler: uploads.cancel },
    { method: 'GET', path: blobPath, access: pull, handler: blobs.get, event: blobPulled },
    { method: 'DELETE', path: blobPath, access: remove, handler: blobs.delete, event: blobDeleted },
    { method: 'GET', path: manifestPath, access: pull, handler: manifests.get, event: manifestPulled },
    { method: 'PUT', path: manifestPath, access: push, handler: manifests.put, event: manifestPushed },
    {
      method: 'DELETE',
      path: manifestPath,
      access: remove,
      handler: manifests.delete,
      event: manifestDeleted,
    },
    { method: 'GET', path: '/v2/*name/tags/list', access: pull, handler: discovery.tags },
    { method: 'GET', path: '/v2/*name/referrers/:digest', access: pull, handler: discovery.referrers },
  ];
}

/**
 * Publishes a registry event. A change (push, delete, mount) whose durable event could not be recorded
 * answers 503 instead of success, so the client retries (pushes are idempotent) rather than a webhook
 * silently missing it; a pull is served anyway (its event is logged as not recorded).
 */
async function publishEvent(events: EventBus, event: RegistryEvent): Promise<void> {
  try {
    await events.publish(event);
  } catch (err) {
    if (event.action === 'pull') return;
    throw new StoreUnavailableError(
      `the ${event.action} was done but its event could not be recorded for webhooks (${(err as Error).message}): retry it`,
    );
  }
}

/** Builds the router; GET routes answer HEAD too (handlers check ctx.method). */
export function createRouter(options: RouteOptions): Router {
  const router = new Router();
  for (const route of routeTable(options)) {
    const authorize = async (ctx: Context) => {
      const params = (ctx as unknown as { params: Record<string, string> }).params;
      if (options.readOnly && route.method !== 'GET') throw new ReadOnlyError();
      // containerd hosts.toml mirrors: the name is the upstream's; access, handlers and the index
      // see the local name. The response says which namespace was served (OCI-Namespace).
      const ns = firstValue(ctx.query.ns);
      if (ns !== undefined && params.name !== undefined && options.localNameForNamespace) {
        const local = options.localNameForNamespace(params.name, ns);
        if (local !== undefined) {
          params.name = local;
          ctx.set('OCI-Namespace', ns);
        }
      }
      await options.authorizer.authorize(ctx, route.access(params, ctx.query));
      await route.handler(ctx);
      if (route.event && options.events?.active && ctx.status < 300) {
        const event = route.event(ctx, params);
        if (event) await publishEvent(options.events, event);
      }
    };
    router.register(route.path, [route.method], authorize);
  }
  // Liveness and readiness for load balancers and orchestrators: open to all, like GET /v2/ is not.
  const health = healthHandlers(options.registry);
  router.get('/healthz', health.live);
  router.get('/readyz', health.ready);
  if (options.metricsEndpoint) router.get('/metrics', options.metricsEndpoint);
  if (options.tokens) {
    // The token endpoint authenticates its own callers (Basic, OAuth2 form): no route access applies.
    const token = tokenHandlers(options.tokens, options.service ?? 'berth');
    router.get('/auth/token', token.get);
    router.post('/auth/token', token.post);
  }
  if (options.management) mountManagementApi(router, options.management);
  return router;
}
