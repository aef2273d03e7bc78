// Which successful responses make which registry event (src/events/registry-event.ts), read from
// the response the handler produced: the route table names one of these per route, so handlers stay
// glue and every event is made here.
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { subjectOf } from '../auth/model.js';
import type { RegistryAction, RegistryEvent } from '../events/registry-event.js';
import { authState } from './access.js';
import { clientAddress } from './credentials.js';
import { requestIdOf } from './request-id.js';

type Params = Record<string, string | undefined>;
export type EventOf = (ctx: Context, params: Params) => RegistryEvent | undefined;

function event(ctx: Context, action: RegistryAction, target: RegistryEvent['target']): RegistryEvent {
  const principal = authState(ctx).principal;
  const actor = principal ? subjectOf(principal) : '';
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action,
    target,
    request: {
      id: requestIdOf(ctx),
      addr: clientAddress(ctx),
      host: ctx.host,
      method: ctx.method,
      userAgent: ctx.get('User-Agent'),
    },
    actor: actor ? { name: actor } : {},
  };
}

const isTag = (reference: string | undefined) => reference !== undefined && !reference.includes(':');
const digestHeader = (ctx: Context) => ctx.response.get('Docker-Content-Digest') || undefined;
const lengthOf = (ctx: Context) => (ctx.response.length === undefined ? undefined : ctx.response.length);

/** GET (not HEAD) of a manifest: a pull, by tag or digest. */
export const manifestPulled: EventOf = (ctx, p) =>
  ctx.method === 'GET' && ctx.status === 200
    ? event(ctx, 'pull', {
        kind: 'manifest',
        repository: p.name ?? '',
        digest: digestHeader(ctx),
        mediaType: ctx.response.type || undefined,
        size: lengthOf(ctx),
        ...(isTag(p.reference) ? { tag: p.reference } : {}),
      })
    : undefined;

export const manifestPushed: EventOf = (ctx, p) =>
  event(ctx, 'push', {
    kind: 'manifest',
    repository: p.name ?? '',
    digest: digestHeader(ctx),
    mediaType: ctx.request.type || undefined,
    size: ctx.request.length,
    ...(isTag(p.reference) ? { tag: p.reference } : {}),
  });

/** DELETE by digest removes a manifest; by tag, only the tag. */
export const manifestDeleted: EventOf = (ctx, p) =>
  isTag(p.reference)
    ? event(ctx, 'delete', { kind: 'tag', repository: p.name ?? '', tag: p.reference })
    : event(ctx, 'delete', { kind: 'manifest', repository: p.name ?? '', digest: p.reference });

/** A repository deleted with everything in it (management API). */
export const repositoryDeleted: EventOf = (ctx, p) =>
  event(ctx, 'delete', { kind: 'repository', repository: p.name ?? '' });

/** GET (not HEAD) of a blob, whole or a range. */
export const blobPulled: EventOf = (ctx, p) =>
  ctx.method === 'GET' && (ctx.status === 200 || ctx.status === 206)
    ? event(ctx, 'pull', { kind: 'blob', repository: p.name ?? '', digest: p.digest, size: lengthOf(ctx) })
    : undefined;

export const blobDeleted: EventOf = (ctx, p) =>
  event(ctx, 'delete', { kind: 'blob', repository: p.name ?? '', digest: p.digest });

/** A finished upload (201): pushed, or mounted from another repository (POST ?mount=). */
export const blobCommitted: EventOf = (ctx, p) =>
  ctx.status === 201
    ? event(ctx, ctx.method === 'POST' && ctx.query.mount !== undefined ? 'mount' : 'push', {
        kind: 'blob',
        repository: p.name ?? '',
        digest: digestHeader(ctx),
      })
    : undefined;
