// Helpers for pull-through mirror tests: an upstream Berth behind a fault proxy with a mirror Berth in
// front of it, images with blobs of chosen sizes and OCI indexes pushed the way clients push them, and
// a GET that records when its bytes arrived and whether the connection was cut.
//
// Contracts: startMirrorRig() resolves once all three servers listen; its stop() stops the mirror
// first (so its counters are flushed and no fill is left running), then the proxy and the upstream.
// streamGet() never rejects: a cut connection is a result (complete: false, error set).
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type BerthConfigInput } from '../../src/config/schema.js';
import type { AuthSecrets } from '../../src/auth-composition.js';
import { startServer } from '../../src/server.js';
import { startBerth, type RunningBerth } from './berth.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { describeResponse, send, sha256 } from './fuzz.js';
import type { RawResponse } from './http.js';

export type UpstreamInput = NonNullable<NonNullable<BerthConfigInput['mirror']>['upstreams']>[number];

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const ACCEPT_MANIFESTS = [
  OCI_INDEX,
  OCI_MANIFEST,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface MirrorRig {
  upstream: RunningBerth;
  proxy: FaultProxy;
  mirror: RunningBerth;
  stop(): Promise<void>;
}

/**
 * An upstream Berth, a fault proxy in front of it, and a mirror Berth whose upstream "up" (prefix
 * "up" unless `upstream` says otherwise) points at the proxy.
 */
export async function startMirrorRig(
  upstream: Partial<UpstreamInput> = {},
  mirrorOverrides: BerthConfigInput = {},
  upstreamOverrides: BerthConfigInput = {},
): Promise<MirrorRig> {
  const origin = await startBerth(upstreamOverrides);
  const proxy = await startFaultProxy(origin.url);
  const mirror = await startBerth({
    ...mirrorOverrides,
    mirror: {
      ...mirrorOverrides.mirror,
      upstreams: [{ name: 'up', prefix: 'up', ...upstream, url: proxy.url } as UpstreamInput],
    },
  });
  return {
    upstream: origin,
    proxy,
    mirror,
    async stop() {
      await mirror.stop();
      await proxy.stop();
      await origin.stop();
    },
  };
}

/** A Berth in `dataDir`, which stop() leaves in place (for the CLI to read after the server is gone). */
export async function startBerthIn(
  dataDir: string,
  overrides: BerthConfigInput,
  secrets: AuthSecrets = {},
): Promise<RunningBerth> {
  const config = parseConfig({
    ...overrides,
    dataDir,
    server: { ...overrides.server, listen: '127.0.0.1:0' },
    log: { level: 'silent', ...overrides.log },
  });
  const server = await startServer(config, undefined, { announce: () => {}, ...secrets });
  return { url: `http://${server.address}`, host: server.address, dataDir, stop: () => server.close() };
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'berth-mirror-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Where the filesystem driver of a Berth in `dataDir` keeps a blob's bytes (src/registry/layout.ts). */
export function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** `size` bytes that differ per `seed` and along the buffer (cheap to make, no two blobs alike). */
export function randomishBlob(size: number, seed: string): Buffer {
  const data = Buffer.alloc(size);
  let x = 0x9e3779b9;
  for (const ch of seed) x = (x ^ ch.charCodeAt(0)) * 0x01000193;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data.writeInt32LE(x | 0, Math.min(i, size - 4));
  }
  return data;
}

export interface PushedManifest {
  manifest: string;
  digest: string;
  config: Buffer;
  layers: Buffer[];
}

function expectStatus(res: RawResponse, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${describeResponse(res)}`);
}

/** Uploads a blob in one POST (OCI dist-spec "monolithic upload"). */
export async function pushBlob(
  url: string,
  repo: string,
  blob: Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return send(url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
    body: blob,
    timeoutMs: 30_000,
  });
}

export interface PushOptions {
  /** Named in the image config (default linux/amd64). */
  platform?: { architecture: string; os: string };
  /** Sent with every request, e.g. an Authorization header. */
  headers?: Record<string, string>;
}

/** Pushes an OCI image with these layers; `tag` may be a digest. */
export async function pushLayers(
  url: string,
  repo: string,
  tag: string,
  layers: Buffer[],
  { platform = { architecture: 'amd64', os: 'linux' }, headers = {} }: PushOptions = {},
): Promise<PushedManifest> {
  const config = Buffer.from(
    JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] }, repo, tag }),
  );
  for (const blob of [config, ...layers])
    expectStatus(await pushBlob(url, repo, blob, headers), 201, `push blob to ${repo}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha256(l),
      size: l.length,
    })),
  });
  const put = await send(url, 'PUT', `/v2/${repo}/manifests/${tag}`, {
    headers: { 'Content-Type': OCI_MANIFEST, ...headers },
    body: manifest,
  });
  expectStatus(put, 201, `PUT /v2/${repo}/manifests/${tag}`);
  return { manifest, digest: sha256(manifest), config, layers };
}

