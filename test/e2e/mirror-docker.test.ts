// Berth as a pull-through mirror for the Docker engine and for containerd, with CNCF Distribution 2.8
// as the upstream (images built FROM scratch and pushed there with `docker push` by a first dockerd):
// - a second dockerd with `registry-mirrors` pulls Docker Hub names (`NAME:TAG` means library/NAME)
//   through `berth serve --mirror URL`; its fallback to Docker Hub goes to a proxy setting that points
//   at a closed loopback port, so only the mirror can have served what it pulled;
// - `ctr images pull --hosts-dir` pulls docker.io/library/NAME and 127.0.0.1:PORT/NAME through a Berth
//   whose config file lists two upstreams: containerd adds `?ns=<host of the reference>` and Berth
//   picks the upstream by that host.
// Tests run in order and share the processes.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { dockerOk, localImageId, removeAllImages, runBusybox } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import {
  blobsOf,
  catalog,
  refusedProxyEnv,
  startMirrorProcess,
  type MirrorProcess,
} from '../support/mirror-process.js';
import {
  E2E_TEST_TIMEOUT_MS,
  settleAll,
  startDistribution,
  type RegistryProcess,
} from '../support/processes.js';
import { format } from '../support/request-log.js';
import { describeFailure, requireTools, type RunResult } from '../support/tools.js';
import { digestOf } from './fixtures/oci-layout.js';
import { fetchManifest, listTags } from './fixtures/registry-http.js';

const enabled = requireTools('mirror e2e (dockerd registry-mirrors, containerd hosts.toml)', [
  'docker',
  'dockerd',
  'busybox',
  'docker-registry',
  'containerd',
  'ctr',
]);

interface Upstreamed {
  image: BuiltImage;
  /** Repository at the upstream, e.g. library/mirror-app. */
  repo: string;
  /** Manifest digest and bytes as the upstream serves them. */
  digest: string;
  manifest: Buffer;
}

