// docker, podman and skopeo push and pull over HTTPS: a Berth process started with the certificate that
// `berth tls selfsigned` wrote, its CA trusted the way the command prints it (certs.d directories named
// HOST:PORT under /etc/docker and /etc/containers), and the certificate swapped and reloaded with SIGHUP
// while pulls run. Tests run in order and share state.
//
// What each client proves: podman and skopeo verify the certificate against certs.d (a run with an
// empty --cert-dir is refused). dockerd never reads certs.d for 127.0.0.0/8 registries, which it treats
// as insecure (it still speaks HTTPS, skipping verification; moby registry newTLSConfig), and its
// reference parser rejects IPv6 hosts: with Berth on 127.0.0.1 its runs prove HTTPS push and pull and the
// reload, not CA trust.
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../support/cli.js';
import { dockerOk, localImageId, removeAllImages } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import {
  buildDockerImage,
  writeBuildContext,
  type BuildContext,
  type BuiltImage,
} from '../support/images.js';
import { createPodmanSandbox, type PodmanSandbox } from '../support/podman.js';
import {
  E2E_TEST_TIMEOUT_MS,
  settleAll,
  startBerthProcess,
  type RegistryProcess,
} from '../support/processes.js';
import { describeFailure, requireTools, runOk, type RunResult } from '../support/tools.js';
import { waitFor } from '../support/http.js';
import { ACCEPT_ALL_MANIFESTS } from './fixtures/registry-http.js';

const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));
const enabled = requireTools('HTTPS e2e', ['docker', 'dockerd', 'busybox', 'podman', 'skopeo']);

