// The blob upload protocol in detail (OCI dist-spec "Pushing blobs"): sessions, chunked, streamed
// and monolithic uploads, digests, mounts, byte ranges, deletes, and uploads running side by side.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import {
  clientFor,
  digestOf,
  errorCodes,
  exchangeOnSocket,
  expectOciError,
  openRequest,
  type RawResponse,
} from '../support/http.js';

const OCTET = { 'Content-Type': 'application/octet-stream' };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let berth: RunningBerth;
let api: ReturnType<typeof clientFor>;

beforeAll(async () => {
  berth = await startBerth();
  api = clientFor(berth.url);
});

afterAll(async () => {
  await berth.stop();
});

const uniqueRepo = (prefix: string) => `uploads/${prefix}-${randomBytes(4).toString('hex')}`;

function describeResponse(res: RawResponse): string {
  return `${res.status} ${JSON.stringify(res.headers)} ${res.text.slice(0, 300)}`;
}

function expectStatus(res: RawResponse, status: number): void {
  expect(res.status, describeResponse(res)).toBe(status);
}

/** POST a new session; returns the Location path. */
async function startUpload(repo: string): Promise<string> {
  const res = await api('POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(res, 202);
  return res.headers.location ?? '';
}

async function patchChunk(location: string, start: number, chunk: Buffer): Promise<RawResponse> {
  return api('PATCH', location, {
    headers: { ...OCTET, 'Content-Range': `${start}-${start + chunk.length - 1}` },
    body: chunk,
  });
}

async function complete(location: string, digest: string, body?: Buffer): Promise<RawResponse> {
  return api('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, {
    headers: OCTET,
    body,
  });
}

async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  expectStatus(
    await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: OCTET, body: data }),
    201,
  );
  return digest;
}

async function expectBlob(repo: string, digest: string, data: Buffer): Promise<void> {
  const res = await api('GET', `/v2/${repo}/blobs/${digest}`);
  expectStatus(res, 200);
  expect(res.headers['docker-content-digest']).toBe(digest);
  expect(res.headers['content-length']).toBe(String(data.length));
  expect(res.body.equals(data), `${repo}@${digest} bytes`).toBe(true);
}

function expectBlobCreated(res: RawResponse, repo: string, digest: string): void {
  expectStatus(res, 201);
  expect(res.headers.location).toBe(`/v2/${repo}/blobs/${digest}`);
  expect(res.headers['docker-content-digest']).toBe(digest);
}

