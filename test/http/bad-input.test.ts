// Hostile and broken requests: each gets the spec's error (or a clean abort), nothing is written
// outside the data directory, no partial blob becomes visible, and the server keeps serving.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import {
  clientFor,
  digestOf,
  errorCodes,
  expectOciError,
  openRequest,
  RANGE_ERROR_CODES,
  waitFor,
  type RawResponse,
} from '../support/http.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCTET = { 'Content-Type': 'application/octet-stream' };
/** Every path-traversal attempt below aims at a file or directory with this name. */
const ESCAPE = `escape-${randomBytes(4).toString('hex')}`;

let berth: RunningBerth;
let api: ReturnType<typeof clientFor>;

beforeAll(async () => {
  berth = await startBerth();
  api = clientFor(berth.url);
});

afterAll(async () => {
  await berth.stop();
});

afterEach(async () => {
  const res = await api('GET', '/v2/');
  expect(res.status, 'the server must keep serving after a bad request').toBe(200);
});

const storageRoot = () => join(berth.dataDir, 'storage');
const uploadDir = (id: string) => join(storageRoot(), 'uploads', id);
const uploadFile = (id: string) => join(uploadDir(id), 'data');

function blobFile(digest: string): string {
  const [algorithm = '', hex = ''] = digest.split(':');
  return join(storageRoot(), 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
}

async function uploadIds(): Promise<string[]> {
  return readdir(join(storageRoot(), 'uploads')).catch(() => []);
}

async function sizeOf(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

const uniqueRepo = (prefix: string) => `bad-input/${prefix}-${randomBytes(4).toString('hex')}`;

function describeResponse(res: RawResponse): string {
  return `${res.status} ${JSON.stringify(res.headers)} ${res.text.slice(0, 300)}`;
}

async function startUpload(repo: string): Promise<string> {
  const res = await api('POST', `/v2/${repo}/blobs/uploads/`);
  expect(res.status, describeResponse(res)).toBe(202);
  const id = res.headers['docker-upload-uuid'];
  expect(typeof id).toBe('string');
  return id as string;
}

async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    headers: OCTET,
    body: data,
  });
  expect(res.status, describeResponse(res)).toBe(201);
  return digest;
}

async function uploadStatus(repo: string, id: string): Promise<RawResponse> {
  return api('GET', `/v2/${repo}/blobs/uploads/${id}`);
}

async function expectNoBlob(repo: string, digest: string): Promise<void> {
  const head = await api('HEAD', `/v2/${repo}/blobs/${digest}`);
  expect(head.status, `HEAD ${digest}`).toBe(404);
  expect(existsSync(blobFile(digest)), `stored bytes of ${digest}`).toBe(false);
}

function manifestFor(
  config: { digest: string; size: number },
  layers: Array<{ digest: string; size: number }>,
) {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  });
}

async function pushConfig(repo: string): Promise<{ digest: string; size: number }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomUUID() }));
  return { digest: await pushBlob(repo, config), size: config.length };
}

