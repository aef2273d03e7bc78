// podman (and skopeo) for e2e tests, isolated from the host's containers configuration.
//
// podman runs as root with its own vfs storage under a SHORT directory (long graphroots make podman
// miss container exits), the cgroupfs manager and file events. Its environment points every config and
// credentials lookup into the directory: an empty containers.conf and registries.conf (no unqualified
// search), REGISTRY_AUTH_FILE at an empty auth file and DOCKER_CONFIG at an empty directory, so no login
// on the host, or of one test, silently serves another.
//
// Contract: createPodmanSandbox() removes what it made when it fails; remove() removes every container
// and image (ignoring failures), unmounts what is left below the directory and deletes it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unmountUnder } from './docker-daemon.js';
import { describeFailure, run, type RunResult } from './tools.js';

export const PODMAN_TIMEOUT_MS = 180_000;
const CLEANUP_TIMEOUT_MS = 60_000;

export interface PodmanSandbox {
  /** The short directory that holds podman's storage and configuration. */
  dir: string;
  /** The environment for podman and skopeo. */
  env: Record<string, string | undefined>;
  /** REGISTRY_AUTH_FILE: an empty auth file (`{}`), used unless a command names another. */
  authFile: string;
  /** Runs podman on this storage; never rejects on a non-zero exit code. */
  podman(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Runs podman and rejects with the command line and its output unless it exits 0. */
  podmanOk(...args: string[]): Promise<RunResult>;
  remove(): Promise<void>;
}

/** `prefix` is a short path such as `/tmp/pd-` (mkdtemp adds six characters). */
export async function createPodmanSandbox(prefix: string): Promise<PodmanSandbox> {
  const dir = await mkdtemp(prefix);
  const removeDir = async (): Promise<void> => {
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const sub of ['tmp', 'xdg', 'run', 'docker-config']) await mkdir(join(dir, sub));
    await writeFile(join(dir, 'empty-auth.json'), '{}\n');
    await writeFile(join(dir, 'containers.conf'), '');
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  } catch (err) {
    await removeDir();
    throw err;
  }
  const globalArgs = [
    ...['--root', join(dir, 'g'), '--runroot', join(dir, 'r'), '--storage-driver', 'vfs'],
    ...['--tmpdir', join(dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'],
  ];
  const authFile = join(dir, 'empty-auth.json');
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    REGISTRY_AUTH_FILE: authFile,
    DOCKER_CONFIG: join(dir, 'docker-config'),
    XDG_CONFIG_HOME: join(dir, 'xdg'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
  };
  const podman: PodmanSandbox['podman'] = (args, opts = {}) =>
    run('podman', [...globalArgs, ...args], {
      env,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? PODMAN_TIMEOUT_MS,
    });
  return {
    dir,
    env,
    authFile,
    podman,
    async podmanOk(...args) {
      const result = await podman(args);
      if (result.code !== 0) throw new Error(describeFailure('podman', [...globalArgs, ...args], result));
      return result;
    },
    async remove() {
      for (const what of ['rm', 'rmi']) {
        await podman([what, '--all', '--force'], { timeoutMs: CLEANUP_TIMEOUT_MS }).catch(() => undefined);
      }
      await removeDir();
    },
  };
}
