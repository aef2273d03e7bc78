// Cases the official OCI conformance suites found that this port first missed (issue 14). Each is a
// function that registers its tests against a Target, so the workflow files run them on the default
// Berth (filesystem storage) and variants.test.ts on memory storage and with token auth.
import { expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  explain,
  expectError,
  pushImage,
  randomBlob,
  sha256,
  sha512,
  uniqueRepo,
  withQuery,
  type Client,
  type Res,
} from './client.js';
import type { Target } from './registry.js';

const OCTET = { 'Content-Type': 'application/octet-stream' };

/**
 * The suite's smallest chunk when the registry sends no OCI-Chunk-Min-Length. Its value does not
 * change the requests' order or their ranges relative to the blob (three chunks of a 3*min-5 blob).
 */
const SUITE_CHUNK_MIN = 1024;

function locationOf(client: Client, res: Res): string {
  const location = res.headers.get('location');
  expect(location, explain(res)).toBeTruthy();
  return client.resolve(location ?? '');
}

/**
 * References that are neither a tag nor a digest: the v1.1.1 suite's pull workflow GETs
 * `.INVALID_MANIFEST_NAME`, distribution-spec main pushes and pulls `sha256:baddigeststring`.
 */
const INVALID_REFERENCES = [
  '.INVALID_MANIFEST_NAME',
  '-bad',
  'sha256:totallywrong',
  'sha256:baddigeststring',
];

/**
 * GET, HEAD and DELETE of such a reference name no manifest: 404 MANIFEST_UNKNOWN, as Distribution
 * and zot answer (the suite accepts only 404 for the GET). A PUT to it is invalid: 400.
 */
export function invalidReferenceCases(reg: Target): void {
  it('GET, HEAD and DELETE of a reference that is neither a tag nor a digest answer 404 MANIFEST_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('invalid-ref');
    await pushImage(c, repo, 'v1');
    for (const ref of INVALID_REFERENCES) {
      expectError(await c.getManifest(repo, ref), 404, 'MANIFEST_UNKNOWN');
      const head = await c.head(`/v2/${repo}/manifests/${ref}`, { Accept: ACCEPT_MANIFESTS });
      expect(head.status, explain(head)).toBe(404);
      expectError(await c.delete(`/v2/${repo}/manifests/${ref}`), 404, 'MANIFEST_UNKNOWN');
    }
  });

  it('PUT of a manifest to a reference that is neither a tag nor a digest answers 400', async () => {
    const c = reg.client;
    const repo = uniqueRepo('invalid-ref-put');
    const image = await pushImage(c, repo, 'v1');
    for (const ref of INVALID_REFERENCES) {
      const put = await c.pushManifest(repo, ref, image.manifest, image.descriptor.mediaType);
      expectError(put, 400, ['MANIFEST_INVALID', 'TAG_INVALID', 'DIGEST_INVALID', 'NAME_INVALID']);
    }
  });
}

interface ChunkedPush {
  /** Before each chunk, one that skips ahead (or back to the start) is sent and must answer 416. */
  outOfOrder?: boolean;
  /** The last chunk goes with the closing `PUT ?digest=` instead of a PATCH. */
  putLastChunk?: boolean;
}

/**
 * The chunked push of distribution-spec main's suite (conformance/api.go, BlobPatchChunked), request
 * for request: POST with Content-Length 0; chunks with Content-Range `start-end`; with outOfOrder, a
 * chunk out of order first (a PUT ?digest= when it would end the blob and putLastChunk is set) that
 * must answer 416, then a GET of the same URL that must answer 204 with `Range: 0-<last byte>` and a
 * Location to go on from; last, the closing PUT (empty, or with the last chunk).
 */
