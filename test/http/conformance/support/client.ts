// A tiny black-box HTTP client for the OCI distribution conformance suite: raw requests, digests,
// blob/manifest pushes and error-body assertions. Everything talks HTTP only; no registry internals.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';

export const REQUEST_TIMEOUT_MS = 15_000;

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Every manifest type a client of this suite understands; sent as Accept on manifest GET/HEAD. */
export const ACCEPT_MANIFESTS = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

/** Error codes of the spec's table, plus the legacy Docker ones the spec says clients may meet. */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'TAG_INVALID',
  'MANIFEST_UNVERIFIED',
];

export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface Res {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

export interface ReqOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Buffer | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export function randomBlob(size = 64): Buffer {
  return randomBytes(size);
}

/** A repository name unique to one test, with two path components. */
export function uniqueRepo(prefix: string): string {
  return `conformance/${prefix}-${randomBytes(5).toString('hex')}`;
}

export function json<T = unknown>(res: Res): T {
  return JSON.parse(res.text) as T;
}

/** One line naming the exchange, used as the message of every assertion so a failure is self-explaining. */
export function explain(res: Res): string {
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('; ');
  // eslint-disable-next-line no-control-regex
  const binary = /[\x00-\x08\x0e-\x1f]|\ufffd/.test(res.text);
  const text = binary ? `<${res.body.length} bytes of binary>` : res.text;
  const body = text.length > 400 ? `${text.slice(0, 400)}...` : text;
  return `${res.method} ${res.url} -> ${res.status} [${headers}] ${body}`;
}

/** Appends a query parameter to a URL that may already carry critical query parameters of its own. */
export function withQuery(url: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return url + (url.includes('?') ? '&' : '?') + query;
}

/** Credentials the client logs in with when a registry challenges it (the suite's OCI_USERNAME/PASSWORD). */
export interface Login {
  username: string;
  password: string;
}

/** The parameters of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge. */
function bearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, value] of header.matchAll(/(\w+)="([^"]*)"/g)) params[key as string] = value as string;
  return params;
}

export class Client {
  /** Bearer tokens already fetched (until shortly before they expire), by the scope they answered. */
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(
    readonly base: string,
    private readonly login?: Login,
  ) {}

  /** Resolves a path or a Location value (relative or absolute) against the registry's base URL. */
  resolve(pathOrUrl: string): string {
    return new URL(pathOrUrl, `${this.base}/`).toString();
  }

  /**
   * One request; with a login, a 401 Bearer challenge is answered as the conformance suite and docker do
   * (Docker token spec): a token from the realm for the challenge's service and scope, then the same
   * request again with it.
   */
  async request(method: string, pathOrUrl: string, opts: ReqOptions = {}): Promise<Res> {
    const url = this.resolve(pathOrUrl);
    const res = await this.send(method, url, opts);
    const challenge =
      this.login && res.status === 401 && bearerChallenge(res.headers.get('www-authenticate'));
    if (!challenge) return res;
    const token = await this.token(challenge);
    return this.send(method, url, {
      ...opts,
      headers: { ...opts.headers, Authorization: `Bearer ${token}` },
    });
  }

  private async token(challenge: Record<string, string>): Promise<string> {
    const { realm = '', service = '', scope = '' } = challenge;
    const cached = this.tokens.get(scope);
    if (cached && cached.until > Date.now()) return cached.token;
    const query = new URLSearchParams({ service });
    for (const one of scope.split(' ').filter(Boolean)) query.append('scope', one);
    const { username, password } = this.login as Login;
    const res = await this.send('GET', `${realm}?${query}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
    });
    expect(res.status, explain(res)).toBe(200);
    const { token, expires_in: lifetime = 60 } = json<{ token: string; expires_in?: number }>(res);
    this.tokens.set(scope, { token, until: Date.now() + (lifetime - 10) * 1000 });
    return token;
  }

  private async send(method: string, url: string, opts: ReqOptions): Promise<Res> {
    const response = await fetch(url, {
      method,
      headers: opts.headers,
      body: opts.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = Buffer.from(await response.arrayBuffer());
    return {
      method,
      url,
      status: response.status,
      headers: response.headers,
      body,
      text: body.toString('utf8'),
    };
  }

  get(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.request('GET', path, { headers });
  }

  head(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.request('HEAD', path, { headers });
  }

  delete(path: string): Promise<Res> {
    return this.request('DELETE', path);
  }

  /**
   * Sends the path exactly as given (no dot-segment or percent-decoding normalisation, which fetch's
   * URL parser would apply), for requests such as `/v2/%2e%2e/x/tags/list`.
   */
  raw(method: string, rawPath: string, headers: Record<string, string> = {}): Promise<Res> {
    const base = new URL(this.base);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: base.hostname, port: base.port, method, path: rawPath, headers, timeout: REQUEST_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
            }
            resolve({
              method,
              url: rawPath,
              status: res.statusCode ?? 0,
              headers: h,
              body,
              text: body.toString('utf8'),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${rawPath}`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** POST /v2/<name>/blobs/uploads/ and return the session Location (absolute). */
  async startUpload(repo: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { headers });
    expect(res.status, explain(res)).toBe(202);
    const location = res.headers.get('location');
    expect(location, explain(res)).toBeTruthy();
    return this.resolve(location ?? '');
  }

  /** Monolithic POST-then-PUT push; returns the digest. */
  async pushBlob(repo: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const location = await this.startUpload(repo);
    const res = await this.request('PUT', withQuery(location, { digest }), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    expect(res.status, explain(res)).toBe(201);
    return digest;
  }

  async pushManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<Res> {
    return this.request('PUT', `/v2/${repo}/manifests/${reference}`, {
      headers: { 'Content-Type': mediaType },
      body,
    });
  }

  /** Pushes a manifest and asserts 201 and the Docker-Content-Digest; returns the digest. */
  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const res = await this.pushManifest(repo, reference, body, mediaType);
    expect(res.status, explain(res)).toBe(201);
    return sha256(body);
  }

  getManifest(repo: string, reference: string): Promise<Res> {
    return this.get(`/v2/${repo}/manifests/${reference}`, { Accept: ACCEPT_MANIFESTS });
  }
}

export function descriptorOf(mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: sha256(data), size: data.length, ...extra };
}