describe('upload sessions', () => {
  it('answers POST with 202, a Location, Docker-Upload-UUID and Range 0-0', async () => {
    const repo = uniqueRepo('start');
    const res = await api('POST', `/v2/${repo}/blobs/uploads/`);
    expectStatus(res, 202);
    const id = res.headers['docker-upload-uuid'] ?? '';
    expect(id).toMatch(UUID);
    expect(res.headers.location).toBe(`/v2/${repo}/blobs/uploads/${id}`);
    expect(res.headers.range).toBe('0-0');
    expect(res.headers['content-length']).toBe('0');
    expect(res.body.length).toBe(0);

    const status = await api('GET', res.headers.location ?? '');
    expectStatus(status, 204);
    expect(status.headers['docker-upload-uuid']).toBe(id);
    expect(status.headers.range).toBe('0-0');
  });

  it('gives every session its own id', async () => {
    const repo = uniqueRepo('ids');
    const locations = await Promise.all(Array.from({ length: 10 }, () => startUpload(repo)));
    expect(new Set(locations).size).toBe(10);
  });

  it('assembles Content-Range chunks in order and reports the Range after each', async () => {
    const repo = uniqueRepo('chunked');
    const data = randomBytes(3501);
    const location = await startUpload(repo);
    let offset = 0;
    for (const size of [1000, 1, 2500]) {
      const res = await patchChunk(location, offset, data.subarray(offset, offset + size));
      offset += size;
      expectStatus(res, 202);
      expect(res.headers.location).toBe(location);
      expect(res.headers.range).toBe(`0-${offset - 1}`);
      const status = await api('GET', location);
      expectStatus(status, 204);
      expect(status.headers.range).toBe(`0-${offset - 1}`);
    }
    const digest = digestOf(data);
    expectBlobCreated(await complete(location, digest), repo, digest);
    await expectBlob(repo, digest, data);
    expectOciError(await api('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    // Verified bytes move to the blob's key: nothing stays behind in the uploads area.
    expect(existsSync(join(berth.dataDir, 'storage', 'uploads', location.split('/').at(-1) ?? ''))).toBe(
      false,
    );
  });

  it('accepts the RFC forms of Content-Range that some clients send', async () => {
    const repo = uniqueRepo('rfc-range');
    const data = randomBytes(20);
    const location = await startUpload(repo);
    const first = await api('PATCH', location, {
      headers: { ...OCTET, 'Content-Range': 'bytes 0-9/*' },
      body: data.subarray(0, 10),
    });
    expect(first.headers.range).toBe('0-9');
    const second = await api('PATCH', location, {
      headers: { ...OCTET, 'Content-Range': 'bytes 10-19/20' },
      body: data.subarray(10),
    });
    expect(second.headers.range).toBe('0-19');
    expectStatus(await complete(location, digestOf(data)), 201);
  });

  it('appends streamed PATCH bodies without Content-Range, as docker sends them', async () => {
    const repo = uniqueRepo('streamed');
    const data = randomBytes(300 * 1024);
    const location = await startUpload(repo);

    // Chunked transfer encoding, written in pieces: the server cannot know the length up front.
    const { req, response } = openRequest(berth.url, 'PATCH', location, OCTET);
    for (let at = 0; at < 200 * 1024; at += 64 * 1024)
      req.write(data.subarray(at, Math.min(at + 64 * 1024, 200 * 1024)));
    req.end();
    const first = await response;
    expectStatus(first, 202);
    expect(first.headers.range).toBe(`0-${200 * 1024 - 1}`);

    const second = await api('PATCH', location, { headers: OCTET, body: data.subarray(200 * 1024) });
    expectStatus(second, 202);
    expect(second.headers.range).toBe(`0-${data.length - 1}`);

    const digest = digestOf(data);
    expectBlobCreated(await complete(location, digest), repo, digest);
    await expectBlob(repo, digest, data);
  });

  it('appends the body of the completing PUT as the last chunk', async () => {
    const repo = uniqueRepo('final-chunk');
    const data = randomBytes(5000);
    const location = await startUpload(repo);
    expectStatus(await patchChunk(location, 0, data.subarray(0, 4000)), 202);
    const digest = digestOf(data);
    expectBlobCreated(await complete(location, digest, data.subarray(4000)), repo, digest);
    await expectBlob(repo, digest, data);
  });

  it('takes a whole blob in the completing PUT of a fresh session', async () => {
    const repo = uniqueRepo('post-put');
    const data = randomBytes(7000);
    const digest = digestOf(data);
    expectBlobCreated(await complete(await startUpload(repo), digest, data), repo, digest);
    await expectBlob(repo, digest, data);
  });

  it('takes a whole blob in one POST ?digest=', async () => {
    const repo = uniqueRepo('single-post');
    const data = randomBytes(7000);
    const digest = digestOf(data);
    const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      headers: OCTET,
      body: data,
    });
    expectBlobCreated(res, repo, digest);
    await expectBlob(repo, digest, data);
  });

  it('drops a cancelled session and its bytes', async () => {
    const repo = uniqueRepo('cancel');
    const location = await startUpload(repo);
    const data = randomBytes(100);
    expectStatus(await patchChunk(location, 0, data), 202);
    expectStatus(await api('DELETE', location), 204);
    expectOciError(await api('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectOciError(await complete(location, digestOf(data)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectOciError(await api('GET', `/v2/${repo}/blobs/${digestOf(data)}`), 404, 'BLOB_UNKNOWN');
  });
});

describe('empty blobs and other digest algorithms', () => {
  it('stores the empty blob through POST then a bodiless PUT', async () => {
    const repo = uniqueRepo('empty-put');
    expect(digestOf(Buffer.alloc(0))).toBe(EMPTY_SHA256);
    expectBlobCreated(await complete(await startUpload(repo), EMPTY_SHA256), repo, EMPTY_SHA256);
    await expectBlob(repo, EMPTY_SHA256, Buffer.alloc(0));
    const head = await api('HEAD', `/v2/${repo}/blobs/${EMPTY_SHA256}`);
    expectStatus(head, 200);
    expect(head.headers['content-length']).toBe('0');
  });

  it('stores the empty blob through a bodiless POST ?digest=', async () => {
    const repo = uniqueRepo('empty-post');
    const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${EMPTY_SHA256}`);
    expectBlobCreated(res, repo, EMPTY_SHA256);
    await expectBlob(repo, EMPTY_SHA256, Buffer.alloc(0));
  });

  it('verifies and serves a blob pushed under a sha512 digest, in chunks', async () => {
    const repo = uniqueRepo('sha512-chunked');
    const data = randomBytes(9000);
    const digest = digestOf(data, 'sha512');
    const location = await startUpload(repo);
    expectStatus(await patchChunk(location, 0, data.subarray(0, 4000)), 202);
    expectStatus(await patchChunk(location, 4000, data.subarray(4000)), 202);
    expectBlobCreated(await complete(location, digest), repo, digest);
    await expectBlob(repo, digest, data);
    // Stored under its sha512 name only: the sha256 of the same bytes was never pushed.
    expectOciError(await api('GET', `/v2/${repo}/blobs/${digestOf(data)}`), 404, 'BLOB_UNKNOWN');
  });

  it('verifies and serves a blob pushed under a sha512 digest in one POST', async () => {
    const repo = uniqueRepo('sha512-post');
    const data = randomBytes(1234);
    const digest = digestOf(data, 'sha512');
    const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      headers: OCTET,
      body: data,
    });
    expectBlobCreated(res, repo, digest);
    await expectBlob(repo, digest, data);
  });

  it('refuses a sha512 digest that does not match the bytes', async () => {
    const repo = uniqueRepo('sha512-wrong');
    const data = randomBytes(64);
    const claimed = digestOf(randomBytes(64), 'sha512');
    const error = expectOciError(
      await complete(await startUpload(repo), claimed, data),
      400,
      'DIGEST_INVALID',
    );
    expect(error.detail).toMatchObject({ computed: digestOf(data, 'sha512') });
  });

  it('stores the empty blob under its sha512 digest', async () => {
    const repo = uniqueRepo('sha512-empty');
    const digest = digestOf(Buffer.alloc(0), 'sha512');
    expectBlobCreated(await complete(await startUpload(repo), digest), repo, digest);
    await expectBlob(repo, digest, Buffer.alloc(0));
  });

  it('accepts a blob pushed again, to the same and to another repository', async () => {
    const repo = uniqueRepo('again');
    const other = uniqueRepo('again-other');
    const data = randomBytes(2048);
    const digest = await pushBlob(repo, data);
    expect(await pushBlob(repo, data)).toBe(digest);
    expectBlobCreated(await complete(await startUpload(repo), digest, data), repo, digest);
    expect(await pushBlob(other, data)).toBe(digest);
    await expectBlob(repo, digest, data);
    await expectBlob(other, digest, data);
  });
});

describe('cross-repository mounts', () => {
  it('answers 201 and links the blob when the source repository has it', async () => {
    const source = uniqueRepo('mount-src');
    const target = uniqueRepo('mount-dst');
    const data = randomBytes(512);
    const digest = await pushBlob(source, data);
    const res = await api('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`);
    expectBlobCreated(res, target, digest);
    await expectBlob(target, digest, data);
  });

  it('answers 202 with a new session when the source repository lacks the blob', async () => {
    const holder = uniqueRepo('mount-holder');
    const empty = uniqueRepo('mount-empty');
    const target = uniqueRepo('mount-dst');
    const data = randomBytes(512);
    const digest = await pushBlob(holder, data);
    const res = await api('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${empty}`);
    expectStatus(res, 202);
    const id = res.headers['docker-upload-uuid'] ?? '';
    expect(id).toMatch(UUID);
    expect(res.headers.location).toBe(`/v2/${target}/blobs/uploads/${id}`);
    expect(res.headers.range).toBe('0-0');
    expectOciError(await api('GET', `/v2/${target}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');

    // The session it opened takes the blob the normal way.
    expectBlobCreated(await complete(res.headers.location ?? '', digest, data), target, digest);
    await expectBlob(target, digest, data);
  });

  it('answers 202 with a new session when no repository has the blob', async () => {
    const target = uniqueRepo('mount-nowhere');
    const digest = digestOf(randomBytes(32));
    const res = await api('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${uniqueRepo('x')}`);
    expectStatus(res, 202);
    expect(res.headers['docker-upload-uuid']).toMatch(UUID);
  });

  it('answers 201 to a mount without from for a blob stored in any repository', async () => {
    const source = uniqueRepo('mount-any-src');
    const target = uniqueRepo('mount-any-dst');
    const data = randomBytes(256);
    const digest = await pushBlob(source, data);
    expectBlobCreated(await api('POST', `/v2/${target}/blobs/uploads/?mount=${digest}`), target, digest);
    await expectBlob(target, digest, data);
  });
});

describe('reading blobs', () => {
  const data = Buffer.from('0123456789abcdefghij');
  let repo: string;
  let digest: string;

  beforeAll(async () => {
    repo = uniqueRepo('ranges');
    digest = await pushBlob(repo, data);
  });

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=5-', 5, 19],
    ['bytes=-3', 17, 19],
    ['bytes=15-100', 15, 19],
    ['bytes=19-19', 19, 19],
  ])('answers Range %s with 206 and exactly those bytes', async (range, start, end) => {
    const res = await api('GET', `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
    expectStatus(res, 206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${data.length}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.text).toBe(data.subarray(start, end + 1).toString());
  });

  it.each(['bytes=20-', 'bytes=100-200', 'bytes=-0'])(
    'answers Range %s beyond the blob with 416 and Content-Range bytes */size',
    async (range) => {
      const res = await api('GET', `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
      expect(res.status, describeResponse(res)).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${data.length}`);
      // The spec names no error code for this; RFC 9110 asks for the Content-Range above.
      if (res.body.length > 0) expect(errorCodes(res)).toHaveLength(1);
    },
  );

  // RFC 9110 14.2: another unit must be ignored, a malformed specifier may be.
  it.each(['bytes=0-1,5-6', 'items=0-1', 'bytes=', 'bytes=-', 'l', 'bytes=a-b'])(
    'answers Range %s with the whole blob',
    async (range) => {
      const res = await api('GET', `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
      expectStatus(res, 200);
      expect(res.headers['content-range']).toBeUndefined();
      expect(res.text).toBe(data.toString());
    },
  );

  it('answers a GET without Range with the whole blob and Accept-Ranges', async () => {
    const res = await api('GET', `/v2/${repo}/blobs/${digest}`);
    expectStatus(res, 200);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.text).toBe(data.toString());
  });

  it('answers HEAD with the Content-Length and digest, and sends no body', async () => {
    const { head, rest } = await exchangeOnSocket(berth.url, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(new RegExp(`\\r\\ncontent-length: ${data.length}\\r\\n`, 'i'));
    expect(head).toMatch(new RegExp(`\\r\\ndocker-content-digest: ${digest}\\r\\n`, 'i'));
    expect(rest.length).toBe(0);
  });

  it('answers HEAD of an unknown blob with 404 and no body', async () => {
    const { head, rest } = await exchangeOnSocket(berth.url, 'HEAD', `/v2/${repo}/blobs/${digestOf('nope')}`);
    expect(head).toMatch(/^HTTP\/1\.1 404 /);
    expect(rest.length).toBe(0);
  });

  it('answers 404 BLOB_UNKNOWN once the blob is deleted from the repository', async () => {
    const own = uniqueRepo('delete');
    const other = uniqueRepo('delete-other');
    const blob = randomBytes(100);
    const blobDigest = await pushBlob(own, blob);
    await pushBlob(other, blob);
    const res = await api('DELETE', `/v2/${own}/blobs/${blobDigest}`);
    expectStatus(res, 202);
    expectOciError(await api('GET', `/v2/${own}/blobs/${blobDigest}`), 404, 'BLOB_UNKNOWN');
    expectStatus(await api('HEAD', `/v2/${own}/blobs/${blobDigest}`), 404);
    expectOciError(await api('DELETE', `/v2/${own}/blobs/${blobDigest}`), 404, 'BLOB_UNKNOWN');
    // Another repository's link to the same content is untouched.
    await expectBlob(other, blobDigest, blob);
  });
});

describe('with deletes disabled', () => {
  let locked: RunningBerth;
  let lockedApi: ReturnType<typeof clientFor>;

  beforeAll(async () => {
    locked = await startBerth({ storage: { delete: { enabled: false } } });
    lockedApi = clientFor(locked.url);
  });

  afterAll(async () => {
    await locked.stop();
  });

  it('answers 405 UNSUPPORTED to manifest, tag and blob DELETE and keeps them all', async () => {
    const repo = uniqueRepo('no-delete');
    const config = Buffer.from('{}');
    const configDigest = digestOf(config);
    expectStatus(
      await lockedApi('POST', `/v2/${repo}/blobs/uploads/?digest=${configDigest}`, {
        headers: OCTET,
        body: config,
      }),
      201,
    );
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: 2 },
      layers: [],
    });
    const put = await lockedApi('PUT', `/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body: manifest,
    });
    expectStatus(put, 201);
    const manifestDigest = digestOf(manifest);

    expectOciError(await lockedApi('DELETE', `/v2/${repo}/manifests/${manifestDigest}`), 405, 'UNSUPPORTED');
    expectOciError(await lockedApi('DELETE', `/v2/${repo}/manifests/v1`), 405, 'UNSUPPORTED');
    expectOciError(await lockedApi('DELETE', `/v2/${repo}/blobs/${configDigest}`), 405, 'UNSUPPORTED');

    expect((await lockedApi('GET', `/v2/${repo}/manifests/v1`)).text).toBe(manifest);
    expect((await lockedApi('GET', `/v2/${repo}/manifests/${manifestDigest}`)).status).toBe(200);
    expect((await lockedApi('GET', `/v2/${repo}/blobs/${configDigest}`)).text).toBe('{}');
  });

  it('still lets clients cancel their own upload sessions', async () => {
    const repo = uniqueRepo('no-delete-cancel');
    const res = await lockedApi('POST', `/v2/${repo}/blobs/uploads/`);
    expectStatus(await lockedApi('DELETE', res.headers.location ?? ''), 204);
  });
});

describe('uploads side by side', () => {
  it('stores the same content uploaded to two repositories at the same time', async () => {
    for (let round = 0; round < 5; round++) {
      const data = randomBytes(2 * 1024 * 1024);
      const digest = digestOf(data);
      const repos = [uniqueRepo('twin-a'), uniqueRepo('twin-b')];
      const locations = await Promise.all(repos.map((repo) => startUpload(repo)));
      const half = data.length / 2;
      await Promise.all(
        locations.map(async (location) =>
          expectStatus(await patchChunk(location, 0, data.subarray(0, half)), 202),
        ),
      );
      const done = await Promise.all(
        locations.map((location) => complete(location, digest, data.subarray(half))),
      );
      done.forEach((res, i) => expectBlobCreated(res, repos[i] ?? '', digest));
      for (const repo of repos) await expectBlob(repo, digest, data);
    }
  });

  it('stores the same content pushed monolithically to many repositories at once', async () => {
    const data = randomBytes(1024 * 1024);
    const digest = digestOf(data);
    const repos = Array.from({ length: 8 }, (_, i) => uniqueRepo(`herd-${i}`));
    const results = await Promise.all(
      repos.map((repo) =>
        api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: OCTET, body: data }),
      ),
    );
    results.forEach((res, i) => expectBlobCreated(res, repos[i] ?? '', digest));
    for (const repo of repos) await expectBlob(repo, digest, data);
  });

  it('serves every one of 50 blobs uploaded in parallel with its own bytes', async () => {
    const repo = uniqueRepo('fifty');
    const blobs = Array.from({ length: 50 }, (_, i) => randomBytes(1 + ((i * 7919) % (256 * 1024))));
    // Three upload styles, interleaved: monolithic POST, POST+PUT, and two Content-Range chunks.
    const push = async (data: Buffer, i: number) => {
      const digest = digestOf(data);
      if (i % 3 === 0) {
        return api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: OCTET, body: data });
      }
      const location = await startUpload(repo);
      if (i % 3 === 1) return complete(location, digest, data);
      const half = Math.floor(data.length / 2);
      if (half > 0) expectStatus(await patchChunk(location, 0, data.subarray(0, half)), 202);
      expectStatus(await patchChunk(location, half, data.subarray(half)), 202);
      return complete(location, digest);
    };
    const results = await Promise.all(blobs.map(push));
    results.forEach((res, i) => expectBlobCreated(res, repo, digestOf(blobs[i] ?? Buffer.alloc(0))));
    const reads = await Promise.all(blobs.map((data) => api('GET', `/v2/${repo}/blobs/${digestOf(data)}`)));
    reads.forEach((res, i) => {
      expectStatus(res, 200);
      expect(res.body.equals(blobs[i] ?? Buffer.alloc(0)), `blob ${i}`).toBe(true);
    });
  });
});
