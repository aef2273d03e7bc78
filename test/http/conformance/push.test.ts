// OCI distribution-spec conformance, workflow 2 (Push), blob half: monolithic POST+PUT, single POST,
// streamed and chunked PATCH, upload status and cancel, digest checks and cross-repository mounts.
import { describe, expect, it } from 'vitest';
import {
  type Client,
  explain,
  expectError,
  expectJsonIfBody,
  randomBlob,
  sha256,
  uniqueRepo,
  withQuery,
} from './support/client.js';
import { useRegistry } from './support/registry.js';
import { anonymousMountCases, chunkedUploadCases } from './support/suite-cases.js';

const reg = useRegistry();
const OCTET = { 'Content-Type': 'application/octet-stream' };

function locationOf(client: Client, res: { headers: Headers }): string {
  const location = res.headers.get('location');
  if (!location) throw new Error('response has no Location header');
  return client.resolve(location);
}

async function expectBlob(repo: string, digest: string, data: Buffer): Promise<void> {
  const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`);
  expect(res.status, explain(res)).toBe(200);
  expect(res.body.equals(data), explain(res)).toBe(true);
}

describe('push: monolithic blob upload', () => {
  it('POST answers 202 with a Location; PUT ?digest= answers 201 with a pullable Location', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-mono');
    const data = randomBlob(200);
    const digest = sha256(data);
    const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
    expect(post.status, explain(post)).toBe(202);
    const location = locationOf(c, post);
    const put = await c.request('PUT', withQuery(location, { digest }), { headers: OCTET, body: data });
    expect(put.status, explain(put)).toBe(201);
    const blobLocation = put.headers.get('location');
    expect(blobLocation, explain(put)).toBeTruthy();
    const dcd = put.headers.get('docker-content-digest');
    if (dcd !== null) expect(dcd, explain(put)).toBe(digest);
    const pulled = await c.get(blobLocation ?? '');
    expect(pulled.status, explain(pulled)).toBe(200);
    expect(pulled.body.equals(data), explain(pulled)).toBe(true);
  });

  it('single POST ?digest= with the body answers 201 with a pullable Location', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-single-post');
    const data = randomBlob(150);
    const digest = sha256(data);
    const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      headers: OCTET,
      body: data,
    });
    expect(res.status, explain(res)).toBe(201);
    const pulled = await c.get(locationOf(c, res));
    expect(pulled.status, explain(pulled)).toBe(200);
    expect(pulled.body.equals(data), explain(pulled)).toBe(true);
  });

  it('PUT with a digest that does not match the bytes answers 400 DIGEST_INVALID and stores nothing', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-mismatch');
    const claimed = sha256(randomBlob());
    const location = await c.startUpload(repo);
    const res = await c.request('PUT', withQuery(location, { digest: claimed }), {
      headers: OCTET,
      body: randomBlob(),
    });
    expectError(res, 400, 'DIGEST_INVALID');
    const get = await c.get(`/v2/${repo}/blobs/${claimed}`);
    expect(get.status, explain(get)).toBe(404);
  });

  it('single POST with a digest that does not match the bytes answers 400 DIGEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-post-mismatch');
    const claimed = sha256(randomBlob());
    const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${claimed}`, {
      headers: OCTET,
      body: randomBlob(),
    });
    expectError(res, 400, 'DIGEST_INVALID');
  });
});

