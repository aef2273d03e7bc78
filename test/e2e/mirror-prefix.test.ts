// Berth as a pull-through mirror addressed by prefix, from a config file with two upstreams:
// - `hub`: CNCF Distribution 2.8 (root, prefix hub, hosts docker.io), holding an image pushed with
//   `docker push` and a two-platform OCI index copied there with `skopeo copy --all`;
// - `corp`: a second Berth with token authentication, reached with configured credentials (the Docker
//   token dance).
// skopeo pulls through `<prefix>/<upstream name>`; docker pushes to the proxied prefixes are refused;
// the multi-platform index and its children keep their digests and are served from the cache once the
// upstream is stopped. Tests run in order and share the processes.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import {
  blobsOf,
  catalog,
  fetchBlob,
  startMirrorProcess,
  type MirrorProcess,
} from '../support/mirror-process.js';
import {
  E2E_TEST_TIMEOUT_MS,
  settleAll,
  startDistribution,
  type RegistryProcess,
} from '../support/processes.js';
import { exchangesWith, format } from '../support/request-log.js';
import { READER, WRITER, addTeamAccounts } from '../support/team-accounts.js';
import { startTokenBerth, type TokenBerth } from '../support/token-berth.js';
import { describeFailure, requireTools, run, type RunResult } from '../support/tools.js';
import {
  digestOf,
  layoutDigestForTag,
  MEDIA,
  readLayoutBlob,
  writeOciLayout,
  type Layout,
} from './fixtures/oci-layout.js';
import { fetchManifest, listTags } from './fixtures/registry-http.js';

const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));

const enabled = requireTools('mirror e2e (skopeo through prefixes, token upstream, multi-arch)', [
  'skopeo',
  'docker',
  'dockerd',
  'busybox',
  'docker-registry',
]);

interface Inspect {
  Digest: string;
  Layers: string[];
}

