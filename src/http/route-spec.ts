// The shape of one route in Berth's route table (routes.ts): the OCI API under /v2, the management API
// under /api/v1 and the few others. Each route declares its method and path, who may call it, the
// zod schemas of what it takes and answers, and its handler. The same declarations authorize the
// request (one middleware), check its input (400 INVALID naming the field) and generate the OpenAPI
// 3.1 document served at /api/v1/openapi.json (openapi.ts), so the document cannot drift from the code.
import type { Context } from 'koa';
import type { z } from 'zod';
import type { AccessRequirement } from './access.js';
import type { EventOf } from './events.js';

/** Where the management API lives (the OCI API is under /v2). */
export const API_PREFIX = '/api/v1';

export type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export type Query = Record<string, string | string[] | undefined>;

/** The scopes a request needs, from its path parameters and query. */
export type AccessOf = (params: Record<string, string>, query: Query) => AccessRequirement[];

/**
 * Rules of the accounts API (token mode only), checked against the calling account:
 *   authenticated     any account
 *   admin             a global administrator
 *   self-or-admin     the user named in the path, or a global administrator
 *   namespace-member  a global administrator, or any role in the namespace named in the path
 *   namespace-admin   a global administrator, or the admin role in the namespace
 */
export type AccountRule =
  'authenticated' | 'admin' | 'self-or-admin' | 'namespace-member' | 'namespace-admin';

/**
 * Who may call a route:
 * - `scopes`: repository and catalog scopes (Docker token spec), checked by the authorizer of the
 *   configured auth mode through the access policy, in every auth mode (`none`: open, like /v2);
 * - `account`: an accounts-API rule, token mode only;
 * - `open`: anyone (health probes, the OpenAPI document, the token endpoint, which checks its own).
 */
export type RouteAccess = { scopes: AccessOf } | { account: AccountRule } | { open: true };

export interface ResponseDoc {
  description: string;
  /** The JSON body's schema; omitted for bodies that are not JSON or for empty ones. */
  body?: z.ZodType;
  /** For bodies that are not JSON (blobs, manifests): their media type, e.g. application/octet-stream. */
  contentType?: string;
}

/** What a handler of a route with schemas receives: its input, already checked against them. */
export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface RouteSpec<P = Record<string, string>, Q = Query, B = undefined> {
  method: Method;
  /** Koa router syntax: `:param`, `*name` for a repository name (which contains '/'). */
  path: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** The OpenAPI tag grouping the route (e.g. "Repositories", "Tags", "OCI distribution"). */
  group: string;
  access: RouteAccess;
  /** Path parameters; checked (400 INVALID) before the handler runs. */
  params?: z.ZodType<P>;
  /** Query parameters; checked (400 INVALID) before the handler runs. */
  query?: z.ZodType<Q>;
  /** A JSON request body (application/json, capped at 64 KiB); read and checked before the handler runs. */
  body?: z.ZodType<B>;
  /** Answers by status; the contract tests check real answers against them. */
  responses: Record<number, ResponseDoc>;
  handler: (ctx: Context, input: RouteInput<P, Q, B>) => unknown;
  /** The registry event a successful answer makes (metrics, webhooks, audit). */
  event?: EventOf;
}

/** Declares a route with its input types inferred from its schemas. */
export function defineRoute<P = Record<string, string>, Q = Query, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}
