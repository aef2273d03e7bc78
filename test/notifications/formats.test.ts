// The bytes a receiver gets: Distribution's envelope, CloudEvents 1.0 structured JSON, the signature
// and the endpoint's headers.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../../src/events/registry-event.js';
import {
  cloudEvent,
  cloudEventType,
  distributionEvent,
  webhookRequest,
} from '../../src/notifications/formats.js';

const SOURCE = { addr: 'berth-1:5000', instanceID: '0b9f1c8e-instance' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

const event = (extra: Partial<RegistryEvent> & Pick<RegistryEvent, 'action' | 'target'>): RegistryEvent => ({
  id: '5d3d6f1e-event',
  timestamp: '2024-05-01T12:00:00.123Z',
  request: {
    id: 'req-1',
    addr: '10.0.0.7',
    host: 'registry.example.com',
    method: 'PUT',
    userAgent: 'docker/27.0',
  },
  actor: { name: 'alice' },
  ...extra,
});

const manifestPush = event({
  action: 'push',
  target: {
    kind: 'manifest',
    repository: 'team-a/app',
    digest: DIGEST,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 528,
    tag: 'v1',
  },
});

describe('Distribution envelope', () => {
  it('sends the fields Distribution sends for a manifest push with a tag', () => {
    expect(distributionEvent(manifestPush, SOURCE)).toEqual({
      id: '5d3d6f1e-event',
      timestamp: '2024-05-01T12:00:00.123Z',
      action: 'push',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 528,
        length: 528,
        digest: DIGEST,
        repository: 'team-a/app',
        tag: 'v1',
      },
      request: {
        id: 'req-1',
        addr: '10.0.0.7',
        host: 'registry.example.com',
        method: 'PUT',
        useragent: 'docker/27.0',
      },
      actor: { name: 'alice' },
      source: { addr: 'berth-1:5000', instanceID: '0b9f1c8e-instance' },
    });
  });

  it('gives blobs Distribution’s application/octet-stream, and leaves out what a delete does not know', () => {
    const blob = distributionEvent(
      event({ action: 'push', target: { kind: 'blob', repository: 'r', digest: DIGEST } }),
      SOURCE,
    );
    expect(blob.target).toEqual({ mediaType: 'application/octet-stream', digest: DIGEST, repository: 'r' });
    const tagDelete = distributionEvent(
      event({ action: 'delete', target: { kind: 'tag', repository: 'r', tag: 'old' }, actor: {} }),
      SOURCE,
    );
    expect(tagDelete.target).toEqual({ repository: 'r', tag: 'old' });
    expect(tagDelete.actor).toEqual({});
    const blobDelete = distributionEvent(
      event({ action: 'delete', target: { kind: 'blob', repository: 'r', digest: DIGEST } }),
      SOURCE,
    );
    expect(blobDelete.target).toEqual({ digest: DIGEST, repository: 'r' });
  });

  it('is one event in {"events": [...]} as application/vnd.docker.distribution.events.v2+json', () => {
    const { body, headers } = webhookRequest(
      { format: 'distribution', secret: null, headers: {} },
      manifestPush,
      SOURCE,
    );
    expect(JSON.parse(body)).toEqual({ events: [distributionEvent(manifestPush, SOURCE)] });
    expect(headers['Content-Type']).toBe('application/vnd.docker.distribution.events.v2+json');
    expect(headers['X-Berth-Signature']).toBeUndefined();
  });
});

describe('CloudEvents', () => {
  it('is a CloudEvents 1.0 structured event with the Distribution event as data', () => {
    expect(cloudEvent(manifestPush, SOURCE)).toEqual({
      specversion: '1.0',
      id: '5d3d6f1e-event',
      source: '//registry.example.com',
      type: 'io.berth.image.push',
      time: '2024-05-01T12:00:00.123Z',
      subject: 'team-a/app:v1',
      datacontenttype: 'application/json',
      data: distributionEvent(manifestPush, SOURCE),
    });
    const { body, headers } = webhookRequest(
      { format: 'cloudevents', secret: null, headers: {} },
      manifestPush,
      SOURCE,
    );
    expect(JSON.parse(body)).toEqual(cloudEvent(manifestPush, SOURCE));
    expect(headers['Content-Type']).toBe('application/cloudevents+json; charset=utf-8');
  });

  it('names the type after what changed and the subject after the reference', () => {
    const byDigest = event({ action: 'pull', target: { kind: 'manifest', repository: 'r', digest: DIGEST } });
    expect(cloudEventType(byDigest)).toBe('io.berth.image.pull');
    expect(cloudEvent(byDigest, SOURCE).subject).toBe(`r@${DIGEST}`);
    expect(
      cloudEventType(event({ action: 'delete', target: { kind: 'tag', repository: 'r', tag: 't' } })),
    ).toBe('io.berth.tag.delete');
    expect(cloudEventType(event({ action: 'mount', target: { kind: 'blob', repository: 'r' } }))).toBe(
      'io.berth.blob.mount',
    );
    const hostless = event({ action: 'push', target: { kind: 'blob', repository: 'r' } });
    hostless.request.host = '';
    expect(cloudEvent(hostless, SOURCE)).toMatchObject({ source: '//berth-1:5000', subject: 'r' });
  });
});

describe('signature and headers', () => {
  it('signs the exact body: HMAC-SHA256 under the secret, as sha256=<hex>', () => {
    for (const format of ['distribution', 'cloudevents'] as const) {
      const { body, headers } = webhookRequest(
        { format, secret: 's3cret', headers: {} },
        manifestPush,
        SOURCE,
      );
      const expected = createHmac('sha256', 's3cret').update(Buffer.from(body, 'utf8')).digest('hex');
      expect(headers['X-Berth-Signature']).toBe(`sha256=${expected}`);
    }
  });

  it('sends the endpoint’s headers, but never lets them replace the content type or the signature', () => {
    const { headers } = webhookRequest(
      {
        format: 'distribution',
        secret: 'k',
        headers: {
          Authorization: 'Bearer abc',
          'content-type': 'text/plain',
          'x-berth-signature': 'forged',
          'Content-Length': '1',
          'user-agent': 'custom/1',
        },
      },
      manifestPush,
      SOURCE,
    );
    expect(headers).toEqual({
      Authorization: 'Bearer abc',
      'user-agent': 'custom/1',
      'Content-Type': 'application/vnd.docker.distribution.events.v2+json',
      'X-Berth-Signature': expect.stringMatching(/^sha256=[0-9a-f]{64}$/) as string,
    });
  });
});