async function pushChunked(reg: Target, repo: string, data: Buffer, digest: string, opts: ChunkedPush) {
  const c = reg.client;
  const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'Content-Length': '0' } });
  expect(post.status, explain(post)).toBe(202);
  let location = locationOf(c, post);
  const minimum = Number(post.headers.get('oci-chunk-min-length') ?? 0);
  const chunkSize = Math.min(
    Math.max(Math.floor(data.length / 3) + 1, minimum, SUITE_CHUNK_MIN),
    data.length,
  );
  let lastByte = -1;
  let closed: Res | undefined;
  while (lastByte < data.length - 1) {
    if (opts.outOfOrder) {
      let badStart = lastByte + 1 + chunkSize;
      if (badStart >= data.length) badStart = 0;
      const badLast = Math.min(badStart + chunkSize - 1, data.length - 1);
      const closing = opts.putLastChunk === true && badLast === data.length - 1;
      const url = closing ? withQuery(location, { digest }) : location;
      const bad = await c.request(closing ? 'PUT' : 'PATCH', url, {
        headers: { ...OCTET, 'Content-Range': `${badStart}-${badLast}` },
        body: data.subarray(badStart, badLast + 1),
      });
      // The suite checks the status; Berth also names the code the spec gives for it.
      if (reg.berth) expectError(bad, 416, 'BLOB_UPLOAD_INVALID');
      else expect(bad.status, explain(bad)).toBe(416);
      const status = await c.get(url);
      expect(status.status, explain(status)).toBe(204);
      location = locationOf(c, status);
      const range = status.headers.get('range') ?? '';
      expect(range, explain(status)).toMatch(/^0-\d+$/);
      if (lastByte >= 0) expect(range, explain(status)).toBe(`0-${lastByte}`);
    }
    const start = lastByte + 1;
    lastByte = Math.min(start + chunkSize - 1, data.length - 1);
    const closing = opts.putLastChunk === true && lastByte === data.length - 1;
    const res = await c.request(
      closing ? 'PUT' : 'PATCH',
      closing ? withQuery(location, { digest }) : location,
      {
        headers: { ...OCTET, 'Content-Range': `${start}-${lastByte}` },
        body: data.subarray(start, lastByte + 1),
      },
    );
    expect(res.status, explain(res)).toBe(closing ? 201 : 202);
    if (closing) closed = res;
    else location = locationOf(c, res);
  }
  closed ??= await c.request('PUT', withQuery(location, { digest }), {
    headers: { ...OCTET, 'Content-Length': '0' },
  });
  expect(closed.status, explain(closed)).toBe(201);
  const dcd = closed.headers.get('docker-content-digest');
  if (dcd !== null) expect(dcd, explain(closed)).toBe(digest);
  const pulled = await c.get(locationOf(c, closed));
  expect(pulled.status, explain(pulled)).toBe(200);
  expect(pulled.body.equals(data), explain(pulled)).toBe(true);
}

/** distribution-spec main's chunked blob tests, for sha256 and sha512 ("blobs-sha512"). */
export function chunkedUploadCases(reg: Target): void {
  const blob = () => randomBlob(SUITE_CHUNK_MIN * 3 - 5);
  const variants: Array<[string, ChunkedPush]> = [
    ['chunked multi', {}],
    ['chunked multi and put chunk', { putLastChunk: true }],
    ['chunked out-of-order', { outOfOrder: true }],
    ['chunked out-of-order and put chunk', { outOfOrder: true, putLastChunk: true }],
  ];
  for (const [algorithm, digestOf] of [
    ['sha256', sha256],
    ['sha512', sha512],
  ] as const) {
    for (const [name, opts] of variants) {
      it(`${name} (${algorithm}): out-of-order chunks, PATCH or closing PUT, answer 416 and leave the session usable`, async () => {
        const data = blob();
        await pushChunked(reg, uniqueRepo('chunked'), data, digestOf(data), opts);
      });
    }
  }
}

/**
 * A mount without `from` (the suite's "mount anonymous"): the spec lets a registry answer 201 (it
 * found the blob in a repository the caller may read) or 202 (a session for a normal push). Berth
 * mounts when the caller may read some repository that holds the blob, so on Berth it must be 201.
 */
export function anonymousMountCases(reg: Target): void {
  it('mounts a blob without `from` from a repository the caller may read (201; 202 and a usable session elsewhere)', async () => {
    const c = reg.client;
    const source = uniqueRepo('mount-anon-src');
    const target = uniqueRepo('mount-anon-dst');
    const data = randomBlob(512);
    const digest = await c.pushBlob(source, data);
    const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${digest}`);
    if (reg.berth) expect(res.status, explain(res)).toBe(201);
    else expect([201, 202], explain(res)).toContain(res.status);
    const location = locationOf(c, res);
    if (res.status === 201) {
      expect(new URL(location).pathname, explain(res)).toBe(`/v2/${target}/blobs/${digest}`);
    } else {
      const put = await c.request('PUT', withQuery(location, { digest }), { headers: OCTET, body: data });
      expect(put.status, explain(put)).toBe(201);
    }
    const pulled = await c.get(`/v2/${target}/blobs/${digest}`);
    expect(pulled.status, explain(pulled)).toBe(200);
    expect(pulled.body.equals(data), explain(pulled)).toBe(true);
  });

  it('mounting a digest no repository holds, without `from`, starts an upload session (202)', async () => {
    const c = reg.client;
    const target = uniqueRepo('mount-anon-unknown');
    const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${sha256(randomBlob())}`);
    expect(res.status, explain(res)).toBe(202);
    expect(new URL(locationOf(c, res)).pathname, explain(res)).toMatch(
      new RegExp(`^/v2/${target}/blobs/uploads/`),
    );
  });
}
