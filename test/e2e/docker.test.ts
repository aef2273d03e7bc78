// The real Docker client and engine against the registry under test (Berth, or Distribution with
// E2E_TARGET=distribution): push, layer reuse, cross-repository mounts, pull by tag and digest, run.
// Tests run in order and share state: each step starts from what the previous one pushed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk, localImageId, removeAllImages, runBusybox } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
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

const tools: ToolName[] = ['docker', 'dockerd', 'busybox'];
if (e2eTarget === 'distribution') tools.push('docker-registry');

const enabled = requireTools('docker e2e', tools);

describe.skipIf(!enabled)(`docker client against ${e2eTarget}`, { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  let registry: RegistryProcess;
  let daemon: DockerDaemon;
  let app: BuiltImage;
  let derived: BuiltImage;
  let appId: string;
  let appRef: string;
  let appDigest: string;

  /** Runs docker and fails with the full command output unless it exits 0. */
  const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);

  beforeAll(async () => {
    await settleAll([
      startRegistryUnderTest().then((r) => (registry = r)),
      startDockerDaemon().then((d) => (daemon = d)),
    ]);
    app = await buildDockerImage(daemon, 'local/app:v1', { randomLayersMiB: [8] });
    derived = await buildDockerImage(daemon, 'local/derived:v1', { from: 'local/app:v1', smallFiles: 2 });
    appId = await localImageId(daemon, 'local/app:v1');
    appRef = `${registry.host}/e2e/app:v1`;
  });

  afterAll(async () => {
    await Promise.allSettled([daemon?.stop(), registry?.stop(), app?.remove(), derived?.remove()]);
  });

  it('pushes an image built FROM scratch and serves the manifest it reports', async () => {
    await docker('tag', 'local/app:v1', appRef);
    const push = await docker('push', appRef);
    const digest = /v1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout)?.[1];
    expect(digest, push.stdout).toBeDefined();
    appDigest = digest as string;
    expect(countLines(push.stdout, /: Pushed$/)).toBe(3); // busybox, /data, 8 MiB layer

    const manifest = await fetchManifest(registry.url, 'e2e/app', 'v1');
    expect(manifest.status).toBe(200);
    expect(manifest.digest).toBe(appDigest);
    expect(manifest.contentType).toBe('application/vnd.docker.distribution.manifest.v2+json');
  });

  it('says "Layer already exists" for every layer when the same image is pushed again', async () => {
    const push = await docker('push', appRef);
    expect(countLines(push.stdout, /: Layer already exists$/)).toBe(3);
    expect(push.stdout).not.toMatch(/: Pushed$/m);
    expect(push.stdout).toContain(`v1: digest: ${appDigest}`);
  });

  it('mounts the shared layers from the first repository ("Mounted from")', async () => {
    const ref = `${registry.host}/e2e/derived:v1`;
    await docker('tag', 'local/derived:v1', ref);
    const push = await docker('push', ref);
    expect(countLines(push.stdout, /: Mounted from e2e\/app$/)).toBe(3);
    expect(countLines(push.stdout, /: Pushed$/)).toBe(1);
    const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
    expect((await fetchManifest(registry.url, 'e2e/derived', 'v1', 'HEAD')).digest).toBe(digest);
  });

  it('pushes a manifest list with `docker manifest` over both repositories', async () => {
    const list = `${registry.host}/e2e/list:v1`;
    const derivedRef = `${registry.host}/e2e/derived:v1`;
    await docker('manifest', 'create', '--insecure', list, appRef, derivedRef);
    await docker('manifest', 'annotate', '--arch', 'arm64', list, derivedRef);
    const push = await docker('manifest', 'push', '--insecure', '--purge', list);
    // Output: one "Pushed ref … with digest: …" line per child mounted into e2e/list, then the list's digest.
    const digest = push.stdout.trim().split('\n').at(-1);
    expect(digest, push.stdout).toMatch(/^sha256:[0-9a-f]{64}$/);

    const served = await fetchManifest(registry.url, 'e2e/list', 'v1');
    expect(served.status).toBe(200);
    expect(served.digest).toBe(digest);
    expect(served.contentType).toBe(MEDIA.dockerList);
    const children = (
      JSON.parse(served.body.toString()) as {
        manifests: { digest: string; platform: { architecture: string } }[];
      }
    ).manifests;
    expect(children.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    expect(children[0]?.digest).toBe(appDigest);
    // docker manifest push copies the children into the list's repository (cross-repository mounts).
    for (const child of children) {
      expect((await fetchManifest(registry.url, 'e2e/list', child.digest, 'HEAD')).status).toBe(200);
    }
  });

  it('pulls by tag into an empty engine, with the same image ID and file contents', async () => {
    await removeAllImages(daemon);
    const pull = await docker('pull', appRef);
    expect(pull.stdout).toContain(`Digest: ${appDigest}`);
    expect(pull.stdout).toContain(`Downloaded newer image for ${appRef}`);
    expect(await localImageId(daemon, appRef)).toBe(appId);

    const sums = await runBusybox(daemon, appRef, 'sha256sum', ...Object.keys(app.files));
    expect(parseSha256sum(sums)).toEqual(app.files);
  });

  it('pulls by digest and runs the image', async () => {
    await removeAllImages(daemon);
    const byDigest = `${registry.host}/e2e/app@${appDigest}`;
    const pull = await docker('pull', byDigest);
    expect(pull.stdout).toContain(`Digest: ${appDigest}`);
    expect(await localImageId(daemon, byDigest)).toBe(appId);

    expect(await runBusybox(daemon, byDigest, 'echo', 'ok')).toBe('ok\n');
  });

  it('fails to pull an unknown tag with the registry\'s "manifest unknown"', async () => {
    const result = await daemon.docker(['pull', `${registry.host}/e2e/app:missing`], { timeoutMs: 60_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/manifest unknown|not found/i);
  });
});

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