describe.skipIf(!enabled)(
  'Berth mirroring Distribution for dockerd registry-mirrors and containerd hosts.toml',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    /** Docker Hub's stand-in: the root upstream. */
    let hub: RegistryProcess;
    /** A second upstream, under the prefix `other` of the config-file mirror. */
    let other: RegistryProcess;
    let builder: DockerDaemon;
    /** dockerd with registry-mirrors → rootMirror, Docker Hub refused. */
    let puller: DockerDaemon;
    let containerd: Containerd;
    /** `berth serve --mirror <hub>`. */
    let rootMirror: MirrorProcess;
    /** `berth serve --config` with hub (root, prefix hub, hosts docker.io) and other (prefix other). */
    let nsMirror: MirrorProcess;
    let work: string;
    let refused: Record<string, string>;
    let app: Upstreamed;
    let ctrImage: Upstreamed;
    let otherImage: Upstreamed;

    const docker = (daemon: DockerDaemon, ...args: string[]): Promise<RunResult> => dockerOk(daemon, args);

    /** Pushes `image` from the builder to `registry` as `repo:v1` and reads back what the upstream serves. */
    const pushUpstream = async (
      image: BuiltImage,
      registry: RegistryProcess,
      repo: string,
    ): Promise<Upstreamed> => {
      const ref = `${registry.host}/${repo}:v1`;
      await docker(builder, 'tag', image.tag, ref);
      const push = await docker(builder, 'push', ref);
      const served = await fetchManifest(registry.url, repo, 'v1');
      expect(served.status).toBe(200);
      expect(push.stdout).toContain(`v1: digest: ${served.digest}`);
      return { image, repo, digest: served.digest, manifest: served.body };
    };

    /** `ctr images pull` through a hosts directory, with Docker Hub refused; never rejects. */
    const ctrPull = (namespace: string, hostsDir: string, ref: string): Promise<RunResult> =>
      containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', ref], {
        namespace,
        env: { ...process.env, ...refused },
        timeoutMs: 120_000,
      });
    const ctrOk = async (namespace: string, ...args: string[]): Promise<RunResult> => {
      const result = await containerd.ctr(args, { namespace });
      if (result.code !== 0) throw new Error(describeFailure('ctr', args, result));
      return result;
    };

    /** hosts.toml for `host`: the registry `server`, and the mirror as a pull/resolve host before it. */
    const writeHosts = async (dir: string, host: string, server: string, mirror: string): Promise<void> => {
      await mkdir(join(dir, host), { recursive: true });
      await writeFile(
        join(dir, host, 'hosts.toml'),
        [`server = "${server}"`, '', `[host."${mirror}"]`, '  capabilities = ["pull", "resolve"]', ''].join(
          '\n',
        ),
      );
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-mirror-docker-'));
      refused = await refusedProxyEnv();
      await settleAll([
        startDistribution().then((r) => (hub = r)),
        startDistribution().then((r) => (other = r)),
        startDockerDaemon().then((d) => (builder = d)),
        startContainerd().then((c) => (containerd = c)),
      ]);
      await settleAll([
        startMirrorProcess({ mirrorFlag: hub.url }).then((m) => (rootMirror = m)),
        startMirrorProcess({
          upstreams: [
            { name: 'hub', url: hub.url, prefix: 'hub', root: true, hosts: ['docker.io'] },
            { name: 'other', url: other.url, prefix: 'other' },
          ],
        }).then((m) => (nsMirror = m)),
      ]);
      await settleAll([
        startDockerDaemon({
          daemonConfig: { 'registry-mirrors': [rootMirror.registry.url] },
          env: refused,
        }).then((d) => (puller = d)),
        (async () => {
          const appImage = await buildDockerImage(builder, 'local/mirror-app:v1', { randomLayersMiB: [4] });
          app = await pushUpstream(appImage, hub, 'library/mirror-app');
          const ctrBuilt = await buildDockerImage(builder, 'local/mirror-ctr:v1', { smallFiles: 2 });
          ctrImage = await pushUpstream(ctrBuilt, hub, 'library/mirror-ctr');
          otherImage = await pushUpstream(ctrBuilt, other, 'team/ctr-app');
        })(),
      ]);
    });

    afterAll(async () => {
      await Promise.allSettled([
        puller?.stop(),
        builder?.stop(),
        containerd?.stop(),
        rootMirror?.stop(),
        nsMirror?.stop(),
        hub?.stop(),
        other?.stop(),
        app?.image.remove(),
        ctrImage?.image.remove(),
      ]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    describe('dockerd registry-mirrors → berth serve --mirror', () => {
      it('pulls NAME:TAG as library/NAME through the mirror, runs it, and leaves it cached', async () => {
        expect(await catalog(rootMirror.registry.url)).not.toContain(app.repo);
        const mark = rootMirror.log.mark();
        const pull = await puller.docker(['pull', 'mirror-app:v1'], { timeoutMs: 180_000 });
        expect(pull.code, rootMirror.withLog(describeFailure('docker', ['pull'], pull))).toBe(0);
        expect(pull.stdout).toContain(`Digest: ${app.digest}`);

        // The daemon asked the mirror (not Docker Hub) for the Docker Hub name, and got every blob there.
        // dockerd resolves the tag with a HEAD, then GETs the manifest by the digest it was given.
        const requests = await rootMirror.requestsSince(mark);
        expect(requests, format(requests)).toContainEqual({
          method: 'HEAD',
          path: '/v2/library/mirror-app/manifests/v1',
          status: 200,
        });
        const { config, layers } = blobsOf(app.manifest);
        const paths = [`manifests/${app.digest}`, ...[config, ...layers].map((d) => `blobs/${d}`)];
        for (const path of paths) {
          expect(requests, format(requests)).toContainEqual({
            method: 'GET',
            path: `/v2/library/mirror-app/${path}`,
            status: 200,
          });
        }

        expect(await localImageId(puller, 'mirror-app:v1')).toBe(await localImageId(builder, app.image.tag));
        const sums = await runBusybox(puller, 'mirror-app:v1', 'sha256sum', ...Object.keys(app.image.files));
        expect(parseSha256sum(sums)).toEqual(app.image.files);

        // Cached under the name the daemon used: the catalog and the tag list are local reads.
        expect(await catalog(rootMirror.registry.url)).toContain(app.repo);
        expect(await listTags(rootMirror.registry.url, app.repo)).toEqual(['v1']);
        const cached = await fetchManifest(rootMirror.registry.url, app.repo, app.digest);
        expect(cached.body.equals(app.manifest)).toBe(true);
      });

      it('pulls by digest into an emptied engine from the cache, with no new upstream download', async () => {
        await removeAllImages(puller);
        const mark = rootMirror.log.mark();
        const byDigest = `mirror-app@${app.digest}`;
        await docker(puller, 'pull', byDigest);
        expect(await runBusybox(puller, byDigest, 'cat', '/data/id')).toBe(`${app.image.id}\n`);

        // dockerd may take the manifest from its own content store; every blob comes from the mirror.
        const requests = await rootMirror.requestsSince(mark);
        const { config, layers } = blobsOf(app.manifest);
        for (const digest of [config, ...layers]) {
          expect(requests, format(requests)).toContainEqual({
            method: 'GET',
            path: `/v2/library/mirror-app/blobs/${digest}`,
            status: 200,
          });
        }
        const downloads = (await rootMirror.eventsSince(mark)).filter(
          (e) => e.msg === 'mirror cached a blob',
        );
        expect(downloads).toEqual([]);
      });

      it("fails a pull the upstream cannot serve, and the daemon's Docker Hub fallback is refused locally", async () => {
        const mark = rootMirror.log.mark();
        const pull = await puller.docker(['pull', 'mirror-missing:v1'], { timeoutMs: 120_000 });
        expect(pull.code).not.toBe(0);
        // The fallback to registry-1.docker.io went to the closed proxy port: nothing left the machine.
        expect(pull.stderr).toMatch(/proxyconnect|connection refused/i);
        expect(await rootMirror.requestsSince(mark)).toContainEqual({
          method: 'GET',
          path: '/v2/library/mirror-missing/manifests/v1',
          status: 404,
        });
      });

      it('refuses a push to a cached name at the root (DENIED, the reason in the detail)', async () => {
        const cachedRef = `${rootMirror.registry.host}/library/mirror-app:pushed`;
        await docker(puller, 'tag', `mirror-app@${app.digest}`, cachedRef);
        const mark = rootMirror.log.mark();
        const refusedPush = await puller.docker(['push', cachedRef], { timeoutMs: 120_000 });
        expect(refusedPush.code).not.toBe(0);
        expect(refusedPush.stdout + refusedPush.stderr).toMatch(/^denied: /m);
        expect(await rootMirror.requestsSince(mark)).toContainEqual({
          method: 'PUT',
          path: '/v2/library/mirror-app/manifests/pushed',
          status: 403,
        });
        const upload = await fetch(`${rootMirror.registry.url}/v2/${app.repo}/blobs/uploads/`, {
          method: 'POST',
          signal: AbortSignal.timeout(10_000),
        });
        expect(upload.status).toBe(403);
        // Clients print the message; the reason is in the detail.
        expect(await upload.json()).toMatchObject({
          errors: [
            {
              code: 'DENIED',
              detail: {
                reason: expect.stringMatching(/^library\/mirror-app is a cache of upstream registry/),
              },
            },
          ],
        });
        expect(await listTags(rootMirror.registry.url, app.repo)).toEqual(['v1']);
        expect(await listTags(hub.url, app.repo)).toEqual(['v1']);
      });

      it('takes a push to a new name at the root and serves it from there, not from the upstream', async () => {
        // A name the upstream does not hold is an ordinary private repository of the mirror.
        const localRef = `${rootMirror.registry.host}/team/own:v1`;
        await docker(puller, 'tag', `mirror-app@${app.digest}`, localRef);
        const push = await docker(puller, 'push', localRef);
        expect(push.stdout).toContain(`v1: digest: ${app.digest}`);
        const served = await fetchManifest(rootMirror.registry.url, 'team/own', 'v1');
        expect(served.status, `GET /v2/team/own/manifests/v1 after the push: ${served.body}`).toBe(200);
        expect(served.digest).toBe(app.digest);
        expect(await listTags(hub.url, 'team/own')).toEqual([]);

        // The daemon's mirror serves it at the root from the local repository.
        const mark = rootMirror.log.mark();
        const pull = await puller.docker(['pull', 'team/own:v1'], { timeoutMs: 120_000 });
        expect(pull.code, rootMirror.withLog(describeFailure('docker', ['pull', 'team/own:v1'], pull))).toBe(
          0,
        );
        expect(pull.stdout).toContain(`Digest: ${app.digest}`);
        expect(await rootMirror.requestsSince(mark)).toContainEqual({
          method: 'HEAD',
          path: '/v2/team/own/manifests/v1',
          status: 200,
        });
      });
    });

    describe('containerd hosts.toml → berth serve --config (two upstreams)', () => {
      it('pulls docker.io/library/NAME with ?ns=docker.io from the root upstream, content unchanged', async () => {
        const hostsDir = join(work, 'hosts-hub');
        await writeHosts(hostsDir, 'docker.io', 'https://registry-1.docker.io', nsMirror.registry.url);
        const ref = 'docker.io/library/mirror-ctr:v1';
        const mark = nsMirror.log.mark();
        const pull = await ctrPull('hub', hostsDir, ref);
        expect(pull.code, nsMirror.withLog(describeFailure('ctr', ['images', 'pull', ref], pull))).toBe(0);

        const requests = await nsMirror.requestsSince(mark);
        const { config, layers } = blobsOf(ctrImage.manifest);
        for (const digest of [config, ...layers]) {
          expect(requests, format(requests)).toContainEqual({
            method: 'GET',
            path: `/v2/library/mirror-ctr/blobs/${digest}`,
            status: 200,
          });
        }

        const listed = (await ctrOk('hub', 'images', 'ls')).stdout.split('\n');
        expect(listed.find((line) => line.startsWith(`${ref} `))?.split(/\s+/)[2]).toBe(ctrImage.digest);
        expect((await ctrOk('hub', 'images', 'check')).stdout).toMatch(
          new RegExp(`^${escape(ref)}\\s.*complete`, 'm'),
        );
        expect(digestOf(await containerd.content(ctrImage.digest, 'hub'))).toBe(ctrImage.digest);
        for (const digest of [config, ...layers]) {
          expect(digestOf(await containerd.content(digest, 'hub'))).toBe(digest);
        }
        // ns=docker.io names the root upstream: cached at the root, not under its prefix.
        expect(await listTags(nsMirror.registry.url, 'library/mirror-ctr')).toEqual(['v1']);
        expect(await listTags(nsMirror.registry.url, 'hub/library/mirror-ctr')).toEqual([]);
      });

      it('answers ?ns= requests with OCI-Namespace, and ordinary ones without it', async () => {
        const base = nsMirror.registry.url;
        const get = (path: string) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
        const withNs = await get('/v2/library/mirror-ctr/manifests/v1?ns=docker.io');
        expect(withNs.status).toBe(200);
        expect(withNs.headers.get('oci-namespace')).toBe('docker.io');
        expect(withNs.headers.get('docker-content-digest')).toBe(ctrImage.digest);
        expect(digestOf(Buffer.from(await withNs.arrayBuffer()))).toBe(ctrImage.digest);

        // Docker Hub naming for the upstream that answers for docker.io: NAME means library/NAME.
        const short = await get('/v2/mirror-ctr/manifests/v1?ns=docker.io');
        expect(short.status).toBe(200);
        expect(short.headers.get('oci-namespace')).toBe('docker.io');
        expect(short.headers.get('docker-content-digest')).toBe(ctrImage.digest);
        await short.arrayBuffer();

        const plain = await get('/v2/library/mirror-ctr/manifests/v1');
        expect(plain.status).toBe(200);
        expect(plain.headers.get('oci-namespace')).toBeNull();
        await plain.arrayBuffer();
      });

      it('pulls 127.0.0.1:PORT/NAME with ?ns=<that host> from the upstream under its prefix', async () => {
        const hostsDir = join(work, 'hosts-other');
        await writeHosts(hostsDir, other.host, other.url, nsMirror.registry.url);
        const ref = `${other.host}/team/ctr-app:v1`;
        expect(await listTags(nsMirror.registry.url, 'other/team/ctr-app')).toEqual([]);
        const mark = nsMirror.log.mark();
        const pull = await ctrPull('other', hostsDir, ref);
        expect(pull.code, nsMirror.withLog(describeFailure('ctr', ['images', 'pull', ref], pull))).toBe(0);

        // The mirror answered (containerd would otherwise have fallen back to the server silently).
        const requests = await nsMirror.requestsSince(mark);
        for (const digest of blobsOf(otherImage.manifest).layers) {
          expect(requests, format(requests)).toContainEqual({
            method: 'GET',
            path: `/v2/team/ctr-app/blobs/${digest}`,
            status: 200,
          });
        }
        const listed = (await ctrOk('other', 'images', 'ls')).stdout.split('\n');
        expect(listed.find((line) => line.startsWith(`${ref} `))?.split(/\s+/)[2]).toBe(otherImage.digest);
        expect(await listTags(nsMirror.registry.url, 'other/team/ctr-app')).toEqual(['v1']);

        const direct = await fetch(
          `${nsMirror.registry.url}/v2/team/ctr-app/manifests/v1?ns=${encodeURIComponent(other.host)}`,
          { method: 'HEAD', signal: AbortSignal.timeout(10_000) },
        );
        expect(direct.status).toBe(200);
        expect(direct.headers.get('oci-namespace')).toBe(other.host);
        expect(direct.headers.get('docker-content-digest')).toBe(otherImage.digest);
      });
    });
  },
);

/** `sha256sum` output → { path: hex }. */
function parseSha256sum(output: string): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const line of output.trim().split('\n')) {
    const [hex, path] = line.split(/\s+/);
    if (hex && path) sums[path] = hex;
  }
  return sums;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
