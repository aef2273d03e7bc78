// Berth's one route table: every endpoint of the OCI Distribution Spec v1.1 under /v2, the management
// API under /api/v1 and the few others (health, metrics, the token endpoint, the OpenAPI document),
// each with the access it needs and, where they take or give JSON, zod schemas of both (route-spec.ts).
// Mounting a route (mountRoute) is the same for all: read-only refusal, containerd's `?ns=` mirror
// names, the access check (access-guard.ts), input checks, the handler, then the registry event.
// Repository names contain '/', hence the `*name` wildcard; routes are matched in order (the first
// match answers), so the uploads routes come before `blobs/:digest`, and longer /api/v1 paths
// before shorter ones.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { TokenService } from '../auth/token-service.js';
import type { EventBus, RegistryEvent } from '../events/registry-event.js';
import type { Logger } from '../registry/deps.js';
import { ReadOnlyError, StoreUnavailableError } from '../registry/errors.js';
import { parseRepoName } from '../registry/references.js';
import type { Registry } from '../registry/registry.js';
import { catalog, repository, type Authorizer } from './access.js';
import { createAccessGuard, type AccessGuard } from './access-guard.js';
import { gcRoutes, type GcRoutesDeps } from './api/gc.js';
import { operationsRoutes, type OperationsDeps } from './api/operations.js';
import {
  blobCommitted,
  blobDeleted,
  blobPulled,
  manifestDeleted,
  manifestPulled,
  manifestPushed,
} from './events.js';
import { apiVersionCheck } from './handlers/base.js';
import { blobHandlers } from './handlers/blobs.js';
import { discoveryHandlers } from './handlers/discovery.js';
import { healthHandlers } from './handlers/health.js';
import { manifestHandlers } from './handlers/manifests.js';
import { tokenHandlers } from './handlers/token.js';
import { uploadHandlers } from './handlers/uploads.js';
import { accountRoutes, type ManagementDeps } from './management/account-routes.js';
import { createCallerAuthenticator } from './management/authenticate.js';
import { checkedInput } from './input.js';
import { OciErrors, openApiDocument } from './openapi.js';
import { API_PREFIX, defineRoute, type AccessOf, type RouteSpec } from './route-spec.js';
import { InvalidInputError } from '../auth/errors.js';

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
  /** Guards /v2 (and, unless apiAuthorizer is given, /api/v1) per auth.mode. */
  authorizer: Authorizer;
  /** Guards the management API's repository routes (token mode: api-authorizer.ts). */
  apiAuthorizer?: Authorizer;
  log: Logger;
  manifestMaxBytes: number;
  /** The token endpoint, served at /auth/token when auth.mode is token. */
  tokens?: TokenService;
  /** auth.service: the realm of the token endpoint's Basic challenges. */
  service?: string;
  /** The accounts API (users, robots, namespaces), served under /api/v1 when auth.mode is token. */
  management?: ManagementDeps;
  /** Mirror and webhook status under /api/v1. */
  operations?: OperationsDeps;
  /** Garbage collection runs under /api/v1 (their history, and starting one). */
  gc?: GcRoutesDeps;
  /** More management API routes (repositories, tags, policies, ...), mounted before the others. */
  apiRoutes?: RouteSpec[];
  /**
   * The pull-through mirror's local name for a name asked with containerd's `?ns=<registry host>`,
   * or undefined when no upstream serves that host.
   */
  localNameForNamespace?: (name: string, ns: string) => string | undefined;
  /** Where registry events go; none are made while it has no listeners. */
  events?: EventBus;
  /** server.readOnly: every write (any method but GET and HEAD) to /v2 and /api/v1 is refused. */
  readOnly?: boolean;
  /** GET /metrics (Prometheus), when served on this listener (metrics.enabled, no metrics.listen). */
  metricsEndpoint?: (ctx: Context) => unknown;
}

