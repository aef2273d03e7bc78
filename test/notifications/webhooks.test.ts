// Webhooks end to end: an in-process Berth POSTs its events to real receivers on 127.0.0.1, in each
// endpoint's format, signed, filtered by each endpoint's actions and repository patterns.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, waitFor } from '../support/http.js';
import {
  distributionEvents,
  expectedSignature,
  pushSmallImage,
  startBerthOn,
  startWebhookReceiver,
  type BerthOnDataDir,
  type WebhookReceiver,
} from '../support/webhooks.js';

const SECRET = 'hook-secret-1';

describe('webhooks: formats, signatures and filters', () => {
  let dir: string;
  let berth: BerthOnDataDir;
  let all: WebhookReceiver;
  let cloud: WebhookReceiver;
  let deletes: WebhookReceiver;
  const digests: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-webhooks-'));
    [all, cloud, deletes] = await Promise.all([
      startWebhookReceiver(),
      startWebhookReceiver(),
      startWebhookReceiver(),
    ]);
    berth = await startBerthOn(dir, {
      notifications: {
        endpoints: [
          {
            name: 'all',
            url: all.url,
            actions: ['push', 'pull', 'delete', 'mount'],
            secret: SECRET,
            headers: { Authorization: 'Bearer receiver-token' },
          },
          {
            name: 'cloud',
            url: cloud.url,
            actions: ['push'],
            repositories: ['team-a/*'],
            format: 'cloudevents',
          },
          { name: 'deletes', url: deletes.url, actions: ['delete'], repositories: ['*/app'] },
        ],
        initialBackoff: '100ms',
        maxBackoff: '1s',
      },
    });
    digests['team-a/app'] = await pushSmallImage(berth.url, 'team-a/app', 'v1');
    digests['other/app'] = await pushSmallImage(berth.url, 'other/app', 'v1');
    digests['other/lib'] = await pushSmallImage(berth.url, 'other/lib', 'v1');
    const pulled = await rawRequest(berth.url, 'GET', '/v2/team-a/app/manifests/v1', {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(pulled.status).toBe(200);
    expect((await rawRequest(berth.url, 'DELETE', '/v2/other/app/manifests/v1')).status).toBe(202);
    expect((await rawRequest(berth.url, 'DELETE', '/v2/other/lib/manifests/v1')).status).toBe(202);
    // 3 blob pushes, 3 manifest pushes, a pull, 2 tag deletes.
    await waitFor('every event at the catch-all endpoint', () => all.accepted.length >= 9);
    await waitFor('the filtered endpoints', () => cloud.accepted.length >= 2 && deletes.accepted.length >= 1);
    // Anything sent by mistake would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
  });
  afterAll(async () => {
    await berth?.stop();
    await Promise.all([all, cloud, deletes].map((receiver) => receiver?.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends Distribution’s envelope, one event per request, with the endpoint’s headers', () => {
    expect(all.accepted).toHaveLength(9);
    for (const received of all.accepted) {
      expect(received.headers['content-type']).toBe('application/vnd.docker.distribution.events.v2+json');
      expect(received.headers.authorization).toBe('Bearer receiver-token');
      expect(received.headers['user-agent']).toBe('berth-notifications');
    }
    const events = distributionEvents(all.accepted);
    expect(new Set(events.map((e) => e.id)).size).toBe(9);
    const manifestPush = events.find(
      (e) => e.action === 'push' && e.target.repository === 'team-a/app' && e.target.tag,
    );
    expect(manifestPush).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
      action: 'push',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: expect.any(Number) as number,
        length: expect.any(Number) as number,
        digest: digests['team-a/app'],
        repository: 'team-a/app',
        tag: 'v1',
      },
      request: {
        id: expect.any(String) as string,
        addr: '127.0.0.1',
        host: new URL(berth.url).host,
        method: 'PUT',
        useragent: expect.any(String) as string,
      },
      actor: {},
      source: {
        addr: expect.stringMatching(new RegExp(`:${new URL(berth.url).port}$`)) as string,
        instanceID: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
      },
    });
    expect(events.map((e) => `${e.action} ${e.target.repository}`).sort()).toEqual([
      'delete other/app',
      'delete other/lib',
      'pull team-a/app',
      'push other/app',
      'push other/app',
      'push other/lib',
      'push other/lib',
      'push team-a/app',
      'push team-a/app',
    ]);
    const blobPush = events.find((e) => e.action === 'push' && e.target.tag === undefined);
    expect(blobPush?.target.mediaType).toBe('application/octet-stream');
  });

  it('signs every request: X-Berth-Signature is the HMAC-SHA256 of the body under the secret', () => {
    for (const received of all.accepted) {
      expect(received.headers['x-berth-signature']).toBe(expectedSignature(received.body, SECRET));
      expect(received.headers['x-berth-signature']).not.toBe(expectedSignature(received.body, 'other'));
    }
    // No secret, no signature.
    for (const received of [...cloud.accepted, ...deletes.accepted]) {
      expect(received.headers['x-berth-signature']).toBeUndefined();
    }
  });

  it('sends CloudEvents 1.0 structured JSON, for the pushes the patterns match only', () => {
    expect(cloud.accepted).toHaveLength(2);
    const events = cloud.accepted.map((received) => {
      expect(received.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      return JSON.parse(received.body) as Record<string, unknown> & { data: { id: string } };
    });
    expect(events.map((e) => e.type).sort()).toEqual(['io.berth.blob.push', 'io.berth.image.push']);
    const image = events.find((e) => e.type === 'io.berth.image.push');
    expect(image).toMatchObject({
      specversion: '1.0',
      source: `//${new URL(berth.url).host}`,
      subject: 'team-a/app:v1',
      datacontenttype: 'application/json',
      data: {
        action: 'push',
        target: { repository: 'team-a/app', tag: 'v1', digest: digests['team-a/app'] },
      },
    });
    expect(image?.id).toBe(image?.data.id);
  });

  it('sends an endpoint only its actions on its repositories', () => {
    expect(distributionEvents(deletes.accepted).map((e) => [e.action, e.target])).toEqual([
      ['delete', { repository: 'other/app', tag: 'v1' }],
    ]);
  });
});
