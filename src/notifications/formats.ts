// What a webhook request carries: the event in the endpoint's format, its headers and its signature.
// One event per request in both formats.
// - distribution: CNCF Distribution's notification envelope (docs/notifications.md), so receivers
//   written for Distribution work unchanged: `{"events":[{id, timestamp, action, target, request,
//   actor, source}]}` as application/vnd.docker.distribution.events.v2+json. Fields Berth does not
//   know are left out rather than made up: `target.url` (the scheme clients used is not recorded),
//   `target.mediaType/size/length` of deletes, `actor.name` of anonymous callers.
// - cloudevents: CloudEvents 1.0, structured content mode (JSON event format), as
//   application/cloudevents+json: `type` io.berth.<image|tag|blob>.<action> (a manifest is an image),
//   `source` //<the host clients addressed>, `subject` <repository>:<tag> or <repository>@<digest>,
//   `data` the Distribution-shaped event above.
// Signature: with a secret, `X-Berth-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body
// bytes under the secret. The endpoint's own headers are sent too, except those Berth sets itself
// (Content-Type, Content-Length, X-Berth-Signature).
import { createHmac } from 'node:crypto';
import type { NotificationEndpointConfig } from '../config/schema.js';
import type { RegistryEvent } from '../events/registry-event.js';

export const DISTRIBUTION_EVENTS_TYPE = 'application/vnd.docker.distribution.events.v2+json';
export const CLOUDEVENTS_TYPE = 'application/cloudevents+json; charset=utf-8';
export const SIGNATURE_HEADER = 'X-Berth-Signature';
export const USER_AGENT = 'berth-notifications';
/** Distribution's media type of a blob in its events. */
const BLOB_MEDIA_TYPE = 'application/octet-stream';

/** The Berth instance that sends: Distribution's `source`. */
export interface EventSource {
  /** host:port of this instance (the machine's host name and the port it listens on). */
  addr: string;
  /** Random per start. */
  instanceID: string;
}

/**
 * A registry event as the outbox keeps it (OutboxEntry.payload, as JSON): with the instance that
 * handled the request, which Distribution's `source` names, whichever replica delivers it.
 */
export type RecordedEvent = RegistryEvent & { source?: EventSource };

/** One event as Distribution sends it (notifications.Event). */
export interface DistributionEvent {
  id: string;
  timestamp: string;
  action: string;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository: string;
    tag?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: EventSource;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  data: DistributionEvent;
}

export function distributionEvent(event: RegistryEvent, source: EventSource): DistributionEvent {
  const { kind, repository, digest, mediaType, size, tag } = event.target;
  const type = mediaType ?? (kind === 'blob' && event.action !== 'delete' ? BLOB_MEDIA_TYPE : undefined);
  return {
    id: event.id,
    timestamp: event.timestamp,
    action: event.action,
    target: {
      ...(type !== undefined && { mediaType: type }),
      ...(size !== undefined && { size, length: size }),
      ...(digest !== undefined && { digest }),
      repository,
      ...(tag !== undefined && { tag }),
    },
    request: {
      id: event.request.id,
      addr: event.request.addr,
      host: event.request.host,
      method: event.request.method,
      useragent: event.request.userAgent,
    },
    actor: event.actor.name === undefined ? {} : { name: event.actor.name },
    source: { addr: source.addr, instanceID: source.instanceID },
  };
}

const NOUNS: Record<RegistryEvent['target']['kind'], string> = {
  manifest: 'image',
  tag: 'tag',
  blob: 'blob',
  repository: 'repository',
};

/** io.berth.image.push, io.berth.tag.delete, io.berth.blob.mount, io.berth.repository.delete, ... */
export const cloudEventType = (event: RegistryEvent) =>
  `io.berth.${NOUNS[event.target.kind]}.${event.action}`;

export function cloudEvent(event: RegistryEvent, source: EventSource): CloudEvent {
  const { repository, tag, digest } = event.target;
  return {
    specversion: '1.0',
    id: event.id,
    source: `//${event.request.host || source.addr}`,
    type: cloudEventType(event),
    time: event.timestamp,
    subject:
      tag !== undefined
        ? `${repository}:${tag}`
        : digest !== undefined
          ? `${repository}@${digest}`
          : repository,
    datacontenttype: 'application/json',
    data: distributionEvent(event, source),
  };
}

/** `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`. */
export const signatureOf = (body: string | Buffer, secret: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

const RESERVED = new Set(['content-type', 'content-length', SIGNATURE_HEADER.toLowerCase()]);

export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
}

/** The body and headers of the POST that delivers `event` to `endpoint`. */
export function webhookRequest(
  endpoint: Pick<NotificationEndpointConfig, 'format' | 'secret' | 'headers'>,
  event: RegistryEvent,
  source: EventSource,
): WebhookRequest {
  const body =
    endpoint.format === 'cloudevents'
      ? JSON.stringify(cloudEvent(event, source))
      : JSON.stringify({ events: [distributionEvent(event, source)] });
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
  for (const [name, value] of Object.entries(endpoint.headers)) {
    if (name.toLowerCase() === 'user-agent') delete headers['User-Agent'];
    if (!RESERVED.has(name.toLowerCase())) headers[name] = value;
  }
  headers['Content-Type'] = endpoint.format === 'cloudevents' ? CLOUDEVENTS_TYPE : DISTRIBUTION_EVENTS_TYPE;
  if (endpoint.secret !== null) headers[SIGNATURE_HEADER] = signatureOf(body, endpoint.secret);
  return { body, headers };
}
