// Clients that give up mid-push, against a Berth process: docker pushes killed part-way (the daemon then
// cuts its uploads off) and raw clients that drop their PATCH bodies, while real docker pushes and pulls
// run beside them. Berth must keep serving, and every image whose push docker acknowledged must pull
// with the digest it was pushed under.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk, localImageId } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { openRequest } from '../support/http.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { startBerthProcess, settleAll, type RegistryProcess } from '../support/processes.js';
import { requireTools } from '../support/tools.js';

const enabled = requireTools('docker abort e2e', ['docker', 'dockerd', 'busybox']);
const IMAGES = 3;
const LOAD_MS = 12_000;

describe.skipIf(!enabled)(
  'clients aborting uploads while docker pushes and pulls',
  { timeout: 300_000 },
  () => {
    let berth: RegistryProcess;
    let daemon: DockerDaemon;
    const images: BuiltImage[] = [];

    beforeAll(async () => {
      await settleAll([
        startBerthProcess().then((r) => (berth = r)),
        startDockerDaemon().then((d) => (daemon = d)),
      ]);
      for (let i = 0; i < IMAGES; i += 1) {
        images.push(await buildDockerImage(daemon, `local/aborts-${i}:v1`, { randomLayersMiB: [6, 6] }));
      }
    });

    afterAll(async () => {
      await Promise.allSettled([daemon?.stop(), berth?.stop(), ...images.map((image) => image.remove())]);
    });

    /** POSTs a session and sends 32 KiB of a PATCH body, then drops the connection. */
    async function droppedPatch(): Promise<void> {
      const start = await fetch(`${berth.url}/v2/aborts/raw/blobs/uploads/`, { method: 'POST' });
      const location = start.headers.get('location') ?? '';
      const { req, response } = openRequest(berth.url, 'PATCH', location, {
        'Content-Type': 'application/octet-stream',
      });
      req.write(randomBytes(32 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 5));
      req.destroy();
      await response.catch(() => undefined);
    }

    it('keeps serving, and every acknowledged push pulls with its digest', async () => {
      const deadline = Date.now() + LOAD_MS;
      const acknowledged = new Map<string, string>(); // reference → digest docker printed
      let killedPushes = 0;
      let droppedPatches = 0;

      const killedPushers = images.map(async (image, i) => {
        for (let round = 0; Date.now() < deadline; round += 1) {
          const ref = `${berth.host}/aborts/killed-${i}:r${round}`;
          await dockerOk(daemon, ['tag', image.tag, ref]);
          // Killing the CLI makes the daemon cancel the push and cut off its uploads mid-body.
          const result = await daemon
            .docker(['push', ref], { timeoutMs: 300 + 150 * round })
            .catch(() => undefined);
          if (result === undefined) killedPushes += 1;
          else if (result.code === 0) acknowledged.set(ref, pushedDigest(result.stdout, ref));
        }
      });
      const droppers = Array.from({ length: 4 }, async () => {
        while (Date.now() < deadline) {
          await droppedPatch();
          droppedPatches += 1;
        }
      });
      const pushers = images.map(async (image, i) => {
        for (let round = 0; Date.now() < deadline; round += 1) {
          const ref = `${berth.host}/aborts/whole-${i}:r${round}`;
          await dockerOk(daemon, ['tag', image.tag, ref]);
          const push = await dockerOk(daemon, ['push', ref]);
          acknowledged.set(ref, pushedDigest(push.stdout, ref));
        }
      });
      await Promise.all([...killedPushers, ...droppers, ...pushers]);

      expect(killedPushes, 'some pushes must have been cut off').toBeGreaterThan(0);
      expect(droppedPatches).toBeGreaterThan(50);
      expect((await fetch(`${berth.url}/v2/`)).status, berth.output()).toBe(200);

      // Every acknowledged tag names its digest; each (repository, digest) is pulled from the registry
      // alone, with no local layers to reuse.
      expect(acknowledged.size).toBeGreaterThanOrEqual(IMAGES);
      const pulls = new Set<string>();
      for (const [ref, digest] of acknowledged) {
        const repository = ref.slice(berth.host.length + 1, ref.lastIndexOf(':'));
        const tag = ref.slice(ref.lastIndexOf(':') + 1);
        const head = await fetch(`${berth.url}/v2/${repository}/manifests/${tag}`, {
          method: 'HEAD',
          headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
        });
        expect(head.headers.get('docker-content-digest'), ref).toBe(digest);
        pulls.add(`${berth.host}/${repository}@${digest}`);
      }
      for (const byDigest of pulls) {
        await dockerOk(daemon, ['image', 'rm', '--force', ...images.map((image) => image.tag)]).catch(
          () => {},
        );
        await dockerOk(daemon, ['image', 'prune', '--all', '--force']);
        await dockerOk(daemon, ['pull', byDigest]);
        expect(await localImageId(daemon, byDigest)).toMatch(/^sha256:/);
      }
    });
  },
);

function pushedDigest(stdout: string, ref: string): string {
  const tag = ref.slice(ref.lastIndexOf(':') + 1);
  const digest = new RegExp(`${tag}: digest: (sha256:[0-9a-f]{64})`).exec(stdout)?.[1];
  if (!digest) throw new Error(`no digest in the output of docker push ${ref}:\n${stdout}`);
  return digest;
}
