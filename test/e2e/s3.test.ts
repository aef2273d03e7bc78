// Berth on the S3 storage driver, end to end: docker push/pull/run, skopeo copy and podman push/pull
// against a Berth process whose blobs live in a real Ceph RADOS Gateway (scripts/s3-test-server.sh),
// then the bucket itself is checked: every blob under <prefix>/blobs/sha256/, nothing left in uploads/.
// Tests run in order and share state: each step starts from what the previous one pushed.
//
// The gateway runs in its own state directory and ports, not the script's defaults: vitest runs files
// in parallel, and storage-drivers/s3.test.ts stops the default cluster when it is done with it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerDaemon, unmountUnder, type DockerDaemon } from '../support/docker-daemon.js';
import {
  buildDockerImage,
  writeBuildContext,
  type BuildContext,
  type BuiltImage,
} from '../support/images.js';
import {
  E2E_TEST_TIMEOUT_MS,
  e2eTarget,
  settleAll,
  startBerthProcess,
  type RegistryProcess,
} from '../support/processes.js';
import { describeFailure, requireTools, run, type RunResult } from '../support/tools.js';
import {
  createBucket,
  deleteBucket,
  listObjects,
  objectSha256,
  openMultipartUploads,
  requireCephTools,
  startS3Gateway,
  type S3Gateway,
} from './fixtures/s3-gateway.js';
import { digestOf, MEDIA } from './fixtures/oci-layout.js';
import { fetchManifest } from './fixtures/registry-http.js';

const SUITE = 'S3 storage e2e';
const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));
const MiB = 1024 * 1024;
/** A gateway of this suite's own (see the header); 1 GiB of memstore is plenty for these images. */
const GATEWAY = {
  stateDir: '/tmp/berth-ceph-e2e',
  port: 7580,
  monPort: 7570,
  osdPorts: '7571-7579',
  storeBytes: 1024 * MiB,
};
const BLOB_KEY = /^blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\/data$/;

const hasClients = requireTools(SUITE, ['docker', 'dockerd', 'skopeo', 'podman', 'busybox']);
const hasCeph = requireCephTools(SUITE);
if (e2eTarget !== 'berth') console.warn(`\n*** SKIPPING ${SUITE}: it tests Berth's S3 driver only ***\n`);