describe('push: streamed and chunked blob upload', () => {
  it('PATCH without Content-Range (streamed) answers 202 with Range, then PUT completes it', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-stream');
    const data = randomBlob(500);
    const location = await c.startUpload(repo);
    const patch = await c.request('PATCH', location, { headers: OCTET, body: data });
    expect(patch.status, explain(patch)).toBe(202);
    expect(patch.headers.get('range'), explain(patch)).toBe(`0-${data.length - 1}`);
    const put = await c.request('PUT', withQuery(locationOf(c, patch), { digest: sha256(data) }));
    expect(put.status, explain(put)).toBe(201);
    expect(put.headers.get('location'), explain(put)).toBeTruthy();
    await expectBlob(repo, sha256(data), data);
  });

  it('chunks in order: 202 with Range, Location and Docker-Upload-UUID; GET status 204; PUT 201', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-chunked');
    const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`, {
      headers: { 'Content-Length': '0' },
    });
    expect(post.status, explain(post)).toBe(202);
    const min = Number(post.headers.get('oci-chunk-min-length') ?? '0');
    const chunkSize = Math.max(min, 64);
    const data = randomBlob(chunkSize * 2 + 10);
    const first = data.subarray(0, chunkSize);
    const second = data.subarray(chunkSize, chunkSize * 2);
    const last = data.subarray(chunkSize * 2);

    const p1 = await c.request('PATCH', locationOf(c, post), {
      headers: { ...OCTET, 'Content-Range': `0-${chunkSize - 1}` },
      body: first,
    });
    expect(p1.status, explain(p1)).toBe(202);
    expect(p1.headers.get('range'), explain(p1)).toBe(`0-${chunkSize - 1}`);
    expect(p1.headers.get('location'), explain(p1)).toBeTruthy();
    expect(p1.headers.get('docker-upload-uuid'), explain(p1)).toBeTruthy();

    const status = await c.get(locationOf(c, p1));
    expect(status.status, explain(status)).toBe(204);
    expect(status.headers.get('range'), explain(status)).toBe(`0-${chunkSize - 1}`);
    expect(status.headers.get('location'), explain(status)).toBeTruthy();

    const p2 = await c.request('PATCH', locationOf(c, status), {
      headers: { ...OCTET, 'Content-Range': `${chunkSize}-${chunkSize * 2 - 1}` },
      body: second,
    });
    expect(p2.status, explain(p2)).toBe(202);
    expect(p2.headers.get('range'), explain(p2)).toBe(`0-${chunkSize * 2 - 1}`);

    const p3 = await c.request('PATCH', locationOf(c, p2), {
      headers: { ...OCTET, 'Content-Range': `${chunkSize * 2}-${data.length - 1}` },
      body: last,
    });
    expect(p3.status, explain(p3)).toBe(202);
    expect(p3.headers.get('range'), explain(p3)).toBe(`0-${data.length - 1}`);

    const put = await c.request('PUT', withQuery(locationOf(c, p3), { digest: sha256(data) }), {
      headers: { 'Content-Length': '0' },
    });
    expect(put.status, explain(put)).toBe(201);
    expect(put.headers.get('location'), explain(put)).toBeTruthy();
    await expectBlob(repo, sha256(data), data);
  });

  it('PUT may carry the final chunk in its body', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-final-put');
    const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`, {
      headers: { 'Content-Length': '0' },
    });
    expect(post.status, explain(post)).toBe(202);
    const chunkSize = Math.max(Number(post.headers.get('oci-chunk-min-length') ?? '0'), 32);
    const data = randomBlob(chunkSize + 17);
    const p1 = await c.request('PATCH', locationOf(c, post), {
      headers: { ...OCTET, 'Content-Range': `0-${chunkSize - 1}` },
      body: data.subarray(0, chunkSize),
    });
    expect(p1.status, explain(p1)).toBe(202);
    const put = await c.request('PUT', withQuery(locationOf(c, p1), { digest: sha256(data) }), {
      headers: { ...OCTET, 'Content-Range': `${chunkSize}-${data.length - 1}` },
      body: data.subarray(chunkSize),
    });
    expect(put.status, explain(put)).toBe(201);
    await expectBlob(repo, sha256(data), data);
  });

  it('a 5 MiB blob survives a streamed upload in two PATCHes', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-big');
    const data = randomBlob(5 * 1024 * 1024 + 3);
    const half = Math.floor(data.length / 2);
    const location = await c.startUpload(repo);
    const p1 = await c.request('PATCH', location, { headers: OCTET, body: data.subarray(0, half) });
    expect(p1.status, explain(p1)).toBe(202);
    expect(p1.headers.get('range'), explain(p1)).toBe(`0-${half - 1}`);
    const p2 = await c.request('PATCH', locationOf(c, p1), { headers: OCTET, body: data.subarray(half) });
    expect(p2.status, explain(p2)).toBe(202);
    expect(p2.headers.get('range'), explain(p2)).toBe(`0-${data.length - 1}`);
    const put = await c.request('PUT', withQuery(locationOf(c, p2), { digest: sha256(data) }));
    expect(put.status, explain(put)).toBe(201);
    await expectBlob(repo, sha256(data), data);
  });

  it('two concurrent uploads of the same blob both complete (201)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-concurrent');
    const data = randomBlob(256 * 1024);
    const digest = sha256(data);
    const [l1, l2] = await Promise.all([c.startUpload(repo), c.startUpload(repo)]);
    expect(l1).not.toBe(l2);
    const results = await Promise.all(
      [l1, l2].map((l) => c.request('PUT', withQuery(l, { digest }), { headers: OCTET, body: data })),
    );
    for (const res of results) expect(res.status, explain(res)).toBe(201);
    await expectBlob(repo, digest, data);
  });

  it('an out-of-order first chunk answers 416', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-ooo');
    const location = await c.startUpload(repo, { 'Content-Length': '0' });
    const res = await c.request('PATCH', location, {
      headers: { ...OCTET, 'Content-Range': '3-5' },
      body: Buffer.from('abc'),
    });
    expect(res.status, explain(res)).toBe(416);
    expectJsonIfBody(res);
  });

  it('re-sending an accepted chunk, or skipping ahead, answers 416; the session stays usable', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-retry');
    const data = randomBlob(20);
    const location = await c.startUpload(repo, { 'Content-Length': '0' });
    const p1 = await c.request('PATCH', location, {
      headers: { ...OCTET, 'Content-Range': '0-9' },
      body: data.subarray(0, 10),
    });
    expect(p1.status, explain(p1)).toBe(202);
    const next = locationOf(c, p1);
    const retry = await c.request('PATCH', next, {
      headers: { ...OCTET, 'Content-Range': '0-9' },
      body: data.subarray(0, 10),
    });
    expect(retry.status, explain(retry)).toBe(416);
    expectJsonIfBody(retry);
    const gap = await c.request('PATCH', next, {
      headers: { ...OCTET, 'Content-Range': '15-19' },
      body: data.subarray(15),
    });
    expect(gap.status, explain(gap)).toBe(416);
    expectJsonIfBody(gap);

    const status = await c.get(next);
    expect(status.status, explain(status)).toBe(204);
    expect(status.headers.get('range'), explain(status)).toBe('0-9');
    const put = await c.request('PUT', withQuery(locationOf(c, status), { digest: sha256(data) }), {
      headers: { ...OCTET, 'Content-Range': '10-19' },
      body: data.subarray(10),
    });
    expect(put.status, explain(put)).toBe(201);
    await expectBlob(repo, sha256(data), data);
  });

  chunkedUploadCases(reg);

  it('the upload URL can be reused across requests (GET status twice, then PUT)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-reuse');
    const data = randomBlob(40);
    const location = await c.startUpload(repo);
    for (let i = 0; i < 2; i++) {
      const status = await c.get(location);
      expect(status.status, explain(status)).toBe(204);
      expect(status.headers.get('location'), explain(status)).toBeTruthy();
    }
    const put = await c.request('PUT', withQuery(location, { digest: sha256(data) }), {
      headers: OCTET,
      body: data,
    });
    expect(put.status, explain(put)).toBe(201);
    await expectBlob(repo, sha256(data), data);
  });

  it('a completed upload session is gone (404 BLOB_UPLOAD_UNKNOWN)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-closed');
    const data = randomBlob(40);
    const location = await c.startUpload(repo);
    const put = await c.request('PUT', withQuery(location, { digest: sha256(data) }), {
      headers: OCTET,
      body: data,
    });
    expect(put.status, explain(put)).toBe(201);
    expectError(await c.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('DELETE of an upload answers 204; the session then answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-cancel');
    const location = await c.startUpload(repo);
    const del = await c.request('DELETE', location);
    expect(del.status, explain(del)).toBe(204);
    expectError(await c.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    const patch = await c.request('PATCH', location, { headers: OCTET, body: randomBlob(8) });
    expectError(patch, 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('an upload session is bound to its repository (404 BLOB_UPLOAD_UNKNOWN elsewhere)', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-bound-a');
    const other = uniqueRepo('push-bound-b');
    await c.pushBlob(other, randomBlob());
    const location = new URL(await c.startUpload(repo));
    expect(location.pathname.startsWith(`/v2/${repo}/blobs/uploads/`), location.href).toBe(true);
    const foreign = location.href.replace(`/v2/${repo}/`, `/v2/${other}/`);
    expectError(await c.get(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    const patch = await c.request('PATCH', foreign, { headers: OCTET, body: randomBlob(8) });
    expectError(patch, 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('closing a chunked upload with the wrong digest answers 400 DIGEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-chunk-mismatch');
    const location = await c.startUpload(repo, { 'Content-Length': '0' });
    const data = randomBlob(30);
    const p1 = await c.request('PATCH', location, {
      headers: { ...OCTET, 'Content-Range': '0-29' },
      body: data,
    });
    expect(p1.status, explain(p1)).toBe(202);
    const claimed = sha256(randomBlob());
    const put = await c.request('PUT', withQuery(locationOf(c, p1), { digest: claimed }));
    expectError(put, 400, 'DIGEST_INVALID');
    expect((await c.get(`/v2/${repo}/blobs/${claimed}`)).status).toBe(404);
  });

  it('an unknown upload id answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const c = reg.client;
    const repo = uniqueRepo('push-unknown-upload');
    await c.pushBlob(repo, randomBlob());
    const res = await c.get(`/v2/${repo}/blobs/uploads/7b6a1d5e-0000-4000-8000-000000000000`);
    expectError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('push: cross-repository blob mount', () => {
  it('mount=<digest>&from=<repo> answers 201 with the blob Location in the target repository', async () => {
    const c = reg.client;
    const source = uniqueRepo('mount-src');
    const target = uniqueRepo('mount-dst');
    const data = randomBlob(90);
    const digest = await c.pushBlob(source, data);
    const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`);
    expect(res.status, explain(res)).toBe(201);
    expect(new URL(locationOf(c, res)).pathname, explain(res)).toBe(`/v2/${target}/blobs/${digest}`);
    const dcd = res.headers.get('docker-content-digest');
    if (dcd !== null) expect(dcd, explain(res)).toBe(digest);
    await expectBlob(target, digest, data);
  });

  it('mounting from a repository that lacks the blob starts an upload session (202)', async () => {
    const c = reg.client;
    const source = uniqueRepo('mount-empty-src');
    const target = uniqueRepo('mount-empty-dst');
    await c.pushBlob(source, randomBlob());
    const data = randomBlob(33);
    const digest = sha256(data);
    const res = await c.request('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`);
    expect(res.status, explain(res)).toBe(202);
    const location = locationOf(c, res);
    expect(new URL(location).pathname, explain(res)).toMatch(new RegExp(`^/v2/${target}/blobs/uploads/`));
    const put = await c.request('PUT', withQuery(location, { digest }), { headers: OCTET, body: data });
    expect(put.status, explain(put)).toBe(201);
    await expectBlob(target, digest, data);
  });

  anonymousMountCases(reg);
});
