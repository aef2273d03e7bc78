// A small keep-alive HTTP client for the registry API (node:http, so that request bodies stream from
// disk and nothing is buffered but small JSON and manifests).
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes of body received (also counted when the body is discarded). */
  bytes: number;
  /** performance.now() when the request body was fully handed to the socket, and when the response began. */
  bodySentAt: number;
  respondedAt: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string | (() => Readable);
  /** Accepted statuses; any other throws an error that names the request and quotes the answer. */
  expect?: number[];
  /** Drop the response body instead of keeping it (large GETs). */
  discardBody?: boolean;
}

/** Thrown when a registry answers with an unexpected status: the message is a ready-made reproduction. */
export class UnexpectedStatusError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly responseBody: string,
  ) {
    super(`${method} ${url} answered ${status}: ${responseBody.slice(0, 500)}`);
  }
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export class RegistryClient {
  readonly agent: Agent;

  constructor(
    readonly base: string,
    maxSockets = 64,
    /** Sent with every request (e.g. Authorization), under the request's own headers. */
    readonly headers: Record<string, string> = {},
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  url(pathOrUrl: string): URL {
    return new URL(pathOrUrl, this.base);
  }

  request(method: string, pathOrUrl: string | URL, opts: RequestOptions = {}): Promise<HttpResponse> {
    const url = typeof pathOrUrl === 'string' ? this.url(pathOrUrl) : pathOrUrl;
    const headers: Record<string, string> = { ...this.headers, ...opts.headers };
    const body = opts.body;
    if (body === undefined) {
      if (method !== 'GET' && method !== 'HEAD') headers['content-length'] ??= '0';
    } else if (typeof body !== 'function') {
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      let bodySentAt = Number.NaN;
      const req = request(url, { method, headers, agent: this.agent }, (res: IncomingMessage) => {
        const respondedAt = performance.now();
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (!opts.discardBody) chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const data = Buffer.concat(chunks);
          if (opts.expect && !opts.expect.includes(status)) {
            reject(new UnexpectedStatusError(method, url.href, status, data.toString('utf8')));
          } else {
            resolve({ status, headers: res.headers, body: data, bytes, bodySentAt, respondedAt });
          }
        });
      });
      req.on('error', (err) => reject(new Error(`${method} ${url.href}: ${err.message}`)));
      req.on('finish', () => {
        bodySentAt = performance.now();
      });
      if (typeof body === 'function') {
        const stream = body();
        stream.on('error', (err) => req.destroy(err));
        stream.pipe(req);
      } else {
        req.end(body);
      }
    });
  }

  /** POST /v2/<repo>/blobs/uploads/ and return the absolute upload URL from Location. */
  async startUpload(repo: string): Promise<URL> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
    return this.location(res, 'POST blobs/uploads/');
  }

  location(res: HttpResponse, what: string): URL {
    const location = res.headers.location;
    if (!location) throw new Error(`${what}: no Location header (status ${res.status})`);
    return this.url(location);
  }

  /** Monolithic upload in two requests: POST, then PUT ?digest= with the whole body. */
  async uploadBlob(
    repo: string,
    digest: string,
    size: number,
    body: Buffer | (() => Readable),
  ): Promise<HttpResponse> {
    const upload = await this.startUpload(repo);
    upload.searchParams.set('digest', digest);
    return this.request('PUT', upload, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      expect: [201],
    });
  }

  async putBlob(repo: string, data: Buffer): Promise<string> {
    const digest = sha256Digest(data);
    await this.uploadBlob(repo, digest, data.length, data);
    return digest;
  }

  /** Cross-repository mount; uploads `data` when the registry answers 202 instead of mounting. */
  async mountBlob(repo: string, from: string, digest: string, data: Buffer): Promise<void> {
    const query = new URLSearchParams({ mount: digest, from });
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?${query}`, { expect: [201, 202] });
    if (res.status === 201) return;
    const upload = this.location(res, 'POST ?mount=');
    upload.searchParams.set('digest', digest);
    await this.request('PUT', upload, {
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
      expect: [201],
    });
  }

  async putManifest(
    repo: string,
    reference: string,
    manifest: Buffer,
    mediaType = OCI_MANIFEST,
  ): Promise<void> {
    await this.request('PUT', `/v2/${repo}/manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body: manifest,
      expect: [201],
    });
  }

  /**
   * GETs `path` and follows `Link: <…>; rel="next"` until there is none. Returns every page's JSON and
   * the number of requests made.
   */
  async walk<T>(path: string): Promise<{ pages: T[]; requests: number }> {
    const pages: T[] = [];
    let next: URL | undefined = this.url(path);
    let requests = 0;
    while (next) {
      const res = await this.request('GET', next, { expect: [200] });
      requests++;
      pages.push(JSON.parse(res.body.toString('utf8')) as T);
      const link = res.headers.link;
      const match = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      next = match?.[1] ? this.url(match[1]) : undefined;
      if (requests > 1_000_000) throw new Error(`${path}: pagination does not end`);
    }
    return { pages, requests };
  }
}

export interface SmallImage {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  configDigest: string;
  layerDigest: string;
  manifestDigest: string;
}

/** A unique tiny OCI image: a JSON config and one random layer of `layerBytes`. */
export function makeSmallImage(label: string, layerBytes = 4096): SmallImage {
  const layer = randomBytes(layerBytes);
  const layerDigest = sha256Digest(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'berth.bench': label } },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const configDigest = sha256Digest(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  return { config, layer, manifest, configDigest, layerDigest, manifestDigest: sha256Digest(manifest) };
}

/** Pushes a small image the way a client does: each blob POST + PUT ?digest=, then PUT the manifest. */
export async function pushSmallImage(
  client: RegistryClient,
  repo: string,
  tag: string,
  image: SmallImage,
): Promise<void> {
  await Promise.all([
    client.uploadBlob(repo, image.configDigest, image.config.length, image.config),
    client.uploadBlob(repo, image.layerDigest, image.layer.length, image.layer),
  ]);
  await client.putManifest(repo, tag, image.manifest);
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight; rejects on the first error. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failed !== undefined) throw failed;
}