describe.skipIf(!hasClients || !hasCeph || e2eTarget !== 'berth')(
  'docker, skopeo and podman against Berth on S3 (Ceph RADOS Gateway)',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let gateway: S3Gateway | undefined;
    let bucketCreated = false;
    let registry: RegistryProcess;
    let daemon: DockerDaemon;
    let app: BuiltImage;
    let derived: BuiltImage;
    let skopeoImage: BuiltImage;
    let podmanContext: BuildContext;
    let work: string;
    let podmanDir: string | undefined;
    let podmanArgs: string[] | undefined;
    let clientEnv: Record<string, string | undefined>;
    let appId: string;
    let appRef: string;
    let appDigest: string;
    const bucket = `berth-e2e-${randomBytes(6).toString('hex')}`;
    const prefix = `e2e-${randomBytes(6).toString('hex')}`;
    /** Every (repository, reference) pushed, for the final look at the bucket. */
    const pushed: { repo: string; reference: string }[] = [];

    /** A failure message with the command's output and the tail of Berth's log. */
    const failure = (command: string, args: readonly string[], result: RunResult): Error =>
      new Error(`${describeFailure(command, args, result)}\nBerth output tail:\n${registry?.output() ?? ''}`);

    const docker = async (...args: string[]): Promise<RunResult> => {
      const result = await daemon.docker(args, { timeoutMs: 180_000 });
      if (result.code !== 0) throw failure('docker', args, result);
      return result;
    };
    const imageId = async (ref: string): Promise<string> =>
      (await docker('image', 'inspect', '--format', '{{.Id}}', ref)).stdout.trim();
    const removeAllDockerImages = async (): Promise<void> => {
      await docker('image', 'prune', '--all', '--force');
      expect((await docker('images', '--quiet')).stdout.trim()).toBe('');
    };

    const skopeo = async (...args: string[]): Promise<RunResult> => {
      const full = ['--policy', policy, '--tmpdir', join(work, 'tmp'), ...args];
      const result = await run('skopeo', full, { env: clientEnv, timeoutMs: 180_000 });
      if (result.code !== 0) throw failure('skopeo', full, result);
      return result;
    };

    const podmanRaw = (args: string[], timeoutMs = 180_000): Promise<RunResult> =>
      run('podman', [...(podmanArgs ?? []), ...args], { env: podmanEnv(), timeoutMs });
    const podman = async (...args: string[]): Promise<RunResult> => {
      const result = await podmanRaw(args);
      if (result.code !== 0) throw failure('podman', [...(podmanArgs ?? []), ...args], result);
      return result;
    };
    const podmanEnv = (): Record<string, string | undefined> => {
      const dir = podmanDir ?? '';
      return {
        ...process.env,
        CONTAINERS_CONF: join(dir, 'containers.conf'),
        CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
        REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
        DOCKER_CONFIG: join(dir, 'docker-config'),
        XDG_CONFIG_HOME: join(dir, 'xdg'),
        XDG_RUNTIME_DIR: join(dir, 'run'),
      };
    };
    /** Runs a container detached, polls until it exits (bounded), returns its logs, removes it. */
    const runPodmanContainer = async (image: string, ...command: string[]): Promise<string> => {
      const limits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
      const id = (await podman('run', '-d', '--network', 'none', ...limits, image, ...command)).stdout.trim();
      try {
        const deadline = Date.now() + 60_000;
        let state = '';
        while (Date.now() < deadline) {
          const inspect = await podman('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id);
          state = inspect.stdout.trim();
          if (state.startsWith('exited')) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(state).toBe('exited 0');
        return (await podman('logs', id)).stdout;
      } finally {
        await podmanRaw(['rm', '--force', id]);
      }
    };

    /** Podman as root with its own vfs store under a short directory (see podman.test.ts). */
    const preparePodman = async (): Promise<void> => {
      const dir = await mkdtemp('/tmp/ps3-');
      podmanDir = dir;
      for (const sub of ['tmp', 'xdg', 'run', 'docker-config']) await mkdir(join(dir, sub));
      await writeFile(join(dir, 'auth.json'), '{}\n');
      await writeFile(join(dir, 'containers.conf'), '');
      await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
      podmanArgs = [
        ...['--root', join(dir, 'g'), '--runroot', join(dir, 'r'), '--storage-driver', 'vfs'],
        ...['--tmpdir', join(dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'],
      ];
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-s3-e2e-'));
      for (const sub of ['tmp', 'docker-config']) await mkdir(join(work, sub));
      await writeFile(join(work, 'auth.json'), '{}\n');
      clientEnv = {
        ...process.env,
        DOCKER_CONFIG: join(work, 'docker-config'),
        REGISTRY_AUTH_FILE: join(work, 'auth.json'),
      };
      await settleAll([
        startS3Gateway(GATEWAY).then((g) => (gateway = g)),
        startDockerDaemon().then((d) => (daemon = d)),
        preparePodman(),
      ]);
      const s3 = gateway as S3Gateway;
      await createBucket(s3.client, bucket);
      bucketCreated = true;
      registry = await startBerthProcess({
        env: {
          BERTH_STORAGE_DRIVER: 's3',
          BERTH_STORAGE_S3_BUCKET: bucket,
          BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
          BERTH_STORAGE_S3_REGION: s3.region,
          BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
          BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
          BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
          BERTH_STORAGE_S3_PREFIX: prefix,
        },
      });

      // 20 MiB of random data: above the default 8 MiB part size, so it is a multipart upload.
      app = await buildDockerImage(daemon, 'local/s3-app:v1', { randomLayersMiB: [20, 2] });
      derived = await buildDockerImage(daemon, 'local/s3-derived:v1', {
        from: 'local/s3-app:v1',
        smallFiles: 2,
      });
      appId = await imageId('local/s3-app:v1');
      appRef = `${registry.host}/e2e/app:v1`;

      podmanContext = await writeBuildContext({ randomLayersMiB: [3] });
      await podman(
        'build',
        '--quiet',
        '--signature-policy',
        policy,
        '--tag',
        'local/s3-podman:v1',
        podmanContext.dir,
      );
    }, 360_000);

    afterAll(async () => {
      const cleanPodman = async (): Promise<void> => {
        if (podmanArgs) {
          await podmanRaw(['rm', '--all', '--force'], 60_000).catch(() => undefined);
          await podmanRaw(['rmi', '--all', '--force'], 60_000).catch(() => undefined);
        }
        if (podmanDir) {
          await unmountUnder(podmanDir);
          await rm(podmanDir, { recursive: true, force: true });
        }
      };
      await Promise.allSettled([
        daemon?.stop(),
        registry?.stop(),
        cleanPodman(),
        app?.remove(),
        derived?.remove(),
        skopeoImage?.remove(),
        podmanContext?.remove(),
      ]);
      if (gateway) {
        // A cluster this suite started goes away whole; in one it found running, only the bucket does.
        if (bucketCreated && !gateway.started) {
          await deleteBucket(gateway.client, bucket).catch((err: unknown) =>
            console.warn(`${SUITE}: could not delete bucket ${bucket}: ${(err as Error).message}`),
          );
        }
        await gateway.stop();
      }
      if (work) await rm(work, { recursive: true, force: true });
    }, 240_000);

    describe('docker', () => {
      it('pushes an image built FROM scratch, one layer of it 20 MiB', async () => {
        await docker('tag', 'local/s3-app:v1', appRef);
        const push = await docker('push', appRef);
        const digest = /v1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout)?.[1];
        expect(digest, push.stdout).toBeDefined();
        appDigest = digest as string;
        expect(countLines(push.stdout, /: Pushed$/), push.stdout).toBe(4); // busybox, /data, 20 and 2 MiB
        pushed.push({ repo: 'e2e/app', reference: 'v1' });

        const manifest = await fetchManifest(registry.url, 'e2e/app', 'v1');
        expect(manifest.status).toBe(200);
        expect(manifest.digest).toBe(appDigest);
        expect(manifest.contentType).toBe(MEDIA.dockerManifest);
      });

      it('says "Layer already exists" for every layer when the same image is pushed again', async () => {
        const push = await docker('push', appRef);
        expect(countLines(push.stdout, /: Layer already exists$/), push.stdout).toBe(4);
        expect(push.stdout).not.toMatch(/: Pushed$/m);
        expect(push.stdout).toContain(`v1: digest: ${appDigest}`);
      });

      it('mounts the shared layers into a second repository ("Mounted from")', async () => {
        const ref = `${registry.host}/e2e/derived:v1`;
        await docker('tag', 'local/s3-derived:v1', ref);
        const push = await docker('push', ref);
        expect(countLines(push.stdout, /: Mounted from e2e\/app$/), push.stdout).toBe(4);
        expect(countLines(push.stdout, /: Pushed$/), push.stdout).toBe(1);
        pushed.push({ repo: 'e2e/derived', reference: 'v1' });
        const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
        expect((await fetchManifest(registry.url, 'e2e/derived', 'v1', 'HEAD')).digest).toBe(digest);
      });

      it('pulls by tag into an empty engine, with the same image ID and file contents', async () => {
        await removeAllDockerImages();
        const pull = await docker('pull', appRef);
        expect(pull.stdout).toContain(`Digest: ${appDigest}`);
        expect(pull.stdout).toContain(`Downloaded newer image for ${appRef}`);
        expect(await imageId(appRef)).toBe(appId);

        const files = Object.keys(app.files);
        const sums = await docker(
          'run',
          '--network',
          'none',
          '--rm',
          appRef,
          '/bin/busybox',
          'sha256sum',
          ...files,
        );
        expect(parseSha256sum(sums.stdout)).toEqual(app.files);
      });

      it('pulls by digest and runs the image', async () => {
        await removeAllDockerImages();
        const byDigest = `${registry.host}/e2e/app@${appDigest}`;
        const pull = await docker('pull', byDigest);
        expect(pull.stdout).toContain(`Digest: ${appDigest}`);
        expect(await imageId(byDigest)).toBe(appId);

        const ok = await docker('run', '--network', 'none', '--rm', byDigest, '/bin/busybox', 'echo', 'ok');
        expect(ok.stdout).toBe('ok\n');
      });
    });

    describe('skopeo', () => {
      it('copies docker-daemon: to Berth and back to dir: with byte-identical layers', async () => {
        // Built here: the docker tests above empty the engine.
        skopeoImage = await buildDockerImage(daemon, 'local/s3-skopeo:v1', { randomLayersMiB: [6] });
        const ref = `docker://${registry.host}/e2e/skopeo:v1`;
        const digestFile = join(work, 'skopeo-digest');
        // containers/image ignores DOCKER_HOST for docker-daemon:; the daemon is named explicitly.
        await skopeo(
          ...['copy', '--src-daemon-host', daemon.env.DOCKER_HOST, '--dest-tls-verify=false'],
          ...['--format', 'v2s2', '--digestfile', digestFile, 'docker-daemon:local/s3-skopeo:v1', ref],
        );
        const digest = (await readFile(digestFile, 'utf8')).trim();
        pushed.push({ repo: 'e2e/skopeo', reference: 'v1' });
        expect((await fetchManifest(registry.url, 'e2e/skopeo', 'v1')).digest).toBe(digest);

        const out = join(work, 'skopeo-dir');
        await skopeo('copy', '--src-tls-verify=false', ref, `dir:${out}`);
        const manifestBytes = await readFile(join(out, 'manifest.json'));
        expect(digestOf(manifestBytes)).toBe(digest);
        const manifest = JSON.parse(manifestBytes.toString()) as {
          config: { digest: string };
          layers: { digest: string; size: number }[];
        };
        const engine = JSON.parse(
          (await docker('image', 'inspect', '--format', '{{json .}}', 'local/s3-skopeo:v1')).stdout,
        ) as { Id: string; RootFS: { Layers: string[] } };

        // v2s2 keeps the engine's config byte for byte: its digest is the image ID.
        const config = await readFile(join(out, hexOf(manifest.config.digest)));
        expect(digestOf(config)).toBe(engine.Id);
        expect(manifest.layers).toHaveLength(engine.RootFS.Layers.length);
        for (const [i, layer] of manifest.layers.entries()) {
          const blob = await readFile(join(out, hexOf(layer.digest)));
          expect(blob.length).toBe(layer.size);
          expect(digestOf(blob)).toBe(layer.digest);
          // The very bytes in the bucket, and uncompressed the very layer the engine has.
          const stored = await objectSha256(gatewayClient(), bucket, `${prefix}/${blobKey(layer.digest)}`);
          expect(`sha256:${stored}`).toBe(layer.digest);
          expect(digestOf(gunzipSync(blob))).toBe(engine.RootFS.Layers[i]);
        }
      });
    });

    describe('podman', () => {
      let ref: string;
      let digest: string;

      it('pushes an OCI image and Berth serves the digest podman reports', async () => {
        ref = `${registry.host}/e2e/podman`;
        const digestFile = join(podmanDir ?? '', 'digest');
        const tls = ['--tls-verify=false', '--signature-policy', policy];
        await podman('push', ...tls, '--digestfile', digestFile, 'local/s3-podman:v1', `docker://${ref}:v1`);
        digest = (await readFile(digestFile, 'utf8')).trim();
        expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
        pushed.push({ repo: 'e2e/podman', reference: 'v1' });

        const served = await fetchManifest(registry.url, 'e2e/podman', 'v1');
        expect(served.status).toBe(200);
        expect(served.digest).toBe(digest);
        expect(served.contentType).toBe(MEDIA.ociManifest);
      });

      it('pulls by tag into empty storage and the files round-trip', async () => {
        await podman('rmi', '--all', '--force');
        expect((await podman('images', '--quiet')).stdout.trim()).toBe('');
        await podman('pull', '--tls-verify=false', '--signature-policy', policy, `${ref}:v1`);
        const pulled = await podman('image', 'inspect', '--format', '{{.Digest}}', `${ref}:v1`);
        expect(pulled.stdout.trim()).toBe(digest);

        const files = Object.keys(podmanContext.files);
        const logs = await runPodmanContainer(`${ref}:v1`, '/bin/busybox', 'sha256sum', ...files);
        expect(parseSha256sum(logs)).toEqual(podmanContext.files);
      });
    });

    describe('the bucket', () => {
      it('holds every pushed blob under <prefix>/blobs/sha256/, and nothing under uploads/', async () => {
        const client = gatewayClient();
        const stored = await listObjects(client, bucket, `${prefix}/`);
        const sizes = new Map(stored.map(({ key, size }) => [key, size]));

        // What the registry serves, read over HTTP: every manifest, config and layer pushed above.
        const expected = new Map<string, number>();
        for (const { repo, reference } of pushed) {
          const served = await fetchManifest(registry.url, repo, reference);
          expect(served.status, `${repo}:${reference}`).toBe(200);
          expected.set(blobKey(served.digest), served.body.length);
          const parsed = JSON.parse(served.body.toString()) as {
            config: { digest: string; size: number };
            layers: { digest: string; size: number }[];
          };
          for (const { digest, size } of [parsed.config, ...parsed.layers])
            expected.set(blobKey(digest), size);
        }
        expect(pushed.map(({ repo }) => repo)).toEqual([
          'e2e/app',
          'e2e/derived',
          'e2e/skopeo',
          'e2e/podman',
        ]);
        for (const [key, size] of expected) expect(sizes.get(key), key).toBe(size);

        // Every object is a content-addressed blob whose bytes hash to its name; uploads left nothing.
        expect(stored.filter(({ key }) => !BLOB_KEY.test(key)).map(({ key }) => key)).toEqual([]);
        expect([...sizes.keys()].sort()).toEqual([...expected.keys()].sort());
        for (const { key } of stored) {
          const [, first, hex] = BLOB_KEY.exec(key) ?? [];
          expect(hex?.slice(0, 2)).toBe(first);
          expect(await objectSha256(client, bucket, `${prefix}/${key}`), key).toBe(hex);
        }
        // The 20 MiB layer, above the 8 MiB default part size, went through a multipart upload.
        const large = stored.filter(({ size }) => size > 16 * MiB);
        expect(large).toHaveLength(1);
        expect(large[0]?.etag).toMatch(/-\d+"$/);
        expect(await listObjects(client, bucket, `${prefix}/uploads/`)).toEqual([]);
        expect(await openMultipartUploads(client, bucket, `${prefix}/`)).toEqual([]);
        // Nothing went to the filesystem driver's default root instead.
        expect(existsSync(join(registry.dataDir, 'storage'))).toBe(false);
      });
    });

    function gatewayClient(): S3Gateway['client'] {
      if (!gateway) throw new Error('the S3 gateway is not running');
      return gateway.client;
    }
  },
);

function blobKey(digest: string): string {
  const hex = hexOf(digest);
  return `blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
}

function hexOf(digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice('sha256:'.length);
}

function countLines(output: string, pattern: RegExp): number {
  return output.split('\n').filter((line) => pattern.test(line.trim())).length;
}

/** `sha256sum` output → { path: hex }. */
function parseSha256sum(output: string): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const line of output.trim().split('\n')) {
    const [hex, path] = line.split(/\s+/);
    if (hex && path) sums[path] = hex;
  }
  return sums;
}
