// Two Berth processes sharing one database and one storage, behind a real load balancer (nginx, round
// robin): real docker and skopeo through the balancer; a chunked upload whose PATCHes alternate between
// the replicas; a tag written through one replica served at once by the other; two replicas starting
// together on a fresh database (migrations run once).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk, localImageId, removeAllImages } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { openRequest, type RawResponse } from '../support/http.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { startLoadBalancer, type LoadBalancer } from '../support/nginx.js';
import { settleAll, startBerthProcess, type RegistryProcess } from '../support/processes.js';
import { requireTools, runOk } from '../support/tools.js';
import { digestOf, MEDIA } from './fixtures/oci-layout.js';

const enabled = requireTools('replicas e2e', ['docker', 'dockerd', 'busybox', 'skopeo', 'nginx']);
const OCTET = { 'Content-Type': 'application/octet-stream' };

async function send(baseUrl: string, method: string, path: string, headers = {}, body?: Buffer) {
  const { req, response } = openRequest(baseUrl, method, path, {
    ...headers,
    'Content-Length': String(body?.length ?? 0),
  });
  req.end(body);
  return response;
}

function expectStatus(res: RawResponse, status: number): void {
  expect(res.status, `${res.status} ${res.text.slice(0, 300)}`).toBe(status);
}

describe.skipIf(!enabled)('two replicas behind nginx', { timeout: 300_000 }, () => {
  let dataDir: string;
  const replicas: RegistryProcess[] = [];
  let balancer: LoadBalancer;
  let daemon: DockerDaemon;
  let image: BuiltImage;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-replicas-'));
    // Started together on a fresh data directory: both migrate the same new database.
    await settleAll([
      startBerthProcess({ dataDir }).then((r) => replicas.push(r)),
      startBerthProcess({ dataDir }).then((r) => replicas.push(r)),
      startDockerDaemon().then((d) => (daemon = d)),
    ]);
    balancer = await startLoadBalancer(replicas.map((r) => r.host));
    image = await buildDockerImage(daemon, 'local/replicas:v1', { randomLayersMiB: [4] });
  });

  afterAll(async () => {
    await Promise.allSettled([daemon?.stop(), balancer?.stop(), image?.remove()]);
    await Promise.allSettled(replicas.map((r) => r.stop()));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('pushes and pulls with docker through the balancer', async () => {
    const ref = `${balancer.host}/replicas/app:v1`;
    await dockerOk(daemon, ['tag', image.tag, ref]);
    const push = await dockerOk(daemon, ['push', ref]);
    const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
    expect(digest, push.stdout).toBeDefined();
    await removeAllImages(daemon);
    await dockerOk(daemon, ['pull', ref]);
    expect(await localImageId(daemon, ref)).toMatch(/^sha256:/);
    // Each replica serves what was pushed, whichever one took each request.
    for (const replica of replicas) {
      const res = await send(replica.url, 'HEAD', '/v2/replicas/app/manifests/v1', {
        Accept: 'application/vnd.docker.distribution.manifest.v2+json',
      });
      expectStatus(res, 200);
      expect(res.headers['docker-content-digest']).toBe(digest);
    }
  });

  it('copies between repositories and inspects with skopeo through the balancer', async () => {
    const target = `docker://${balancer.host}/replicas/skopeo:v1`;
    // From the image docker pushed, registry to registry: both ends through the balancer.
    const source = `docker://${balancer.host}/replicas/app:v1`;
    const args = ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', source, target];
    await runOk('skopeo', args, { timeoutMs: 180_000 });
    const inspect = await runOk('skopeo', ['inspect', '--tls-verify=false', target], { timeoutMs: 60_000 });
    expect(JSON.parse(inspect.stdout).Digest).toMatch(/^sha256:/);
  });

  it('assembles a chunked upload whose PATCHes alternate between the replicas', async () => {
    const [a, b] = replicas as [RegistryProcess, RegistryProcess];
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const started = await send(a.url, 'POST', '/v2/replicas/chunked/blobs/uploads/');
    expectStatus(started, 202);
    let location = started.headers.location ?? '';
    const chunk = 512 * 1024;
    for (let offset = 0, i = 0; offset < data.length; offset += chunk, i += 1) {
      const part = data.subarray(offset, offset + chunk);
      const replica = i % 2 === 0 ? b : a;
      const res = await send(
        replica.url,
        'PATCH',
        location,
        { ...OCTET, 'Content-Range': `${offset}-${offset + part.length - 1}` },
        part,
      );
      expectStatus(res, 202);
      expect(res.headers.range).toBe(`0-${offset + part.length - 1}`);
      location = res.headers.location ?? location;
    }
    const digest = digestOf(data);
    expectStatus(await send(b.url, 'PUT', `${location}?digest=${digest}`, OCTET), 201);
    const got = await send(a.url, 'GET', `/v2/replicas/chunked/blobs/${digest}`);
    expectStatus(got, 200);
    expect(got.body.equals(data)).toBe(true);
  });

  it('serves a tag written through one replica from the other at once, also after it moves', async () => {
    const [a, b] = replicas as [RegistryProcess, RegistryProcess];
    const config = Buffer.from('{}');
    const configDigest = digestOf(config);
    expectStatus(
      await send(a.url, 'POST', `/v2/replicas/tags/blobs/uploads/?digest=${configDigest}`, OCTET, config),
      201,
    );
    const manifestFor = (label: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA.ociManifest,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 },
          layers: [],
          annotations: { label },
        }),
      );
    for (const [writer, reader] of [
      [a, b],
      [b, a],
      [a, b],
    ] as const) {
      // Read first, so the reader has the old answer cached when the writer moves the tag.
      await send(reader.url, 'GET', '/v2/replicas/tags/manifests/latest', { Accept: MEDIA.ociManifest });
      const manifest = manifestFor(randomBytes(4).toString('hex'));
      expectStatus(
        await send(
          writer.url,
          'PUT',
          '/v2/replicas/tags/manifests/latest',
          { 'Content-Type': MEDIA.ociManifest },
          manifest,
        ),
        201,
      );
      const res = await send(reader.url, 'GET', '/v2/replicas/tags/manifests/latest', {
        Accept: MEDIA.ociManifest,
      });
      expectStatus(res, 200);
      expect(res.headers['docker-content-digest']).toBe(digestOf(manifest));
    }
  });
});
