// The container image: docker/Dockerfile built in an isolated Docker engine on a base image made here
// (scripts/make-base-image.sh: debootstrap + this machine's Node.js, since Docker Hub cannot be reached),
// run with a named volume on /data, then real docker pushes and pulls through it, the container restarts
// and is replaced on the same volume, and the pushed image is still there.
// Tests run in order and share state: each step starts from what the previous one left.
//
// The engine runs overlay2 where the file system allows it (vfs copies every layer whole: a build of
// about 25 steps on a Debian tree then takes over 20 minutes instead of a few). Builds and containers use
// the host network (`--network host`): the engine has no bridge, and `npm ci` and `apt-get` in the build
// need the npm registry and the Debian mirror. Berth listens on 127.0.0.1 only (BERTH_SERVER_LISTEN).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk, localImageId, runBusybox } from '../support/docker-client.js';
import { dockerCli, startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { E2E_TEST_TIMEOUT_MS, e2eTarget, freePort, repoRoot } from '../support/processes.js';
import { describeFailure, requireTools, run, type RunResult } from '../support/tools.js';

const SUITE = 'container image e2e';
const enabled = requireTools(SUITE, ['docker', 'dockerd', 'busybox', 'debootstrap']);
if (e2eTarget !== 'berth') console.warn(`\n*** SKIPPING ${SUITE}: it tests Berth's image only ***\n`);

const BASE = 'berth-test/base:bookworm';
const IMAGE = 'berth-test/berth:e2e';
const VOLUME = 'berth-e2e-data';
const CONTAINER = 'berth-e2e';
/** debootstrap (about a minute) when its tarball is not cached, then `docker import`. */
const BASE_TIMEOUT_MS = 10 * 60_000;
/** apt-get, npm ci, better-sqlite3 compiled by node-gyp, tsc: minutes on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 25 * 60_000;
const HEALTHY_TIMEOUT_MS = 120_000;
const BERTH_UID = '10001';

interface ContainerState {
  Status: string;
  StartedAt: string;
  ExitCode: number;
  Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] };
}

describe.skipIf(!enabled || e2eTarget !== 'berth')(
  'the container image (docker/Dockerfile)',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let daemon: DockerDaemon;
    let registry: string;
    let app: BuiltImage;
    let appId: string;
    let appDigest: string;

    const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);

    /** `docker run -d` of the image on the shared volume, listening on `registry` (host network). */
    const startContainer = () =>
      docker(
        'run',
        '--detach',
        '--name',
        CONTAINER,
        '--network',
        'host',
        '--env',
        `BERTH_SERVER_LISTEN=${registry}`,
        '--volume',
        `${VOLUME}:/data`,
        // The image's health command, asked every second instead of every 30 s (Docker 20.10 has no
        // --health-start-interval), so the test does not wait half a minute for the first answer.
        '--health-interval',
        '1s',
        IMAGE,
      );

    async function containerState(): Promise<ContainerState> {
      const inspect = await docker('container', 'inspect', '--format', '{{json .State}}', CONTAINER);
      return JSON.parse(inspect.stdout) as ContainerState;
    }

    /** Resolves once the image's HEALTHCHECK reports healthy, for a start after `startedAfter`. */
    async function waitHealthy(startedAfter = ''): Promise<ContainerState> {
      const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
      let state = await containerState();
      while (Date.now() < deadline) {
        if (state.Status === 'exited' || state.Status === 'dead') break;
        if (state.StartedAt !== startedAfter && state.Health?.Status === 'healthy') return state;
        await new Promise((r) => setTimeout(r, 500));
        state = await containerState();
      }
      const logs = await daemon.docker(['logs', '--tail', '40', CONTAINER]);
      throw new Error(
        `container not healthy (${JSON.stringify(state)})\nlogs:\n${logs.stdout}${logs.stderr}`,
      );
    }

    /** Removes every local tag of the pushed image, so that the next pull fetches it from Berth. */
    async function forgetApp(): Promise<void> {
      await docker('image', 'rm', '--force', appId); // --force: with all its tags
      expect((await daemon.docker(['image', 'inspect', appId])).code).not.toBe(0);
    }

    async function pullAndCheckApp(): Promise<void> {
      const ref = `${registry}/e2e/app:v1`;
      const pull = await docker('pull', ref);
      expect(pull.stdout).toContain(`Digest: ${appDigest}`);
      expect(pull.stdout).toContain(`Downloaded newer image for ${ref}`);
      expect(await localImageId(daemon, ref)).toBe(appId);
      const sums = await runBusybox(daemon, ref, 'sha256sum', ...Object.keys(app.files));
      expect(parseSha256sum(sums)).toEqual(app.files);
    }

    beforeAll(async () => {
      try {
        daemon = await startDockerDaemon({ storageDriver: 'overlay2' });
      } catch (err) {
        console.warn(
          `${SUITE}: overlay2 unavailable, falling back to vfs (much slower builds): ${(err as Error).message.split('\n')[0]}`,
        );
        daemon = await startDockerDaemon();
      }
      registry = `127.0.0.1:${await freePort()}`;
    });

    afterAll(async () => {
      if (daemon) {
        await daemon.docker(['rm', '--force', '--volumes', CONTAINER]);
        await daemon.docker(['volume', 'rm', '--force', VOLUME]);
      }
      await Promise.allSettled([daemon?.stop(), app?.remove()]);
    });

    it(
      'makes a Debian base image with Node.js without Docker Hub (scripts/make-base-image.sh)',
      { timeout: BASE_TIMEOUT_MS },
      async () => {
        const script = join(repoRoot, 'scripts/make-base-image.sh');
        const made = await run('bash', [script, BASE], {
          env: { ...process.env, ...daemon.env, DOCKER: dockerCli },
          timeoutMs: BASE_TIMEOUT_MS,
        });
        if (made.code !== 0) throw new Error(describeFailure('bash', [script, BASE], made));
        expect(made.stdout.trim()).toBe(BASE);
        const node = await docker('run', '--rm', '--network', 'none', BASE, 'node', '--version');
        expect(node.stdout.trim()).toMatch(/^v2\d\./);
      },
    );

    it(
      'builds docker/Dockerfile on that base (--build-arg BASE) as a non-root image with /data and a HEALTHCHECK',
      { timeout: BUILD_TIMEOUT_MS },
      async () => {
        const args = [
          'build',
          '--network',
          'host',
          '--build-arg',
          `BASE=${BASE}`,
          '--file',
          join(repoRoot, 'docker/Dockerfile'),
          '--tag',
          IMAGE,
          repoRoot,
        ];
        const started = Date.now();
        const build = await daemon.docker(args, {
          env: { DOCKER_BUILDKIT: '0' },
          timeoutMs: BUILD_TIMEOUT_MS,
        });
        if (build.code !== 0) throw new Error(describeFailure('docker', args, build));
        const seconds = Math.round((Date.now() - started) / 1000);

        const inspect = await docker('image', 'inspect', '--format', '{{json .}}', IMAGE);
        const image = JSON.parse(inspect.stdout) as {
          Size: number;
          Config: {
            User: string;
            Volumes: Record<string, object> | null;
            ExposedPorts: Record<string, object> | null;
            Entrypoint: string[];
            Cmd: string[];
            Healthcheck?: { Test: string[] };
          };
        };
        console.info(`${SUITE}: ${IMAGE} built in ${seconds} s, ${Math.round(image.Size / 1e6)} MB`);
        expect(image.Config.User).toBe('berth:berth');
        expect(Object.keys(image.Config.Volumes ?? {})).toEqual(['/data']);
        expect(Object.keys(image.Config.ExposedPorts ?? {})).toEqual(['5000/tcp']);
        expect(image.Config.Entrypoint).toEqual(['node', '/app/dist/src/main.js']);
        expect(image.Config.Cmd).toEqual(['serve']);
        expect(image.Config.Healthcheck?.Test).toEqual(['CMD', 'node', '/app/docker/healthcheck.mjs']);
      },
    );

    it('starts healthy, as uid 10001, on the named volume', async () => {
      await startContainer();
      const state = await waitHealthy();
      expect(state.Health?.Log?.at(-1)?.ExitCode).toBe(0);

      expect((await docker('exec', CONTAINER, 'id', '-u')).stdout.trim()).toBe(BERTH_UID);
      // Berth itself (PID 1), not only what `docker exec` starts.
      const status = (await docker('exec', CONTAINER, 'cat', '/proc/1/status')).stdout;
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(BERTH_UID);
      expect((await docker('exec', CONTAINER, 'stat', '-c', '%u', '/data')).stdout.trim()).toBe(BERTH_UID);

      const res = await fetch(`http://${registry}/readyz`);
      expect(res.status).toBe(200);
      // The health command fails when Berth does not answer 200.
      const failing = await daemon.docker([
        'exec',
        CONTAINER,
        'node',
        '/app/docker/healthcheck.mjs',
        '/nope',
      ]);
      expect(failing.code).toBe(1);
    });

    it('takes a push from real docker and serves the pull', async () => {
      app = await buildDockerImage(daemon, 'local/app:v1', { randomLayersMiB: [4] });
      appId = await localImageId(daemon, app.tag);
      const ref = `${registry}/e2e/app:v1`;
      await docker('tag', app.tag, ref);
      const push = await docker('push', ref);
      const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(digest, push.stdout).toBeDefined();
      appDigest = digest as string;

      await forgetApp();
      await pullAndCheckApp();
    });

    it('still has the image after `docker restart`', async () => {
      const before = await containerState();
      await docker('restart', '-t', '20', CONTAINER);
      await waitHealthy(before.StartedAt);

      await forgetApp();
      await pullAndCheckApp();
      const catalog = (await (await fetch(`http://${registry}/v2/_catalog`)).json()) as {
        repositories: string[];
      };
      expect(catalog.repositories).toEqual(['e2e/app']);
    });

    it('stops cleanly on SIGTERM and has the image in a new container on the same volume', async () => {
      // Berth is PID 1: `docker stop` sends it SIGTERM, it drains and exits 0 (not killed after the wait).
      await docker('stop', '-t', '40', CONTAINER);
      expect(await containerState()).toMatchObject({ Status: 'exited', ExitCode: 0 });
      await docker('rm', CONTAINER);
      await startContainer();
      await waitHealthy();

      await forgetApp();
      await pullAndCheckApp();
      expect((await docker('exec', CONTAINER, 'ls', '/data')).stdout.split('\n')).toContain('berth.db');
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