/** Pushes an OCI index over manifests already in `repo`. */
export async function pushIndex(
  url: string,
  repo: string,
  tag: string,
  children: Array<{ manifest: PushedManifest; platform: { architecture: string; os: string } }>,
): Promise<{ index: string; digest: string }> {
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map(({ manifest, platform }) => ({
      mediaType: OCI_MANIFEST,
      digest: manifest.digest,
      size: Buffer.byteLength(manifest.manifest),
      platform,
    })),
  });
  const put = await send(url, 'PUT', `/v2/${repo}/manifests/${tag}`, {
    headers: { 'Content-Type': OCI_INDEX },
    body: index,
  });
  expectStatus(put, 201, `PUT index /v2/${repo}/manifests/${tag}`);
  return { index, digest: sha256(index) };
}

/** GET of a manifest with the Accept header of a client that knows every format. */
export function getManifest(url: string, repo: string, reference: string, query = ''): Promise<RawResponse> {
  return send(url, 'GET', `/v2/${repo}/manifests/${reference}${query}`, {
    headers: { Accept: ACCEPT_MANIFESTS },
  });
}

export interface StreamedGet {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The response ended with all the bytes its Content-Length announced. */
  complete: boolean;
  /** Why the connection ended early, if it did. */
  error?: string;
  startedAt: number;
  /** When the first body byte arrived (undefined without body bytes). */
  firstByteAt?: number;
  endedAt: number;
}

export interface StreamGetOptions {
  headers?: Record<string, string>;
  /** Destroy the request once this many body bytes arrived (a client that leaves). */
  leaveAfterBytes?: number;
  timeoutMs?: number;
}

/** A GET on its own connection that records arrival times; never rejects. */
export function streamGet(
  baseUrl: string,
  path: string,
  options: StreamGetOptions = {},
): Promise<StreamedGet> {
  const base = new URL(baseUrl);
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let firstByteAt: number | undefined;
    let status = 0;
    let headers: StreamedGet['headers'] = {};
    let done = false;
    const finish = (complete: boolean, error?: string) => {
      if (done) return;
      done = true;
      resolve({
        status,
        headers,
        body: Buffer.concat(chunks),
        complete,
        error,
        startedAt,
        firstByteAt,
        endedAt: Date.now(),
      });
    };
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: 'GET',
        path,
        headers: options.headers,
        agent: false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        res.on('data', (chunk: Buffer) => {
          firstByteAt ??= Date.now();
          chunks.push(chunk);
          received += chunk.length;
          if (options.leaveAfterBytes !== undefined && received >= options.leaveAfterBytes) {
            req.destroy();
            finish(false, 'left on purpose');
          }
        });
        res.on('end', () => finish(res.complete));
        res.on('error', (err) => finish(false, err.message));
        res.on('close', () => finish(res.complete, res.complete ? undefined : 'closed early'));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out: GET ${path}`)));
    req.on('error', (err) => finish(false, err.message));
    req.end();
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the mirror answers HEAD of a blob from its own index (the proxy sees no request): a
 * fill links the blob to its repository just after the last byte went to its readers.
 */
export async function waitUntilLinked(mirrorUrl: string, proxy: FaultProxy, repo: string, digest: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const before = proxy.requests.length;
    const head = await send(mirrorUrl, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    if (head.status === 200 && proxy.requests.length === before) return;
    if (Date.now() > deadline) throw new Error(`${repo}@${digest} was not linked within 10 s`);
    await sleep(20);
  }
}