describe('bad manifests', () => {
  it('answers 400 MANIFEST_INVALID and stores nothing when the manifest is not JSON', async () => {
    const repo = uniqueRepo('not-json');
    const body = '{"schemaVersion": 2, "config": ';
    const res = await api('PUT', `/v2/${repo}/manifests/latest`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    expectOciError(res, 400, 'MANIFEST_INVALID');
    expectOciError(await api('GET', `/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
    expect(existsSync(blobFile(digestOf(body)))).toBe(false);
  });

  it('answers 400 MANIFEST_BLOB_UNKNOWN naming the missing blob when a layer was never pushed', async () => {
    const repo = uniqueRepo('missing-blob');
    const config = await pushConfig(repo);
    const missing = digestOf(randomBytes(32));
    const body = manifestFor(config, [{ digest: missing, size: 32 }]);
    const res = await api('PUT', `/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    const error = expectOciError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(error.detail).toEqual({ digest: missing });
    expectOciError(await api('GET', `/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    expect(existsSync(blobFile(digestOf(body)))).toBe(false);
  });

  it('answers 400 MANIFEST_BLOB_UNKNOWN when the blob exists only in another repository', async () => {
    const owner = uniqueRepo('owner');
    const repo = uniqueRepo('borrower');
    const layer = randomBytes(40);
    const layerDigest = await pushBlob(owner, layer);
    const body = manifestFor(await pushConfig(repo), [{ digest: layerDigest, size: layer.length }]);
    const res = await api('PUT', `/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    expect(expectOciError(res, 400, 'MANIFEST_BLOB_UNKNOWN').detail).toEqual({ digest: layerDigest });
  });

  it('answers 413 with an OCI error body when a manifest over 4 MiB declares its Content-Length', async () => {
    const repo = uniqueRepo('huge-sized');
    const body = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await api('PUT', `/v2/${repo}/manifests/latest`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    expectOciError(res, 413, 'SIZE_INVALID');
    expectOciError(await api('GET', `/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
  });

  it('answers 413 with an OCI error body when a manifest over 4 MiB comes chunked', async () => {
    const repo = uniqueRepo('huge-chunked');
    const body = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await api('PUT', `/v2/${repo}/manifests/latest`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
      chunked: true,
    });
    expectOciError(res, 413, 'SIZE_INVALID');
    expectOciError(await api('GET', `/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
  });

  it.each([
    ['starts with a dash', '-bad'],
    ['is 129 characters long', `t${'a'.repeat(128)}`],
    ['contains a character outside [A-Za-z0-9._-]', 'bad+tag'],
  ])('answers 400 with an OCI error when the tag %s', async (_why, tag) => {
    const repo = uniqueRepo('bad-tag');
    const body = manifestFor(await pushConfig(repo), []);
    const res = await api('PUT', `/v2/${repo}/manifests/${encodeURIComponent(tag)}`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    // TAG_INVALID is the legacy Docker code some clients know; the spec's table has MANIFEST_INVALID.
    expect(expectOciError(res, 400, ['MANIFEST_INVALID', 'TAG_INVALID']).detail).toMatchObject({ tag });
    // No tag was created: the repository lists none, or is unknown until it holds a manifest.
    const tags = await api('GET', `/v2/${repo}/tags/list`);
    if (tags.status === 200) expect(JSON.parse(tags.text)).toEqual({ name: repo, tags: [] });
    else expectOciError(tags, 404, 'NAME_UNKNOWN');
  });

  it('accepts a tag of exactly 128 characters', async () => {
    const repo = uniqueRepo('long-tag');
    const tag = `t${'a'.repeat(127)}`;
    const body = manifestFor(await pushConfig(repo), []);
    const res = await api('PUT', `/v2/${repo}/manifests/${tag}`, {
      headers: { 'Content-Type': OCI_MANIFEST },
      body,
    });
    expect(res.status, describeResponse(res)).toBe(201);
  });
});

describe('digests that do not match or do not parse', () => {
  it('answers 400 DIGEST_INVALID to a monolithic POST with the wrong digest and keeps nothing', async () => {
    const repo = uniqueRepo('mono-mismatch');
    const data = randomBytes(300);
    const claimed = digestOf(randomBytes(300));
    const before = await uploadIds();
    const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${claimed}`, {
      headers: OCTET,
      body: data,
    });
    const error = expectOciError(res, 400, 'DIGEST_INVALID');
    expect(error.detail).toMatchObject({ expected: claimed, computed: digestOf(data) });
    await expectNoBlob(repo, claimed);
    await expectNoBlob(repo, digestOf(data));
    expect((await uploadIds()).filter((id) => !before.includes(id))).toEqual([]);
  });

  it('answers 400 DIGEST_INVALID to a completing PUT with the wrong digest and drops the session', async () => {
    const repo = uniqueRepo('put-mismatch');
    const data = randomBytes(300);
    const claimed = digestOf(randomBytes(300));
    const id = await startUpload(repo);
    const patch = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, { headers: OCTET, body: data });
    expect(patch.status, describeResponse(patch)).toBe(202);
    expect(await sizeOf(uploadFile(id))).toBe(data.length);

    const res = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${claimed}`);
    expect(expectOciError(res, 400, 'DIGEST_INVALID').detail).toMatchObject({
      expected: claimed,
      computed: digestOf(data),
    });
    await expectNoBlob(repo, claimed);
    await expectNoBlob(repo, digestOf(data));
    expect(existsSync(uploadDir(id))).toBe(false);
    expectOciError(await uploadStatus(repo, id), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('answers 400 DIGEST_INVALID to a completing PUT whose last chunk makes the digest wrong', async () => {
    const repo = uniqueRepo('put-chunk-mismatch');
    const id = await startUpload(repo);
    const claimed = digestOf('what the client meant');
    const res = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${claimed}`, {
      headers: OCTET,
      body: 'what the client sent',
    });
    expectOciError(res, 400, 'DIGEST_INVALID');
    expect(existsSync(uploadDir(id))).toBe(false);
    await expectNoBlob(repo, digestOf('what the client sent'));
  });

  const malformed = [
    ['a non-hex sha256', 'sha256:xyz'],
    ['an unsupported algorithm', `md5:${'d'.repeat(32)}`],
    ['upper-case hex', `sha256:${'AB'.repeat(32)}`],
    ['a short sha256', `sha256:${'a'.repeat(63)}`],
    ['a sha512 of sha256 length', `sha512:${'a'.repeat(64)}`],
    ['no algorithm', 'a'.repeat(64)],
  ] as const;

  it.each(malformed)('answers 400 DIGEST_INVALID to a blob GET with %s', async (_why, digest) => {
    expectOciError(await api('GET', `/v2/${uniqueRepo('get')}/blobs/${digest}`), 400, 'DIGEST_INVALID');
  });

  it.each(malformed)('answers 400 DIGEST_INVALID to a monolithic POST with %s', async (_why, digest) => {
    const before = await uploadIds();
    const res = await api('POST', `/v2/${uniqueRepo('post')}/blobs/uploads/?digest=${digest}`, {
      headers: OCTET,
      body: 'some bytes',
    });
    expectOciError(res, 400, 'DIGEST_INVALID');
    expect((await uploadIds()).filter((id) => !before.includes(id))).toEqual([]);
  });

  it.each(malformed)('answers 400 DIGEST_INVALID to a completing PUT with %s', async (_why, digest) => {
    const repo = uniqueRepo('put');
    const id = await startUpload(repo);
    const res = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${digest}`, {
      headers: OCTET,
      body: 'some bytes',
    });
    expectOciError(res, 400, 'DIGEST_INVALID');
    const status = await uploadStatus(repo, id);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-0');
  });

  it.each(malformed)('answers 400 DIGEST_INVALID to a mount of %s', async (_why, digest) => {
    const res = await api('POST', `/v2/${uniqueRepo('mount')}/blobs/uploads/?mount=${digest}&from=library/x`);
    expectOciError(res, 400, 'DIGEST_INVALID');
  });

  it('answers 400 DIGEST_INVALID to a completing PUT without a digest, keeping the session', async () => {
    const repo = uniqueRepo('no-digest');
    const id = await startUpload(repo);
    expectOciError(await api('PUT', `/v2/${repo}/blobs/uploads/${id}`), 400, 'DIGEST_INVALID');
    expect((await uploadStatus(repo, id)).status).toBe(204);
  });
});

describe('invalid repository names', () => {
  const longName = (length: number) => `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(length - 202)}`;

  it.each([
    ['upper case', 'Library/Busybox'],
    ['a trailing dash', `${ESCAPE}-`],
    ['a leading dash', `-${ESCAPE}`],
    ['an empty component', `a//${ESCAPE}`],
    ['256 characters', longName(256)],
    ['a component of dots', `a/../${ESCAPE}`],
    ['a percent-encoded dot-dot component', `%2e%2e/${ESCAPE}`],
    ['a percent-encoded slash', `a%2F..%2F${ESCAPE}`],
    ['a leading dot-dot', `../${ESCAPE}`],
    ['a malformed percent-encoding', `a/%E0%A4%A/${ESCAPE}`],
    ['a percent-encoded NUL byte', `a%00/${ESCAPE}`],
  ])('refuses a name with %s on every kind of endpoint', async (_why, name) => {
    // Paths are sent raw: fetch would normalise the dot segments away.
    for (const [method, path, body] of [
      ['POST', `/v2/${name}/blobs/uploads/`, undefined],
      ['POST', `/v2/${name}/blobs/uploads/?digest=${digestOf('x')}`, 'x'],
      ['PUT', `/v2/${name}/manifests/latest`, manifestFor({ digest: digestOf('{}'), size: 2 }, [])],
      ['GET', `/v2/${name}/tags/list`, undefined],
      ['GET', `/v2/${name}/blobs/${digestOf('x')}`, undefined],
    ] as const) {
      const res = await api(method, path, { headers: { 'Content-Type': OCI_MANIFEST }, body });
      const context = `${method} ${path} -> ${describeResponse(res)}`;
      // A path that matches no route may answer 404; every answer is an OCI error body.
      expect([400, 404], context).toContain(res.status);
      if (res.status === 400) expect(errorCodes(res), context).toEqual(['NAME_INVALID']);
      else expect(errorCodes(res).length, context).toBe(1);
    }
    const catalog = JSON.parse((await api('GET', '/v2/_catalog')).text) as { repositories: string[] };
    expect(catalog.repositories.filter((r) => !r.startsWith('bad-input/'))).toEqual([]);
  });

  it('accepts a name of exactly 255 characters', async () => {
    const name = longName(255);
    expect(name).toHaveLength(255);
    const res = await api('POST', `/v2/${name}/blobs/uploads/`);
    expect(res.status, describeResponse(res)).toBe(202);
    await api('DELETE', new URL(res.headers.location ?? '', berth.url).pathname);
  });
});

describe('chunks out of place', () => {
  async function patchChunk(repo: string, id: string, start: number, data: Buffer) {
    return api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      headers: { ...OCTET, 'Content-Range': `${start}-${start + data.length - 1}` },
      body: data,
    });
  }

  it('answers 416 to a chunk that starts after the current offset and leaves the upload as it was', async () => {
    const repo = uniqueRepo('gap');
    const id = await startUpload(repo);
    const data = randomBytes(30);
    expect((await patchChunk(repo, id, 0, data.subarray(0, 10))).status).toBe(202);

    const res = await patchChunk(repo, id, 20, data.subarray(20, 30));
    expectOciError(res, 416, RANGE_ERROR_CODES);
    const status = await uploadStatus(repo, id);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-9');
    expect(await sizeOf(uploadFile(id))).toBe(10);

    expect((await patchChunk(repo, id, 10, data.subarray(10))).headers.range).toBe('0-29');
    const put = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf(data)}`);
    expect(put.status, describeResponse(put)).toBe(201);
  });

  it('answers 416 to a chunk that overlaps bytes already received', async () => {
    const repo = uniqueRepo('overlap');
    const id = await startUpload(repo);
    const data = randomBytes(20);
    expect((await patchChunk(repo, id, 0, data.subarray(0, 10))).status).toBe(202);

    expectOciError(await patchChunk(repo, id, 5, data.subarray(5, 15)), 416, RANGE_ERROR_CODES);
    expectOciError(await patchChunk(repo, id, 0, data.subarray(0, 10)), 416, RANGE_ERROR_CODES);
    const status = await uploadStatus(repo, id);
    expect(status.headers.range).toBe('0-9');
    expect(await sizeOf(uploadFile(id))).toBe(10);
  });

  it('answers 416 to a Content-Range that ends before it starts', async () => {
    const repo = uniqueRepo('backwards');
    const id = await startUpload(repo);
    const res = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      headers: { ...OCTET, 'Content-Range': '9-0' },
      body: randomBytes(10),
    });
    expectOciError(res, 416, RANGE_ERROR_CODES);
    expect((await uploadStatus(repo, id)).headers.range).toBe('0-0');
  });

  it('answers 400 BLOB_UPLOAD_INVALID to a Content-Range that is not a range', async () => {
    const repo = uniqueRepo('garbled-range');
    const id = await startUpload(repo);
    const res = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      headers: { ...OCTET, 'Content-Range': 'bytes=zero-ten' },
      body: randomBytes(10),
    });
    expectOciError(res, 400, 'BLOB_UPLOAD_INVALID');
    expect(existsSync(uploadFile(id))).toBe(false);
  });

  /** Bytes the upload holds, read from the data directory; the status Range must agree with it. */
  async function storedBytes(repo: string, id: string): Promise<number> {
    const stored = (await sizeOf(uploadFile(id))) ?? 0;
    const status = await uploadStatus(repo, id);
    expect(status.status, describeResponse(status)).toBe(204);
    expect(status.headers.range).toBe(`0-${Math.max(0, stored - 1)}`);
    return stored;
  }

  it('fails a chunk whose body is longer than its Content-Range and keeps the upload consistent', async () => {
    const repo = uniqueRepo('long-body');
    const id = await startUpload(repo);
    const first = randomBytes(16);
    expect((await patchChunk(repo, id, 0, first)).status).toBe(202);

    const body = randomBytes(64 * 1024);
    const res = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      headers: { ...OCTET, 'Content-Range': `16-${16 + 1024 - 1}` },
      body,
    }).catch((err: Error) => err);
    // The server may answer 400 or cut the connection while the client is still sending.
    if (!(res instanceof Error)) expectOciError(res, 400, 'SIZE_INVALID');

    const stored = await storedBytes(repo, id);
    expect(stored).toBeGreaterThanOrEqual(16);
    expect(stored).toBeLessThanOrEqual(16 + 1024);
    const expected = Buffer.concat([first, body]).subarray(0, stored);
    const put = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf(expected)}`);
    expect(put.status, describeResponse(put)).toBe(201);
    const blob = await api('GET', `/v2/${repo}/blobs/${digestOf(expected)}`);
    expect(blob.body.equals(expected)).toBe(true);
  });

  it('fails a chunk whose body is shorter than its Content-Range and keeps the upload consistent', async () => {
    const repo = uniqueRepo('short-body');
    const id = await startUpload(repo);
    const body = randomBytes(10);
    const res = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      headers: { ...OCTET, 'Content-Range': '0-99' },
      body,
    });
    expectOciError(res, 400, 'SIZE_INVALID');

    const stored = await storedBytes(repo, id);
    const expected = body.subarray(0, stored);
    const rest = randomBytes(5);
    expect((await patchChunk(repo, id, stored, rest)).status).toBe(202);
    const whole = Buffer.concat([expected, rest]);
    const put = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf(whole)}`);
    expect(put.status, describeResponse(put)).toBe(201);
    expect((await api('GET', `/v2/${repo}/blobs/${digestOf(whole)}`)).body.equals(whole)).toBe(true);
  });
});

describe('unknown and foreign upload sessions', () => {
  const methods = ['GET', 'PATCH', 'PUT', 'DELETE'] as const;

  function sessionRequest(method: (typeof methods)[number], repo: string, id: string) {
    const query = method === 'PUT' ? `?digest=${digestOf('abc')}` : '';
    return api(method, `/v2/${repo}/blobs/uploads/${id}${query}`, {
      headers: OCTET,
      body: method === 'GET' ? undefined : 'abc',
    });
  }

  it.each(methods)(
    'answers %s on an upload id that was never issued with 404 BLOB_UPLOAD_UNKNOWN',
    async (method) => {
      expectOciError(
        await sessionRequest(method, uniqueRepo('unknown'), randomUUID()),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
    },
  );

  it.each(methods)('answers %s on a malformed upload id with 404 BLOB_UPLOAD_UNKNOWN', async (method) => {
    for (const id of [
      '..',
      '..%2F..%2Fetc',
      `..%2F..%2F${ESCAPE}`,
      `..%2f..%2f..%2f${ESCAPE}`,
      `%2e%2e`,
      'not-a-uuid',
    ]) {
      const res = await sessionRequest(method, uniqueRepo('malformed'), id);
      expectOciError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
    }
  });

  it.each(methods)('answers %s on a raw ../../ upload path with a 404 OCI error', async (method) => {
    const res = await sessionRequest(method, uniqueRepo('raw'), `../../${ESCAPE}`);
    expect(res.status, describeResponse(res)).toBe(404);
    expect(errorCodes(res)).toHaveLength(1);
  });

  it.each(methods)(
    'answers %s on another repository’s upload with 404 and leaves the session intact',
    async (method) => {
      const owner = uniqueRepo('owner');
      const id = await startUpload(owner);
      const data = randomBytes(12);
      await api('PATCH', `/v2/${owner}/blobs/uploads/${id}`, { headers: OCTET, body: data });

      expectOciError(await sessionRequest(method, uniqueRepo('intruder'), id), 404, 'BLOB_UPLOAD_UNKNOWN');
      const status = await uploadStatus(owner, id);
      expect(status.headers.range).toBe('0-11');
      const put = await api('PUT', `/v2/${owner}/blobs/uploads/${id}?digest=${digestOf(data)}`);
      expect(put.status, describeResponse(put)).toBe(201);
    },
  );
});

describe('clients that disconnect mid-body', () => {
  const TOTAL = 512 * 1024;

  it('stays up after a PATCH is cut halfway, shows no blob, and lets the session resume', async () => {
    const repo = uniqueRepo('cut-patch');
    const data = randomBytes(TOTAL);
    const half = TOTAL / 2;
    const id = await startUpload(repo);
    const { req, response } = openRequest(berth.url, 'PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
      ...OCTET,
      'Content-Length': TOTAL,
    });
    req.write(data.subarray(0, half));
    await waitFor('the first half to reach storage', async () => (await sizeOf(uploadFile(id))) === half);
    req.destroy();
    await expect(response).rejects.toThrow();

    await expectNoBlob(repo, digestOf(data));
    // The spec lets a registry keep or drop an interrupted session; either way it must be coherent.
    let status = await uploadStatus(repo, id);
    if (status.status === 404) {
      expectOciError(status, 404, 'BLOB_UPLOAD_UNKNOWN');
      expect(existsSync(uploadDir(id))).toBe(false);
    } else {
      await waitFor('the session to record the stored bytes', async () => {
        status = await uploadStatus(repo, id);
        return status.headers.range === `0-${((await sizeOf(uploadFile(id))) ?? 0) - 1}`;
      });
      const stored = (await sizeOf(uploadFile(id))) ?? 0;
      expect((await readFile(uploadFile(id))).equals(data.subarray(0, stored))).toBe(true);
      const rest = await api('PATCH', `/v2/${repo}/blobs/uploads/${id}`, {
        headers: { ...OCTET, 'Content-Range': `${stored}-${TOTAL - 1}` },
        body: data.subarray(stored),
      });
      expect(rest.status, describeResponse(rest)).toBe(202);
      const put = await api('PUT', `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf(data)}`);
      expect(put.status, describeResponse(put)).toBe(201);
      expect((await api('GET', `/v2/${repo}/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
    }

    const again = uniqueRepo('cut-patch-again');
    expect(await pushBlob(again, data)).toBe(digestOf(data));
    expect((await api('GET', `/v2/${again}/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
  });

  it('stays up after a monolithic POST is cut halfway, keeps no bytes, and accepts the same blob again', async () => {
    const repo = uniqueRepo('cut-post');
    const data = randomBytes(TOTAL);
    const digest = digestOf(data);
    const before = await uploadIds();
    const { req, response } = openRequest(berth.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      ...OCTET,
      'Content-Length': TOTAL,
    });
    req.write(data.subarray(0, TOTAL / 2));
    let started: string | undefined;
    await waitFor('the first half to reach storage', async () => {
      for (const id of await uploadIds()) {
        if (!before.includes(id) && (await sizeOf(uploadFile(id))) === TOTAL / 2) started = id;
      }
      return started !== undefined;
    });
    req.destroy();
    await expect(response).rejects.toThrow();

    const id = started as string;
    await waitFor('the aborted upload to be discarded', () => !existsSync(uploadDir(id)));
    expectOciError(await uploadStatus(repo, id), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectNoBlob(repo, digest);

    expect(await pushBlob(repo, data)).toBe(digest);
    expect((await api('GET', `/v2/${repo}/blobs/${digest}`)).body.equals(data)).toBe(true);
  });
});

describe('unknown endpoints and methods', () => {
  it('answers 404 UNSUPPORTED for a path no route has', async () => {
    const res = await api('GET', '/v3/');
    expectOciError(res, 404, 'UNSUPPORTED');
    expect(res.text).toContain('no such endpoint: GET /v3/');
  });

  it('answers 405 UNSUPPORTED for a known path with a method it does not take', async () => {
    expectOciError(await api('PATCH', '/v2/'), 405, 'UNSUPPORTED');
    expectOciError(await api('POST', '/v2/some/repo/tags/list'), 405, 'UNSUPPORTED');
  });

  // Node accepts these methods; no route takes them anywhere (they used to answer 500 with a stack trace).
  it.each(['TRACE', 'PROPFIND', 'COPY', 'LOCK', 'MOVE', 'MKCOL', 'PURGE', 'SEARCH', 'REPORT', 'LINK'])(
    'answers 405 UNSUPPORTED for %s on known and unknown paths',
    async (method) => {
      for (const path of ['/v2/', '/v2/some/repo/manifests/latest', '/nowhere']) {
        expectOciError(await api(method, path), 405, 'UNSUPPORTED');
      }
    },
  );
});

describe('the data directory after all of the above', () => {
  async function walk(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name));
  }

  it('holds only files of the documented layout', async () => {
    const layout = [
      /^berth\.db(-wal|-shm)?$/,
      /^storage\/blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}\/data$/,
      /^storage\/blobs\/sha512\/[0-9a-f]{2}\/[0-9a-f]{128}\/data$/,
      /^storage\/uploads\/[0-9a-f-]{36}\/data$/,
      /^storage\/\.tmp\/[0-9a-f-]{36}$/,
    ];
    const files = (await walk(berth.dataDir)).map((f) => relative(berth.dataDir, f).split(sep).join('/'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => !layout.some((pattern) => pattern.test(f)))).toEqual([]);
  });

  it('has created nothing at the places the traversal attempts aimed at', async () => {
    const found = (await walk(berth.dataDir)).filter((f) => f.includes(ESCAPE));
    expect(found).toEqual([]);
    const candidates = [
      berth.dataDir,
      storageRoot(),
      join(storageRoot(), 'uploads'),
      dirname(berth.dataDir),
      tmpdir(),
      '/',
    ];
    for (const dir of candidates) expect(existsSync(join(dir, ESCAPE)), dir).toBe(false);
  });
});