const CatalogPage = z.object({ repositories: z.array(z.string()) });
const TagPage = z.object({ name: z.string(), tags: z.array(z.string()) });
const HealthStatus = z.object({ status: z.string(), checks: z.record(z.string(), z.unknown()).optional() });

const OCI = 'OCI distribution';
const bytes = (description: string) => ({ description, contentType: 'application/octet-stream' });
const notFound = { 404: { description: 'unknown repository, blob, manifest or upload', body: OciErrors } };

/** /v2: the OCI Distribution Spec v1.1 (handlers answer HEAD for GET routes). */
function distributionRoutes({ registry, manifestMaxBytes }: RouteOptions): RouteSpec[] {
  const blobs = blobHandlers(registry);
  const uploads = uploadHandlers(registry);
  const manifests = manifestHandlers(registry, manifestMaxBytes);
  const discovery = discoveryHandlers(registry);
  const uploadsPath = '/v2/*name/blobs/uploads';
  const uploadPath = '/v2/*name/blobs/uploads/:uuid';
  const blobPath = '/v2/*name/blobs/:digest';
  const manifestPath = '/v2/*name/manifests/:reference';
  const accepted = { 202: { description: 'upload session (Location, Range)' } };
  return [
    defineRoute({
      method: 'GET',
      path: '/v2/',
      summary: 'API version check (end-1)',
      group: OCI,
      access: { scopes: () => [] },
      responses: { 200: { description: 'OCI Distribution v2 API' } },
      handler: apiVersionCheck,
    }),
    defineRoute({
      method: 'GET',
      path: '/v2/_catalog',
      summary: 'Repositories the caller may read, in lexical order (n, last)',
      group: OCI,
      access: { scopes: () => [catalog] },
      responses: { 200: { description: 'a page of names (Link: next page)', body: CatalogPage } },
      handler: discovery.catalog,
    }),
    defineRoute({
      method: 'POST',
      path: `${uploadsPath}{/}`,
      summary: 'Start an upload, upload a blob whole (?digest=), or mount one (?mount=&from=)',
      group: OCI,
      access: { scopes: pushWithMount },
      responses: { 201: { description: 'blob stored or mounted' }, ...accepted },
      handler: uploads.start,
      event: blobCommitted,
    }),
    defineRoute({
      method: 'GET',
      path: uploadPath,
      summary: 'Upload status (end-13)',
      group: OCI,
      access: { scopes: push },
      responses: { 204: { description: 'Range: bytes received' }, ...notFound },
      handler: uploads.status,
    }),
    defineRoute({
      method: 'PATCH',
      path: uploadPath,
      summary: 'Upload a chunk (Content-Range) or stream (end-5)',
      group: OCI,
      access: { scopes: push },
      responses: { ...accepted, 416: { description: 'chunk out of order', body: OciErrors } },
      handler: uploads.patch,
    }),
    defineRoute({
      method: 'PUT',
      path: uploadPath,
      summary: 'Finish an upload (?digest=, optional last chunk)',
      group: OCI,
      access: { scopes: push },
      responses: {
        201: { description: 'blob stored' },
        400: { description: 'digest mismatch', body: OciErrors },
      },
      handler: uploads.complete,
      event: blobCommitted,
    }),
    defineRoute({
      method: 'DELETE',
      path: uploadPath,
      summary: 'Cancel an upload',
      group: OCI,
      access: { scopes: push },
      responses: { 204: { description: 'cancelled' }, ...notFound },
      handler: uploads.cancel,
    }),
    defineRoute({
      method: 'GET',
      path: blobPath,
      summary: 'Blob bytes, whole or a Range (HEAD: size)',
      group: OCI,
      access: { scopes: pull },
      responses: {
        200: bytes('the blob'),
        206: bytes('the requested range'),
        307: { description: 'fetch from the storage backend (Location)' },
        ...notFound,
      },
      handler: blobs.get,
      event: blobPulled,
    }),
    defineRoute({
      method: 'DELETE',
      path: blobPath,
      summary: 'Remove a blob from a repository (bytes go with garbage collection)',
      group: OCI,
      access: { scopes: remove },
      responses: { 202: { description: 'removed' }, ...notFound },
      handler: blobs.delete,
      event: blobDeleted,
    }),
    defineRoute({
      method: 'GET',
      path: manifestPath,
      summary: 'A manifest by tag or digest (HEAD: its digest and size)',
      group: OCI,
      access: { scopes: pull },
      responses: { 200: { description: 'the manifest, in its own media type' }, ...notFound },
      handler: manifests.get,
      event: manifestPulled,
    }),
    defineRoute({
      method: 'PUT',
      path: manifestPath,
      summary: 'Push a manifest by tag or digest',
      group: OCI,
      access: { scopes: push },
      responses: {
        201: { description: 'stored (Location, Docker-Content-Digest)' },
        400: { description: 'invalid manifest, or unknown blobs', body: OciErrors },
        403: { description: 'quota exceeded or immutable tag', body: OciErrors },
      },
      handler: manifests.put,
      event: manifestPushed,
    }),
    defineRoute({
      method: 'DELETE',
      path: manifestPath,
      summary: 'Delete a manifest (by digest) or a tag',
      group: OCI,
      access: { scopes: remove },
      responses: { 202: { description: 'deleted' }, ...notFound },
      handler: manifests.delete,
      event: manifestDeleted,
    }),
    defineRoute({
      method: 'GET',
      path: '/v2/*name/tags/list',
      summary: 'Tags in lexical order (n, last)',
      group: OCI,
      access: { scopes: pull },
      responses: { 200: { description: 'a page of tags (Link: next page)', body: TagPage }, ...notFound },
      handler: discovery.tags,
    }),
    defineRoute({
      method: 'GET',
      path: '/v2/*name/referrers/:digest',
      summary: 'Manifests whose subject is the digest (?artifactType=)',
      group: OCI,
      access: { scopes: pull },
      responses: {
        200: { description: 'an image index', contentType: 'application/vnd.oci.image.index.v1+json' },
      },
      handler: discovery.referrers,
    }),
  ];
}