describe.skipIf(!enabled)(
  'Berth mirroring Distribution and a token-auth Berth under prefixes',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    /** Upstream `hub` (root, prefix hub, hosts docker.io). */
    let hub: RegistryProcess;
    /** Upstream `corp` (prefix corp), token auth; the mirror logs in as READER. */
    let corp: TokenBerth;
    let mirror: MirrorProcess;
    let daemon: DockerDaemon;
    let image: BuiltImage;
    let work: string;
    let env: Record<string, string | undefined>;
    let single: Layout;
    let multi: Layout;
    /** library/prefix-app:v1 as the upstream serves it. */
    let app: { digest: string; manifest: Buffer };

    const skopeoRaw = (...args: string[]): Promise<RunResult> =>
      run('skopeo', ['--policy', policy, '--tmpdir', join(work, 'tmp'), ...args], {
        env,
        timeoutMs: 180_000,
      });
    const skopeo = async (...args: string[]): Promise<RunResult> => {
      const result = await skopeoRaw(...args);
      if (result.code !== 0) throw new Error(mirror.withLog(describeFailure('skopeo', args, result)));
      return result;
    };
    const viaMirror = (name: string): string => `docker://${mirror.registry.host}/${name}`;
    const inspect = async (name: string): Promise<Inspect> =>
      JSON.parse((await skopeo('inspect', '--tls-verify=false', viaMirror(name))).stdout) as Inspect;
    const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);
    const ociImage = (layout: Layout, index = 0) => {
      const found = layout.images[index];
      if (!found) throw new Error(`layout ${layout.dir} has no image ${index}`);
      return found;
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-mirror-prefix-'));
      await mkdir(join(work, 'tmp'));
      await mkdir(join(work, 'docker-config'));
      await writeFile(join(work, 'auth.json'), '{}\n');
      env = {
        ...process.env,
        DOCKER_CONFIG: join(work, 'docker-config'),
        REGISTRY_AUTH_FILE: join(work, 'auth.json'),
      };
      await settleAll([
        startDistribution().then((r) => (hub = r)),
        startTokenBerth().then((b) => (corp = b)),
        startDockerDaemon().then((d) => (daemon = d)),
        writeOciLayout(join(work, 'single'), 'one', [{ os: 'linux', architecture: 'amd64' }]).then(
          (l) => (single = l),
        ),
        writeOciLayout(join(work, 'multi'), 'multi', [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ]).then((l) => (multi = l)),
      ]);
      await addTeamAccounts(corp.accounts, [WRITER, READER]);
      await corp.accounts.addNamespace('secret');
      await corp.accounts.grant('secret', WRITER[0], 'write');

      await settleAll([
        startMirrorProcess({
          upstreams: [
            // Tags stay fresh for the whole run: the last test serves them with the upstream stopped.
            {
              name: 'hub',
              url: hub.url,
              prefix: 'hub',
              root: true,
              hosts: ['docker.io'],
              tagFreshness: '1h',
            },
            {
              name: 'corp',
              url: corp.registry.url,
              prefix: 'corp',
              username: READER[0],
              password: READER[1],
            },
          ],
        }).then((m) => (mirror = m)),
        (async () => {
          image = await buildDockerImage(daemon, 'local/prefix-app:v1', { randomLayersMiB: [2] });
          const ref = `${hub.host}/library/prefix-app:v1`;
          await docker('tag', image.tag, ref);
          const push = await docker('push', ref);
          const served = await fetchManifest(hub.url, 'library/prefix-app', 'v1');
          expect(push.stdout).toContain(`v1: digest: ${served.digest}`);
          app = { digest: served.digest, manifest: served.body };
        })(),
        (async () => {
          const toCorp = ['copy', '--dest-tls-verify=false', '--dest-creds', WRITER.join(':')];
          const corpRef = (name: string) => `docker://${corp.registry.host}/${name}`;
          await skopeoRaw(...toCorp, `oci:${single.dir}:one`, corpRef('team/app:v1')).then(assertOk);
          await skopeoRaw(...toCorp, `oci:${single.dir}:one`, corpRef('secret/app:v1')).then(assertOk);
          const toHub = ['copy', '--all', '--dest-tls-verify=false', `oci:${multi.dir}:multi`];
          await skopeoRaw(...toHub, `docker://${hub.host}/library/multi:v1`).then(assertOk);
          expect((await fetchManifest(hub.url, 'library/multi', 'v1')).digest).toBe(multi.topDigest);
        })(),
      ]);
    });

    afterAll(async () => {
      await Promise.allSettled([
        daemon?.stop(),
        mirror?.stop(),
        hub?.stop(),
        corp?.registry.stop(),
        image?.remove(),
      ]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('copies hub/library/NAME with skopeo: manifest and blobs byte for byte the upstream’s', async () => {
      expect(await catalog(mirror.registry.url)).toEqual([]);
      const out = join(work, 'out-app');
      await skopeo('copy', '--src-tls-verify=false', viaMirror('hub/library/prefix-app:v1'), `dir:${out}`);
      const manifest = await readFile(join(out, 'manifest.json'));
      expect(digestOf(manifest)).toBe(app.digest);
      expect(manifest.equals(app.manifest)).toBe(true);
      const { config, layers } = blobsOf(manifest);
      for (const digest of [config, ...layers]) {
        expect(digestOf(await readFile(join(out, digest.slice('sha256:'.length))))).toBe(digest);
      }

      const info = await inspect('hub/library/prefix-app:v1');
      expect(info.Digest).toBe(app.digest);
      expect(info.Layers).toEqual(layers);
      // Cached under its prefix, the name the client used; the upstream's name is not a local one.
      expect(await catalog(mirror.registry.url)).toEqual(['hub/library/prefix-app']);
      expect(await listTags(mirror.registry.url, 'hub/library/prefix-app')).toEqual(['v1']);
    });

    it('reads a one-component name under the Docker Hub prefix as library/NAME', async () => {
      expect((await inspect('hub/prefix-app:v1')).Digest).toBe(app.digest);
    });

    it('pulls from the token-auth upstream with the configured account (the token dance)', async () => {
      const mark = corp.log.mark();
      const out = join(work, 'out-corp');
      await skopeo('copy', '--src-tls-verify=false', viaMirror('corp/team/app:v1'), `oci:${out}:v1`);
      expect(await layoutDigestForTag(out, 'v1')).toBe(single.topDigest);
      const { layerDigest } = ociImage(single);
      expect(
        (await readLayoutBlob(out, layerDigest)).equals(await readLayoutBlob(single.dir, layerDigest)),
      ).toBe(true);

      // Challenged, one token for the scope (cached for the requests after it), then the content.
      const requests = await corp.requestsSince(mark);
      expect(requests, format(requests)).toContainEqual({
        method: 'HEAD',
        path: '/v2/team/app/manifests/v1',
        status: 401,
      });
      expect(exchangesWith(requests, '/auth/token'), format(requests)).toEqual(['GET /auth/token 200']);
      expect(requests, format(requests)).toContainEqual({
        method: 'GET',
        path: `/v2/team/app/blobs/${layerDigest}`,
        status: 200,
      });
      expect(await listTags(mirror.registry.url, 'corp/team/app')).toEqual(['v1']);
    });

    it('answers denied when the upstream refuses the configured account', async () => {
      const mark = mirror.log.mark();
      const result = await skopeoRaw('inspect', '--tls-verify=false', viaMirror('corp/secret/app:v1'));
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/denied/i);
      expect(await mirror.requestsSince(mark)).toContainEqual({
        method: 'GET',
        path: '/v2/corp/secret/app/manifests/v1',
        status: 403,
      });
      expect(await listTags(mirror.registry.url, 'corp/secret/app')).toEqual([]);
    });

    it('refuses docker pushes to both proxied prefixes, and nothing reaches either upstream', async () => {
      for (const repo of ['corp/team/app', 'hub/library/prefix-app']) {
        const ref = `${mirror.registry.host}/${repo}:pushed`;
        await docker('tag', image.tag, ref);
        const mark = mirror.log.mark();
        const push = await daemon.docker(['push', ref], { timeoutMs: 120_000 });
        expect(push.code, `docker push ${ref} should fail:\n${push.stdout}`).not.toBe(0);
        expect(push.stdout + push.stderr).toMatch(/^denied: /m);
        const requests = await mirror.requestsSince(mark);
        const writes = requests.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));
        expect(
          writes.map((r) => r.status),
          format(requests),
        ).toContain(403);
        expect(
          writes.filter((r) => r.status < 300),
          format(requests),
        ).toEqual([]);
        expect(await listTags(mirror.registry.url, repo)).not.toContain('pushed');
      }
      expect((await corp.manifestAs('team/app', 'pushed')).status).toBe(404);
      expect(await listTags(hub.url, 'library/prefix-app')).toEqual(['v1']);
    });

    it('copies a two-platform index with --all: the index and both children keep their digests', async () => {
      const out = join(work, 'out-multi');
      await skopeo(
        'copy',
        '--all',
        '--src-tls-verify=false',
        viaMirror('hub/library/multi:v1'),
        `oci:${out}:v1`,
      );
      expect(await layoutDigestForTag(out, 'v1')).toBe(multi.topDigest);
      for (const child of multi.images) {
        expect((await readLayoutBlob(out, child.manifestDigest)).equals(child.manifest)).toBe(true);
        const layer = await readLayoutBlob(out, child.layerDigest);
        expect(layer.equals(await readLayoutBlob(multi.dir, child.layerDigest))).toBe(true);
      }

      // Nothing converted: the mirror serves the upstream's index bytes, and the index by digest.
      const index = await fetchManifest(mirror.registry.url, 'hub/library/multi', 'v1');
      expect(index.contentType).toBe(MEDIA.ociIndex);
      expect(index.digest).toBe(multi.topDigest);
      expect(index.body.equals(multi.index ?? Buffer.alloc(0))).toBe(true);
      const raw = await skopeo(
        'inspect',
        '--tls-verify=false',
        '--raw',
        viaMirror(`hub/library/multi@${multi.topDigest}`),
      );
      expect(digestOf(Buffer.from(raw.stdout))).toBe(multi.topDigest);
    });

    it('serves the cached images with the upstream stopped, and answers 503 quickly for the rest', async () => {
      await hub.stop();
      const base = mirror.registry.url;
      for (const reference of ['v1', multi.topDigest]) {
        const index = await fetchManifest(base, 'hub/library/multi', reference);
        expect(index.status, `${reference}: ${index.body}`).toBe(200);
        expect(index.body.equals(multi.index ?? Buffer.alloc(0))).toBe(true);
      }
      for (const child of multi.images) {
        const served = await fetchManifest(base, 'hub/library/multi', child.manifestDigest);
        expect(served.status, `${child.manifestDigest}: ${served.body}`).toBe(200);
        expect(served.body.equals(child.manifest)).toBe(true);
        for (const digest of [child.configDigest, child.layerDigest]) {
          const blob = await fetchBlob(base, 'hub/library/multi', digest);
          expect(blob.status, `${digest}: ${blob.body}`).toBe(200);
          expect(digestOf(blob.body)).toBe(digest);
        }
      }
      expect((await inspect('hub/library/prefix-app:v1')).Digest).toBe(app.digest);
      const again = join(work, 'out-multi-again');
      await skopeo(
        'copy',
        '--all',
        '--src-tls-verify=false',
        viaMirror('hub/library/multi:v1'),
        `oci:${again}:v1`,
      );
      expect(await layoutDigestForTag(again, 'v1')).toBe(multi.topDigest);

      const started = Date.now();
      const missing = await fetchManifest(base, 'hub/library/never-pulled', 'v1');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(missing.status).toBe(503);
      expect(JSON.parse(missing.body.toString())).toMatchObject({ errors: [{ code: 'UNAVAILABLE' }] });
    });
  },
);

function assertOk(result: RunResult): void {
  if (result.code !== 0) throw new Error(describeFailure('skopeo', ['copy'], result));
}
