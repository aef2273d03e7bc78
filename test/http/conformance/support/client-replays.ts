// How oras-go v2 and go-containerregistry (cosign, crane) talk to a registry, replayed request for
// request over the port's Client, each exchange logged (see Exchange) so a test can state their order.
// Sources: oras-go registry/remote (repository.go: blobStore.Push, manifestStore.Resolve, Fetch,
// Referrers), go-containerregistry pkg/v1/remote (write.go: uploadOne, initiateUpload, streamBlob,
// commitBlob; referrers.go).
import { expect } from 'vitest';
import {
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  explain,
  json,
  sha256,
  withQuery,
  type Client,
  type Descriptor,
  type ReqOptions,
  type Res,
} from './client.js';

/** oras-go's defaultManifestAcceptHeader. */
export const ORAS_ACCEPT =
  [MT.dockerManifest, MT.dockerList, MT.ociManifest, MT.ociIndex].join(', ') +
  ', application/vnd.oci.artifact.manifest.v1+json';
/** What go-containerregistry accepts when it reads a manifest (remote.Get, remote.Head). */
export const GGCR_ACCEPT = [
  MT.schema1,
  MT.schema1Signed,
  MT.dockerManifest,
  MT.ociManifest,
  MT.dockerList,
  MT.ociIndex,
].join(',');

/** The empty config descriptor of oras-go's PackManifest (image-spec DescriptorEmptyJSON). */
export const EMPTY_CONFIG: Descriptor & { data: string } = {
  mediaType: MT.ociEmpty,
  digest: EMPTY_JSON_DIGEST,
  size: 2,
  data: EMPTY_JSON.toString('base64'),
};

export interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

/**
 * One client's exchanges with Berth, logged as `METHOD path status` with the repository, upload ids
 * and the named digests written as <repo>, <upload> and <name>, so a test states the order in one list.
 */
export class Exchange {
  readonly log: string[] = [];
  private readonly names = new Map<string, string>();

  constructor(
    readonly client: Client,
    readonly repo: string,
  ) {}

  name(label: string, digest: string): string {
    this.names.set(digest, label);
    return digest;
  }

  async send(method: string, pathOrUrl: string, opts: ReqOptions = {}): Promise<Res> {
    const res = await this.client.request(method, pathOrUrl, opts);
    let line = decodeURIComponent(new URL(res.url).pathname + new URL(res.url).search)
      .replaceAll(this.repo, '<repo>')
      .replace(/uploads\/[0-9a-f-]{36}/, 'uploads/<upload>');
    for (const [digest, label] of this.names) line = line.replaceAll(digest, `<${label}>`);
    this.log.push(`${method} ${line} ${res.status}`);
    return res;
  }

  location(res: Res): string {
    const location = res.headers.get('location');
    expect(location, explain(res)).toBeTruthy();
    return this.client.resolve(location ?? '');
  }
}

// ---- oras-go v2 -------------------------------------------------------------------------------------