export interface ImageManifestOptions {
  config: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  mediaType?: string;
}

export function imageManifest(opts: ImageManifestOptions): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: opts.mediaType ?? MT.ociManifest,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: opts.config,
      layers: opts.layers ?? [],
      ...(opts.subject ? { subject: opts.subject } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    }),
  );
}

export function imageIndex(
  manifests: Descriptor[],
  extra: {
    mediaType?: string;
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  } = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: extra.mediaType ?? MT.ociIndex,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      manifests,
      ...(extra.subject ? { subject: extra.subject } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    }),
  );
}

export interface PushedImage {
  manifest: Buffer;
  digest: string;
  descriptor: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

/** Pushes a config blob, one random layer and an OCI image manifest under `reference`. */
export async function pushImage(client: Client, repo: string, reference: string): Promise<PushedImage> {
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      n: randomHex(),
    }),
  );
  const layerBytes = randomBlob(128);
  await client.pushBlob(repo, configBytes);
  await client.pushBlob(repo, layerBytes);
  const config = descriptorOf(MT.ociConfig, configBytes);
  const layer = descriptorOf(MT.ociLayer, layerBytes);
  const manifest = imageManifest({ config, layers: [layer] });
  const digest = await client.putManifest(repo, reference, manifest, MT.ociManifest);
  return { manifest, digest, descriptor: descriptorOf(MT.ociManifest, manifest), config, layer };
}

export function randomHex(bytes = 6): string {
  return randomBytes(bytes).toString('hex');
}

interface ErrorBody {
  errors?: Array<{ code?: unknown; message?: unknown }>;
}

/** Asserts the response carries a spec-shaped JSON error body served as application/json; returns its codes. */
export function expectErrorBody(res: Res): string[] {
  expect(res.headers.get('content-type') ?? '', explain(res)).toMatch(/^application\/json\b/i);
  let parsed: ErrorBody;
  try {
    parsed = JSON.parse(res.text) as ErrorBody;
  } catch {
    throw new Error(`error body is not JSON: ${explain(res)}`);
  }
  expect(Array.isArray(parsed.errors), explain(res)).toBe(true);
  const errors = parsed.errors ?? [];
  expect(errors.length, explain(res)).toBeGreaterThan(0);
  const codes = errors.map((e) => String(e.code));
  // "The code field MUST be one of the following" (spec, Error Codes): no registry-private codes.
  for (const code of codes) expect(SPEC_ERROR_CODES, explain(res)).toContain(code);
  return codes;
}

/** Asserts status (one of) and that the JSON error body's first code is one of `codes`. */
export function expectError(res: Res, status: number | number[], codes: string | string[]): void {
  const statuses = Array.isArray(status) ? status : [status];
  expect(statuses, explain(res)).toContain(res.status);
  const found = expectErrorBody(res);
  expect(Array.isArray(codes) ? codes : [codes], explain(res)).toContain(found[0]);
}

/** For a 4xx that may carry a body: if it has one, it must be a JSON error body. */
export function expectJsonIfBody(res: Res): void {
  if (res.method !== 'HEAD' && res.body.length > 0) expectErrorBody(res);
}

/** Parses `Link: <url>; rel="next"` and returns the URL, or undefined. */
export function nextLink(res: Res): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(link);
  return m?.[1];
}
