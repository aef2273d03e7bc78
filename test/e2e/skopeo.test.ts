// skopeo (containers/image) against the registry under test: copies from docker-daemon: and oci: into
// the registry and back to dir: and oci:, inspect, list-tags, delete, multi-platform `copy --all`, and
// both manifest formats. Tests run in order and share the registry.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import {
  E2E_TEST_TIMEOUT_MS,
  e2eTarget,
  settleAll,
  startRegistryUnderTest,
  type RegistryProcess,
} from '../support/processes.js';
import { describeFailure, requireTools, run, type RunResult, type ToolName } from '../support/tools.js';
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
const tools: ToolName[] = ['skopeo', 'docker', 'dockerd', 'busybox'];
if (e2eTarget === 'distribution') tools.push('docker-registry');

interface Inspect {
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Layers: string[];
}

const enabled = requireTools('skopeo e2e', tools);

describe.skipIf(!enabled)(`skopeo against ${e2eTarget}`, { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  let registry: RegistryProcess;
  let daemon: DockerDaemon;
  let image: BuiltImage;
  let work: string;
  let single: Layout;
  let multi: Layout;
  let env: Record<string, string | undefined>;
  const pushed: Record<'v2s2' | 'oci', string> = { v2s2: '', oci: '' };

  const skopeoRaw = (...args: string[]): Promise<RunResult> =>
    run('skopeo', ['--policy', policy, '--tmpdir', join(work, 'tmp'), ...args], {
      env,
      timeoutMs: 180_000,
    });
  const skopeo = async (...args: string[]): Promise<RunResult> => {
    const result = await skopeoRaw(...args);
    if (result.code !== 0) throw new Error(describeFailure('skopeo', args, result));
    return result;
  };
  const ref = (repoAndTag: string): string => `docker://${registry.host}/${repoAndTag}`;
  const inspect = async (...args: string[]): Promise<Inspect> =>
    JSON.parse((await skopeo('inspect', '--tls-verify=false', ...args)).stdout) as Inspect;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
    await mkdir(join(work, 'tmp'));
    await mkdir(join(work, 'docker-config'));
    await writeFile(join(work, 'auth.json'), '{}\n');
    await settleAll([
      startRegistryUnderTest().then((r) => (registry = r)),
      startDockerDaemon().then((d) => (daemon = d)),
    ]);
    env = {
      ...process.env,
      DOCKER_CONFIG: join(work, 'docker-config'),
      REGISTRY_AUTH_FILE: join(work, 'auth.json'),
    };
    image = await buildDockerImage(daemon, 'local/skopeo:v1');
    single = await writeOciLayout(join(work, 'single'), 'one', [{ os: 'linux', architecture: 'amd64' }]);
    multi = await writeOciLayout(join(work, 'multi'), 'multi', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
  });

  afterAll(async () => {
    await Promise.allSettled([daemon?.stop(), registry?.stop(), image?.remove()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each(['v2s2', 'oci'] as const)(
    'copies docker-daemon: to the registry with --format %s',
    async (format) => {
      const digestFile = join(work, `digest-${format}`);
      // containers/image ignores DOCKER_HOST for docker-daemon:; the daemon is named explicitly.
      const args = ['copy', '--src-daemon-host', daemon.env.DOCKER_HOST, '--dest-tls-verify=false'];
      args.push('--format', format, '--digestfile', digestFile);
      await skopeo(...args, 'docker-daemon:local/skopeo:v1', ref(`e2e/skopeo:${format}`));
      pushed[format] = (await readFile(digestFile, 'utf8')).trim();

      const served = await fetchManifest(registry.url, 'e2e/skopeo', format);
      expect(served.status).toBe(200);
      expect(served.digest).toBe(pushed[format]);
      expect(digestOf(served.body)).toBe(pushed[format]);
      const manifest = JSON.parse(served.body.toString()) as { mediaType: string; layers: unknown[] };
      expect(manifest.mediaType).toBe(format === 'oci' ? MEDIA.ociManifest : MEDIA.dockerManifest);
      expect(served.contentType).toBe(manifest.mediaType);
      expect(manifest.layers).toHaveLength(2);

      // The layers are the engine's (same diff_ids); v2s2 keeps the config byte for byte (digest = image ID).
      const config = await skopeo(
        'inspect',
        '--tls-verify=false',
        '--config',
        '--raw',
        ref(`e2e/skopeo:${format}`),
      );
      const parsedConfig = JSON.parse(config.stdout) as { rootfs: { diff_ids: string[] } };
      const engine = JSON.parse(
        (await daemon.docker(['image', 'inspect', '--format', '{{json .}}', 'local/skopeo:v1'])).stdout,
      ) as { Id: string; RootFS: { Layers: string[] } };
      expect(parsedConfig.rootfs.diff_ids).toEqual(engine.RootFS.Layers);
      if (format === 'v2s2') expect(digestOf(Buffer.from(config.stdout))).toBe(engine.Id);
    },
  );

  it('inspects a pushed image', async () => {
    const info = await inspect(ref('e2e/skopeo:v2s2'));
    expect(info.Digest).toBe(pushed.v2s2);
    expect(info.Architecture).toBe('amd64');
    expect(info.Layers).toHaveLength(2);
    expect(info.RepoTags.sort()).toEqual(['oci', 'v2s2']);
  });

  it('lists tags', async () => {
    const result = await skopeo('list-tags', '--tls-verify=false', ref('e2e/skopeo'));
    const listed = JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
    expect(listed.Repository).toBe(`${registry.host}/e2e/skopeo`);
    expect(listed.Tags.sort()).toEqual(['oci', 'v2s2']);
  });

  it('copies the registry image back to dir: byte for byte', async () => {
    const out = join(work, 'out-dir');
    await skopeo('copy', '--src-tls-verify=false', ref('e2e/skopeo:v2s2'), `dir:${out}`);
    const manifest = await readFile(join(out, 'manifest.json'));
    expect(digestOf(manifest)).toBe(pushed.v2s2);
    const parsed = JSON.parse(manifest.toString()) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    for (const { digest } of [parsed.config, ...parsed.layers]) {
      const blob = await readFile(join(out, digest.slice('sha256:'.length)));
      expect(digestOf(blob)).toBe(digest);
    }
  });

  it('copies an oci: layout to the registry and back to oci: without changing a digest', async () => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${single.dir}:one`, ref('e2e/layout:v1'));
    const served = await fetchManifest(registry.url, 'e2e/layout', 'v1');
    expect(served.digest).toBe(single.topDigest);
    expect(served.body.equals(single.images[0]?.manifest ?? Buffer.alloc(0))).toBe(true);

    const out = join(work, 'out-oci');
    await skopeo('copy', '--src-tls-verify=false', ref('e2e/layout:v1'), `oci:${out}:back`);
    expect(await layoutDigestForTag(out, 'back')).toBe(single.topDigest);
    const layer = single.images[0]?.layerDigest ?? '';
    expect((await readLayoutBlob(out, layer)).equals(await readLayoutBlob(single.dir, layer))).toBe(true);
  });

  it('copies between repositories of the registry without changing the digest', async () => {
    const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
    await skopeo('copy', ...tls, ref('e2e/skopeo:v2s2'), ref('e2e/copied:v1'));
    const served = await fetchManifest(registry.url, 'e2e/copied', 'v1');
    expect(served.status).toBe(200);
    expect(served.digest).toBe(pushed.v2s2);
  });

  it('deletes a tagged manifest: the tag and the digest are gone, other tags stay', async () => {
    await skopeo('delete', '--tls-verify=false', ref('e2e/skopeo:oci'));
    expect((await fetchManifest(registry.url, 'e2e/skopeo', 'oci')).status).toBe(404);
    expect((await fetchManifest(registry.url, 'e2e/skopeo', pushed.oci)).status).toBe(404);
    expect((await fetchManifest(registry.url, 'e2e/skopeo', 'v2s2')).status).toBe(200);
    expect(await listTags(registry.url, 'e2e/skopeo')).toEqual(['v2s2']);

    const gone = await skopeoRaw('inspect', '--tls-verify=false', ref('e2e/skopeo:oci'));
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/manifest unknown/i);
  });

  it('copies a multi-platform OCI index with --all; every child is pullable by digest', async () => {
    await skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${multi.dir}:multi`, ref('e2e/multi:v1'));
    const index = await fetchManifest(registry.url, 'e2e/multi', 'v1');
    expect(index.status).toBe(200);
    expect(index.digest).toBe(multi.topDigest);
    expect(index.contentType).toBe(MEDIA.ociIndex);
    expect(index.body.equals(multi.index ?? Buffer.alloc(0))).toBe(true);

    for (const child of multi.images) {
      const served = await fetchManifest(registry.url, 'e2e/multi', child.manifestDigest);
      expect(served.status, child.manifestDigest).toBe(200);
      expect(served.contentType).toBe(MEDIA.ociManifest);
      expect(served.body.equals(child.manifest)).toBe(true);
      const raw = await skopeo(
        'inspect',
        '--tls-verify=false',
        '--raw',
        ref(`e2e/multi@${child.manifestDigest}`),
      );
      expect(digestOf(Buffer.from(raw.stdout))).toBe(child.manifestDigest);
      const info = await inspect('--override-arch', child.platform.architecture, ref('e2e/multi:v1'));
      expect(info.Architecture).toBe(child.platform.architecture);
      expect(info.Layers).toEqual([child.layerDigest]);
    }

    const out = join(work, 'out-multi');
    await skopeo('copy', '--all', '--src-tls-verify=false', ref('e2e/multi:v1'), `oci:${out}:v1`);
    expect(await layoutDigestForTag(out, 'v1')).toBe(multi.topDigest);
    for (const child of multi.images) {
      const blob = await readLayoutBlob(out, child.layerDigest);
      expect(sha256(blob)).toBe(sha256(await readLayoutBlob(multi.dir, child.layerDigest)));
    }
  });

  it('converts a multi-platform index to a Docker manifest list with --all --format v2s2', async () => {
    const args = ['copy', '--all', '--format', 'v2s2', '--dest-tls-verify=false'];
    await skopeo(...args, `oci:${multi.dir}:multi`, ref('e2e/multi:list'));
    const list = await fetchManifest(registry.url, 'e2e/multi', 'list');
    expect(list.status).toBe(200);
    expect(list.contentType).toBe(MEDIA.dockerList);
    const parsed = JSON.parse(list.body.toString()) as {
      manifests: { digest: string; mediaType: string; platform: { architecture: string } }[];
    };
    expect(parsed.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    for (const child of parsed.manifests) {
      expect(child.mediaType).toBe(MEDIA.dockerManifest);
      const served = await fetchManifest(registry.url, 'e2e/multi', child.digest);
      expect(served.status, child.digest).toBe(200);
      expect(served.contentType).toBe(MEDIA.dockerManifest);
      expect(digestOf(served.body)).toBe(child.digest);
    }
    expect(await listTags(registry.url, 'e2e/multi')).toEqual(['list', 'v1']);
  });
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
