// podman against the registry under test: build FROM scratch, push (OCI and v2s2), pull by tag and
// by digest into empty storage, and run the pulled image. Tests run in order and share state.
//
// podman runs as root with its own vfs storage under a SHORT directory (long graphroots make podman
// miss container exits), containers run detached and are polled, and ulimits are explicit because the
// sandbox lacks CAP_SYS_RESOURCE.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBuildContext, type BuildContext } from '../support/images.js';
import { createPodmanSandbox, type PodmanSandbox } from '../support/podman.js';
import {
  E2E_TEST_TIMEOUT_MS,
  e2eTarget,
  settleAll,
  startRegistryUnderTest,
  type RegistryProcess,
} from '../support/processes.js';
import { requireTools, type RunResult, type ToolName } from '../support/tools.js';
import { MEDIA } from './fixtures/oci-layout.js';
import { fetchManifest } from './fixtures/registry-http.js';

const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));
const tools: ToolName[] = ['podman', 'busybox'];
if (e2eTarget === 'distribution') tools.push('docker-registry');

const enabled = requireTools('podman e2e', tools);

describe.skipIf(!enabled)(`podman against ${e2eTarget}`, { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  let registry: RegistryProcess;
  let sandbox: PodmanSandbox;
  let context: BuildContext;
  let ref: string;
  let digest: string;

  const podman = (...args: string[]): Promise<RunResult> => sandbox.podmanOk(...args);
  const removeAllImages = async (): Promise<void> => {
    await podman('rmi', '--all', '--force');
    expect((await podman('images', '--quiet')).stdout.trim()).toBe('');
  };
  /** Runs a container detached, polls until it exits (bounded), returns its logs, removes it. */
  const runContainer = async (image: string, ...command: string[]): Promise<string> => {
    const limits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
    const id = (await podman('run', '-d', '--network', 'none', ...limits, image, ...command)).stdout.trim();
    try {
      const deadline = Date.now() + 60_000;
      let state = '';
      while (Date.now() < deadline) {
        state = (
          await podman('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id)
        ).stdout.trim();
        if (state.startsWith('exited')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(state).toBe('exited 0');
      return (await podman('logs', id)).stdout;
    } finally {
      await sandbox.podman(['rm', '--force', id]);
    }
  };

  beforeAll(async () => {
    await settleAll([
      startRegistryUnderTest().then((r) => (registry = r)),
      writeBuildContext({ randomLayersMiB: [4] }).then((c) => (context = c)),
      createPodmanSandbox('/tmp/pd-').then((p) => (sandbox = p)),
    ]);
    await podman('build', '--quiet', '--signature-policy', policy, '--tag', 'local/podman:v1', context.dir);
    ref = `${registry.host}/e2e/podman`;
  });

  afterAll(async () => {
    await Promise.allSettled([sandbox?.remove(), registry?.stop(), context?.remove()]);
  });

  it('pushes an OCI image and the registry serves the digest podman reports', async () => {
    const digestFile = join(sandbox.dir, 'digest');
    const tls = ['--tls-verify=false', '--signature-policy', policy];
    await podman('push', ...tls, '--digestfile', digestFile, 'local/podman:v1', `docker://${ref}:v1`);
    digest = (await readFile(digestFile, 'utf8')).trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const served = await fetchManifest(registry.url, 'e2e/podman', 'v1');
    expect(served.status).toBe(200);
    expect(served.digest).toBe(digest);
    expect(served.contentType).toBe(MEDIA.ociManifest);
    expect((JSON.parse(served.body.toString()) as { layers: unknown[] }).layers).toHaveLength(3);
  });

  it('pushes the same image as Docker v2 schema 2 with --format v2s2', async () => {
    const tls = ['--tls-verify=false', '--signature-policy', policy];
    await podman('push', ...tls, '--format', 'v2s2', 'local/podman:v1', `docker://${ref}:v2s2`);
    const served = await fetchManifest(registry.url, 'e2e/podman', 'v2s2');
    expect(served.status).toBe(200);
    expect(served.contentType).toBe(MEDIA.dockerManifest);
    expect(served.digest).not.toBe(digest);
  });

  it('pulls by tag into empty storage and the files round-trip', async () => {
    await removeAllImages();
    await podman('pull', '--tls-verify=false', '--signature-policy', policy, `${ref}:v1`);
    expect((await podman('image', 'inspect', '--format', '{{.Digest}}', `${ref}:v1`)).stdout.trim()).toBe(
      digest,
    );

    const logs = await runContainer(`${ref}:v1`, '/bin/busybox', 'sha256sum', ...Object.keys(context.files));
    const sums = Object.fromEntries(
      logs
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).reverse()),
    ) as Record<string, string>;
    expect(sums).toEqual(context.files);
  });

  it('pulls by digest and runs the image', async () => {
    await removeAllImages();
    await podman('pull', '--tls-verify=false', '--signature-policy', policy, `${ref}@${digest}`);
    expect(await runContainer(`${ref}@${digest}`, '/bin/busybox', 'echo', 'ok')).toBe('ok\n');
  });
});
