// Real `docker push` and `docker pull` of an image with several random layers, through an isolated
// dockerd. Before each pull every local image is removed, so the pull downloads and extracts all layers.
import { startDockerDaemon, type DockerDaemon } from '../../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../../support/images.js';
import { describeFailure } from '../../support/tools.js';
import { track } from '../lib/cleanup.js';
import type { Metric } from '../lib/metric.js';
import type { BenchOptions } from '../lib/options.js';

const DOCKER_TIMEOUT_MS = 600_000;

async function docker(daemon: DockerDaemon, args: string[]): Promise<string> {
  const result = await daemon.docker(args, { timeoutMs: DOCKER_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(describeFailure('docker', args, result));
  return result.stdout;
}

/** Removes every image from the daemon (the docker-system-prune equivalent for images). */
async function removeAllImages(daemon: DockerDaemon): Promise<void> {
  const ids = [...new Set((await docker(daemon, ['images', '--all', '--quiet', '--no-trunc'])).split('\n'))]
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (ids.length > 0) await docker(daemon, ['rmi', '--force', ...ids]);
  await docker(daemon, ['image', 'prune', '--all', '--force']);
  const left = (await docker(daemon, ['images', '--all', '--quiet'])).trim();
  if (left !== '') throw new Error(`images left after removal: ${left}`);
}

export function dockerMetric(options: BenchOptions): Metric {
  const layers = Array.from({ length: options.dockerLayers }, () => options.dockerLayerMiB);
  const what = `${options.dockerLayers} x ${options.dockerLayerMiB} MiB random layers`;
  let daemon: DockerDaemon | undefined;
  let image: BuiltImage | undefined;
  let imageId = '';
  let release: (() => Promise<void>) | undefined;
  return {
    id: 'docker',
    title: 'docker push / pull',
    rows: [
      {
        key: 'docker.push',
        label: `docker push, image of ${what}`,
        unit: 's',
        better: 'lower',
        goal: { kind: 'ratio-at-most', value: 1 },
      },
      {
        key: 'docker.pull',
        label: `docker pull of the same image (local images removed first)`,
        unit: 's',
        better: 'lower',
        goal: { kind: 'ratio-at-most', value: 1 },
      },
    ],
    async setup() {
      const started = await startDockerDaemon();
      daemon = started;
      release = track(async () => {
        await image?.remove();
        await started.stop();
      });
      image = await buildDockerImage(started, 'berth-bench/docker:latest', {
        smallFiles: 1,
        randomLayersMiB: layers,
      });
      imageId = (await docker(started, ['image', 'inspect', '--format', '{{.Id}}', image.tag])).trim();
    },
    async teardown() {
      await release?.();
      daemon = undefined;
    },
    async round(_ctx, server) {
      if (!daemon) throw new Error('docker metric: setup did not run');
      const ref = `${server.host}/bench/docker:latest`;
      await docker(daemon, ['tag', imageId, ref]);

      let start = performance.now();
      await docker(daemon, ['push', ref]);
      const pushSeconds = (performance.now() - start) / 1000;

      await removeAllImages(daemon);
      start = performance.now();
      await docker(daemon, ['pull', ref]);
      const pullSeconds = (performance.now() - start) / 1000;

      const pulledId = (await docker(daemon, ['image', 'inspect', '--format', '{{.Id}}', ref])).trim();
      if (pulledId !== imageId) throw new Error(`pulled image ${pulledId}, pushed ${imageId}`);
      // The pulled image stays: the next round tags and pushes it (its ID is the pushed config digest).
      return { 'docker.push': pushSeconds, 'docker.pull': pullSeconds };
    },
  };
}