/** Liveness, readiness, metrics, the token endpoint. */
function serviceRoutes(options: RouteOptions): RouteSpec[] {
  const health = healthHandlers(options.registry);
  const open = { open: true } as const;
  const routes: RouteSpec[] = [
    defineRoute({
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      group: 'Service',
      access: open,
      responses: { 200: { description: 'alive', body: HealthStatus } },
      handler: health.live,
    }),
    defineRoute({
      method: 'GET',
      path: '/readyz',
      summary: 'Readiness: database and storage answer',
      group: 'Service',
      access: open,
      responses: {
        200: { description: 'ready', body: HealthStatus },
        503: { description: 'what is unavailable', body: HealthStatus },
      },
      handler: health.ready,
    }),
  ];
  if (options.metricsEndpoint) {
    routes.push(
      defineRoute({
        method: 'GET',
        path: '/metrics',
        summary: 'Prometheus metrics',
        group: 'Service',
        access: open,
        responses: { 200: { description: 'text exposition format', contentType: 'text/plain' } },
        handler: options.metricsEndpoint,
      }),
    );
  }
  if (options.tokens) {
    // The token endpoint authenticates its own callers (Basic, OAuth2 form): no route access applies.
    const token = tokenHandlers(options.tokens, options.service ?? 'berth');
    for (const method of ['GET', 'POST'] as const) {
      routes.push(
        defineRoute({
          method,
          path: '/auth/token',
          summary:
            method === 'GET'
              ? 'An access token for scopes (Docker token spec; Basic or anonymous)'
              : 'An access token (OAuth2 password or refresh_token grant, form encoded)',
          group: 'Service',
          access: open,
          responses: { 200: { description: 'the token' }, 401: { description: 'bad credentials' } },
          handler: method === 'GET' ? token.get : token.post,
        }),
      );
    }
  }
  return routes;
}