/** `Exists` then, if missing, `blobStore.Push`: POST, then PUT ?digest= with the whole blob. */
export async function orasPushBlob(x: Exchange, data: Buffer): Promise<void> {
  const digest = sha256(data);
  const head = await x.send('HEAD', `/v2/${x.repo}/blobs/${digest}`);
  if (head.status === 200) {
    expect(head.headers.get('content-length'), explain(head)).toBe(String(data.length));
    return;
  }
  expect(head.status, explain(head)).toBe(404);
  const post = await x.send('POST', `/v2/${x.repo}/blobs/uploads/`);
  expect(post.status, explain(post)).toBe(202);
  const put = await x.send('PUT', withQuery(x.location(post), { digest }), {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  expect(put.status, explain(put)).toBe(201);
}

/** `Exists` (HEAD by digest), then `PushReference` (PUT by tag, or by digest when there is none). */
export async function orasPushManifest(x: Exchange, manifest: Buffer, reference?: string): Promise<Res> {
  const digest = sha256(manifest);
  const head = await x.send('HEAD', `/v2/${x.repo}/manifests/${digest}`, {
    headers: { Accept: MT.ociManifest },
  });
  expect(head.status, explain(head)).toBe(404);
  const put = await x.send('PUT', `/v2/${x.repo}/manifests/${reference ?? digest}`, {
    headers: { 'Content-Type': MT.ociManifest },
    body: manifest,
  });
  expect(put.status, explain(put)).toBe(201);
  expect(put.headers.get('docker-content-digest'), explain(put)).toBe(digest);
  return put;
}

/** `Resolve`: HEAD with oras-go's Accept list; the descriptor comes from the headers alone. */
export async function orasResolve(x: Exchange, reference: string): Promise<Descriptor> {
  const head = await x.send('HEAD', `/v2/${x.repo}/manifests/${reference}`, {
    headers: { Accept: ORAS_ACCEPT },
  });
  expect(head.status, explain(head)).toBe(200);
  const size = head.headers.get('content-length');
  const digest = head.headers.get('docker-content-digest');
  expect(size, explain(head)).toMatch(/^\d+$/);
  expect(digest, explain(head)).toMatch(/^sha256:/);
  return { mediaType: head.headers.get('content-type') ?? '', digest: digest ?? '', size: Number(size) };
}

/** `Fetch` of a manifest by digest: Accept is its media type, and Content-Type must be that type. */
export async function orasFetchManifest(x: Exchange, desc: Descriptor): Promise<Res> {
  const got = await x.send('GET', `/v2/${x.repo}/manifests/${desc.digest}`, {
    headers: { Accept: desc.mediaType },
  });
  expect(got.status, explain(got)).toBe(200);
  expect(got.headers.get('content-type'), explain(got)).toBe(desc.mediaType);
  expect(sha256(got.body), explain(got)).toBe(desc.digest);
  return got;
}

export async function fetchBlob(x: Exchange, digest: string): Promise<Buffer> {
  const got = await x.send('GET', `/v2/${x.repo}/blobs/${digest}`);
  expect(got.status, explain(got)).toBe(200);
  expect(sha256(got.body), explain(got)).toBe(digest);
  return got.body;
}

/** `Referrers` (`oras discover [--artifact-type]`, ggcr's `remote.Referrers` asks the same way). */
export async function discover(x: Exchange, subject: string, artifactType?: string): Promise<ReferrersIndex> {
  const path = `/v2/${x.repo}/referrers/${subject}`;
  const res = await x.send('GET', artifactType ? withQuery(path, { artifactType }) : path, {
    headers: { Accept: MT.ociIndex },
  });
  expect(res.status, explain(res)).toBe(200);
  expect(res.headers.get('content-type'), explain(res)).toBe(MT.ociIndex);
  // Applied filters are named, so the client does not filter again; none is named without one.
  expect(res.headers.get('oci-filters-applied'), explain(res)).toBe(artifactType ? 'artifactType' : null);
  const index = json<ReferrersIndex>(res);
  expect(index.schemaVersion).toBe(2);
  expect(index.mediaType).toBe(MT.ociIndex);
  return index;
}

/** The log lines of orasPushBlob for a blob the repository lacks. */
export const pushedBlob = (label: string) => [
  `HEAD /v2/<repo>/blobs/<${label}> 404`,
  'POST /v2/<repo>/blobs/uploads/ 202',
  `PUT /v2/<repo>/blobs/uploads/<upload>?digest=<${label}> 201`,
];

/**
 * go-containerregistry's uploadOne: HEAD; when missing, POST (Content-Type application/json, no body),
 * the blob in one streamed PATCH (no Content-Range), then PUT ?digest= without a body.
 */
export async function ggcrPushBlob(x: Exchange, digest: string, data?: Buffer): Promise<void> {
  const head = await x.send('HEAD', `/v2/${x.repo}/blobs/${digest}`);
  if (head.status === 200) return;
  expect(head.status, explain(head)).toBe(404);
  expect(data, `${digest} is not stored yet`).toBeDefined();
  const post = await x.send('POST', `/v2/${x.repo}/blobs/uploads/`, {
    headers: { 'Content-Type': 'application/json' },
  });
  expect(post.status, explain(post)).toBe(202);
  const patch = await x.send('PATCH', x.location(post), {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  expect(patch.status, explain(patch)).toBe(202);
  const put = await x.send('PUT', withQuery(x.location(patch), { digest }));
  expect(put.status, explain(put)).toBe(201);
}

/** The log lines of ggcrPushBlob for a blob the repository lacks. */
export const streamedBlob = (label: string) => [
  `HEAD /v2/<repo>/blobs/<${label}> 404`,
  'POST /v2/<repo>/blobs/uploads/ 202',
  'PATCH /v2/<repo>/blobs/uploads/<upload> 202',
  `PUT /v2/<repo>/blobs/uploads/<upload>?digest=<${label}> 201`,
];