interface Fetched {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One GET over HTTPS on its own connection, trusting `ca` only. */
function httpsGet(url: string, ca: Buffer, headers: RequestOptions['headers'] = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out: GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** The fingerprint of the certificate a new handshake gets, verified against `ca`. */
function handshakeFingerprint(host: string, ca: Buffer): Promise<string> {
  const at = host.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host.slice(0, at), port: Number(host.slice(at + 1)), ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe.skipIf(!enabled)('docker, podman and skopeo over HTTPS', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  let work: string;
  let tlsDir: string;
  let ca: Buffer;
  let registry: RegistryProcess;
  let daemon: DockerDaemon;
  let sandbox: PodmanSandbox;
  let image: BuiltImage;
  let context: BuildContext;
  let dockerDigest: string;
  /** certs.d directories this suite created (and removes). */
  const created: string[] = [];

  const selfsigned = (...args: string[]) =>
    runBerth(['tls', 'selfsigned', '--host', '127.0.0.1', '--host', 'localhost', '--out', tlsDir, ...args]);
  const serverFingerprint = async () =>
    new X509Certificate(await readFile(join(tlsDir, 'server.crt'))).fingerprint256;
  const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);
  const podman = (...args: string[]): Promise<RunResult> => sandbox.podmanOk(...args);
  const skopeo = (...args: string[]): Promise<RunResult> =>
    runOk('skopeo', ['--policy', policy, '--tmpdir', join(work, 'tmp'), ...args], {
      env: sandbox.env,
      timeoutMs: 180_000,
    });
  const manifestDigest = async (repository: string, reference: string): Promise<string> => {
    const res = await httpsGet(`${registry.url}/v2/${repository}/manifests/${reference}`, ca, {
      accept: ACCEPT_ALL_MANIFESTS,
    });
    expect(res.status).toBe(200);
    return String(res.headers['docker-content-digest']);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-tls-e2e-'));
    tlsDir = join(work, 'tls');
    await mkdir(join(work, 'tmp'));
    const made = await selfsigned();
    if (made.code !== 0) throw new Error(`berth tls selfsigned failed: ${made.stderr}`);
    ca = await readFile(join(tlsDir, 'ca.crt'));
    await settleAll([
      startBerthProcess({
        tls: { cert: join(tlsDir, 'server.crt'), key: join(tlsDir, 'server.key'), ca },
      }).then((r) => (registry = r)),
      startDockerDaemon().then((d) => (daemon = d)),
      createPodmanSandbox('/tmp/pt-').then((p) => (sandbox = p)),
      writeBuildContext({ randomLayersMiB: [2] }).then((c) => (context = c)),
    ]);
    image = await buildDockerImage(daemon, 'local/tls:v1', { randomLayersMiB: [32] });
  });

  afterAll(async () => {
    await Promise.allSettled([
      daemon?.stop(),
      sandbox?.remove(),
      registry?.stop(),
      image?.remove(),
      context?.remove(),
    ]);
    for (const dir of created) {
      await rm(dir, { recursive: true, force: true });
      await rmdir(join(dir, '..')).catch(() => undefined); // certs.d itself, when now empty
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs the certs.d steps that `berth tls selfsigned --port` prints for this registry', async () => {
    const port = registry.host.slice(registry.host.lastIndexOf(':') + 1);
    // Run again with the real port: the CA in the directory is kept, so Berth's certificate still verifies.
    const printed = await selfsigned('--port', port);
    expect(printed.code, printed.stderr).toBe(0);
    const steps = printed.stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith(`mkdir -p /etc/`) && line.includes(`/127.0.0.1:${port} `));
    expect(steps).toEqual([
      `mkdir -p /etc/docker/certs.d/127.0.0.1:${port} && cp ${tlsDir}/ca.crt /etc/docker/certs.d/127.0.0.1:${port}/ca.crt`,
      `mkdir -p /etc/containers/certs.d/127.0.0.1:${port} && cp ${tlsDir}/ca.crt /etc/containers/certs.d/127.0.0.1:${port}/ca.crt`,
    ]);
    for (const dir of ['/etc/docker/certs.d', '/etc/containers/certs.d']) {
      const hostDir = `${dir}/127.0.0.1:${port}`;
      expect(existsSync(hostDir), `${hostDir} is left from another run`).toBe(false);
      created.push(hostDir);
    }
    for (const step of steps) await runOk('sh', ['-c', step]);
    expect((await httpsGet(`${registry.url}/v2/`, ca)).status).toBe(200);
  });

  it('docker pushes over HTTPS, and pulls the image back into an empty engine', async () => {
    const ref = `${registry.host}/e2e/tls:v1`;
    await docker('tag', 'local/tls:v1', ref);
    const push = await docker('push', ref);
    dockerDigest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? '';
    expect(dockerDigest, push.stdout).not.toBe('');
    expect(await manifestDigest('e2e/tls', 'v1')).toBe(dockerDigest);

    const id = await localImageId(daemon, 'local/tls:v1');
    await removeAllImages(daemon);
    const pull = await docker('pull', ref);
    expect(pull.stdout).toContain(`Digest: ${dockerDigest}`);
    expect(await localImageId(daemon, ref)).toBe(id);
  });

  it('podman pushes and pulls with TLS verification against the certs.d CA', async () => {
    const verify = ['--tls-verify=true', '--signature-policy', policy];
    await podman(
      'build',
      '--quiet',
      '--signature-policy',
      policy,
      '--tag',
      'local/podman-tls:v1',
      context.dir,
    );
    const digestFile = join(sandbox.dir, 'digest');
    const ref = `${registry.host}/e2e/podman-tls`;
    await podman('push', ...verify, '--digestfile', digestFile, 'local/podman-tls:v1', `docker://${ref}:v1`);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    expect(await manifestDigest('e2e/podman-tls', 'v1')).toBe(digest);

    await podman('rmi', '--all', '--force');
    await podman('pull', ...verify, `${ref}@${digest}`);
    await podman('pull', ...verify, `${registry.host}/e2e/tls:v1`);
    expect(
      (
        await podman('image', 'inspect', '--format', '{{.Digest}}', `${registry.host}/e2e/tls:v1`)
      ).stdout.trim(),
    ).toBe(dockerDigest);
  });

  it('podman refuses the registry when the CA is not trusted', async () => {
    const empty = join(work, 'no-certs');
    await mkdir(empty);
    const result = await sandbox.podman([
      'pull',
      '--tls-verify=true',
      '--signature-policy',
      policy,
      '--cert-dir',
      empty,
      `${registry.host}/e2e/tls:v1`,
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/x509: certificate signed by unknown authority/);
  });

  it('skopeo copies to and from the registry with TLS verification', async () => {
    const digestFile = join(work, 'skopeo-digest');
    await skopeo(
      'copy',
      '--src-daemon-host',
      daemon.env.DOCKER_HOST,
      '--dest-tls-verify=true',
      '--digestfile',
      digestFile,
      `docker-daemon:${registry.host}/e2e/tls:v1`,
      `docker://${registry.host}/e2e/skopeo-tls:v1`,
    );
    const digest = (await readFile(digestFile, 'utf8')).trim();
    expect(await manifestDigest('e2e/skopeo-tls', 'v1')).toBe(digest);

    const inspect = JSON.parse(
      (await skopeo('inspect', '--tls-verify=true', `docker://${registry.host}/e2e/tls:v1`)).stdout,
    ) as { Digest: string };
    expect(inspect.Digest).toBe(dockerDigest);
    const out = join(work, 'out');
    await skopeo(
      'copy',
      '--src-tls-verify=true',
      `docker://${registry.host}/e2e/skopeo-tls:v1`,
      `dir:${out}`,
    );
    expect(sha256(await readFile(join(out, 'manifest.json')))).toBe(digest);
  });

  it('swaps the certificate on SIGHUP while pulls run: they finish, new connections get the new certificate', async () => {
    const manifest = JSON.parse(
      (
        await httpsGet(`${registry.url}/v2/e2e/tls/manifests/${dockerDigest}`, ca, {
          accept: ACCEPT_ALL_MANIFESTS,
        })
      ).body.toString(),
    ) as { layers: { digest: string; size: number }[] };
    const big = manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const before = await handshakeFingerprint(registry.host, ca);

    // A download held open across the reload: the first bytes, then nothing read until afterwards.
    const req = request(`${registry.url}/v2/e2e/tls/blobs/${big.digest}`, { ca, agent: false });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.end();
    const held = await response;
    expect(held.statusCode).toBe(200);
    expect((held.socket as TLSSocket).getPeerCertificate().fingerprint256).toBe(before);
    const hash = createHash('sha256');
    let received = await new Promise<number>((resolve) =>
      held.once('data', (chunk: Buffer) => {
        held.pause();
        hash.update(chunk);
        resolve(chunk.length);
      }),
    );
    expect(received).toBeLessThan(big.size);

    // A new certificate from the same CA, loaded with SIGHUP while docker pulls the image again.
    const rotated = await selfsigned();
    expect(rotated.code, rotated.stderr).toBe(0);
    const after = await serverFingerprint();
    expect(after).not.toBe(before);
    await removeAllImages(daemon);
    const pull = daemon.docker(['pull', `${registry.host}/e2e/tls:v1`], { timeoutMs: 180_000 });
    process.kill(registry.pid, 'SIGHUP');
    await waitFor('"TLS certificate reloaded" in the log', () =>
      registry.output().includes('TLS certificate reloaded'),
    );
    expect(await handshakeFingerprint(registry.host, ca)).toBe(after);

    const pulled = await pull;
    if (pulled.code !== 0) throw new Error(describeFailure('docker', ['pull'], pulled));
    expect(pulled.stdout).toContain(`Digest: ${dockerDigest}`);

    const done = new Promise<void>((resolve, reject) => {
      held.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
      });
      held.on('end', resolve);
      held.on('error', reject);
    });
    held.resume();
    await done;
    expect(received).toBe(big.size);
    expect(`sha256:${hash.digest('hex')}`).toBe(big.digest);

    // Clients that trust the CA keep working with the new certificate.
    const inspect = JSON.parse(
      (await skopeo('inspect', '--tls-verify=true', `docker://${registry.host}/e2e/tls:v1`)).stdout,
    ) as { Digest: string };
    expect(inspect.Digest).toBe(dockerDigest);
    await sandbox.podman(['rmi', '--all', '--force']);
    await podman('pull', '--tls-verify=true', '--signature-policy', policy, `${registry.host}/e2e/tls:v1`);
  });
});
