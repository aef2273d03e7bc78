// docker commands that e2e suites run against their own daemon (startDockerDaemon), each bounded by
// DOCKER_TIMEOUT_MS. Kept apart from docker-daemon.ts, which benchmarks import, because these assert
// with vitest.
//
// Contract: dockerOk() rejects with the command line and its output unless docker exits 0.
import { expect } from 'vitest';
import type { DockerDaemon } from './docker-daemon.js';
import { describeFailure, type RunResult } from './tools.js';

export const DOCKER_TIMEOUT_MS = 180_000;

type Daemon = Pick<DockerDaemon, 'docker'>;

export async function dockerOk(daemon: Daemon, args: string[]): Promise<RunResult> {
  const result = await daemon.docker(args, { timeoutMs: DOCKER_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(describeFailure('docker', args, result));
  return result;
}

/** The ID of the local image `ref` (`sha256:…`). */
export async function localImageId(daemon: Daemon, ref: string): Promise<string> {
  return (await dockerOk(daemon, ['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

/** Empties the daemon's image store, so the next pull fetches every layer from the registry. */
export async function removeAllImages(daemon: Daemon): Promise<void> {
  await dockerOk(daemon, ['image', 'prune', '--all', '--force']);
  expect((await dockerOk(daemon, ['images', '--quiet'])).stdout.trim()).toBe('');
}

/** Runs `/bin/busybox …command` in a throwaway container of `image`, without network; resolves with stdout. */
export async function runBusybox(daemon: Daemon, image: string, ...command: string[]): Promise<string> {
  const args = ['run', '--network', 'none', '--rm', image, '/bin/busybox', ...command];
  return (await dockerOk(daemon, args)).stdout;
}