/** Every route, in matching order. */
export function routeTable(options: RouteOptions): RouteSpec[] {
  const management = options.management ? accountRoutes(options.management) : [];
  // A path ending in the `*name` wildcard (GET /api/v1/repositories/team/app) would swallow the
  // longer paths below it (…/team/app/-/tags): such routes match last.
  const endsInWildcard = (route: RouteSpec) => /\*\w+$/.test(route.path);
  const apiRoutes = options.apiRoutes ?? [];
  const table = [
    ...distributionRoutes(options),
    ...apiRoutes.filter((route) => !endsInWildcard(route)),
    ...apiRoutes.filter(endsInWildcard),
    ...management,
    ...operationsRoutes(options.operations ?? {}),
    ...(options.gc ? gcRoutes(options.gc) : []),
    ...serviceRoutes(options),
  ];
  let document: object | undefined;
  table.push(
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/openapi.json`,
      summary: 'This document (OpenAPI 3.1), generated from the route table',
      group: 'Service',
      access: { open: true },
      responses: { 200: { description: 'the OpenAPI document' } },
      handler(ctx) {
        document ??= openApiDocument(table);
        ctx.body = document;
      },
    }),
  );
  return table;
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

/** Whether the request says its body is JSON (`application/json`, parameters such as charset allowed). */
const isJsonRequest = (ctx: Context) => ctx.request.type.trim().toLowerCase() === 'application/json';

function mountRoute(router: Router, route: RouteSpec, options: RouteOptions, guard: AccessGuard): void {
  const api = route.path.startsWith(API_PREFIX);
  const opensToAll = 'open' in route.access;
  router.register(route.path, [route.method], async (ctx: Context) => {
    const params = (ctx as unknown as { params: Record<string, string> }).params;
    if (api) ctx.set('Cache-Control', 'no-store');
    if (options.readOnly && route.method !== 'GET' && !opensToAll) throw new ReadOnlyError();
    // CSRF: a browser holding Basic credentials for Berth sends them with any request a page makes,
    // and a cross-site POST of a form-like Content-Type needs no CORS preflight. Every management POST
    // must say `Content-Type: application/json` (cross-site only after a preflight, which Berth never
    // approves); PUT, PATCH and DELETE always need a preflight cross-site.
    if (api && route.method === 'POST' && !isJsonRequest(ctx)) {
      throw new InvalidInputError('Content-Type', 'POST requests must be sent as application/json');
    }
    // containerd hosts.toml mirrors: the name is the upstream's; access, handlers and the index see
    // the local name. The response says which namespace was served (OCI-Namespace).
    const ns = firstValue(ctx.query.ns);
    if (!api && ns !== undefined && params.name !== undefined && options.localNameForNamespace) {
      const local = options.localNameForNamespace(params.name, ns);
      if (local !== undefined) {
        params.name = local;
        ctx.set('OCI-Namespace', ns);
      }
    }
    await guard(ctx, route, params, ctx.query);
    await route.handler(ctx, await checkedInput(ctx, route, params));
    if (route.event && options.events?.active && ctx.status < 300) {
      const event = route.event(ctx, params);
      if (event) await publishEvent(options.events, event);
    }
    if (api && route.method !== 'GET') {
      options.log.info(
        {
          event: 'management change',
          account: (ctx.state as { caller?: { name: string } }).caller?.name,
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
        },
        'management change',
      );
    }
  });
}

/** Builds the router; GET routes answer HEAD too (handlers check ctx.method). */
export function createRouter(options: RouteOptions): Router {
  const router = new Router();
  const management = options.management;
  const guard = createAccessGuard({
    authorizer: options.authorizer,
    apiAuthorizer: options.apiAuthorizer ?? options.authorizer,
    accounts: management && {
      authenticate: createCallerAuthenticator(management),
      service: management.accounts,
    },
    log: options.log,
  });
  for (const route of routeTable(options)) mountRoute(router, route, options, guard);
  return router;
}
