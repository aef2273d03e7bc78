// Blob GETs on filesystem storage, which write the file into the response with reused buffers
// (storage-drivers/file-read-stream.ts): whole bodies and ranges across chunk boundaries, clients that
// leave midway, and a blob file found shorter than its size: a cut connection, never a short 200.
import { randomBytes } from 'node:crypto';
import { readdir, truncate } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor, digestOf, waitFor } from '../support/http.js';

const MiB = 1024 * 1024;
let berth: RunningBerth;
let api: ReturnType<typeof clientFor>;

beforeAll(async () => {
  berth = await startBerth();
  api = clientFor(berth.url);
});

afterAll(async () => {
  await berth.stop();
});

async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  expect(res.status).toBe(201);
  return digest;
}

function blobFile(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(berth.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** GETs `path`, reading the body until `stopAfter` bytes (then destroying the socket) or its end. */
function get(
  path: string,
  headers: Record<string, string> = {},
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${berth.url}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const finish = (complete: boolean) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= stopAfter) {
          req.destroy();
          finish(false);
        }
      });
      res.on('end', () => finish(res.complete));
      res.on('error', () => finish(false));
      res.on('aborted', () => finish(false));
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

describe('blob GET from filesystem storage', () => {
  const data = randomBytes(5 * MiB + 4321);
  let digest: string;
  const repo = 'blob-get/app';

  beforeAll(async () => {
    digest = await pushBlob(repo, data);
  });

  it('sends the whole blob with its length', async () => {
    const res = await get(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(data.length));
    expect(res.complete).toBe(true);
    expect(res.body.equals(data)).toBe(true);
  });

  it('sends ranges that start and end inside the 1 MiB read chunks', async () => {
    for (const [start, end] of [
      [MiB - 3, 3 * MiB + 2],
      [0, 0],
      [5 * MiB, data.length - 1],
    ] as const) {
      const res = await get(`/v2/${repo}/blobs/${digest}`, { Range: `bytes=${start}-${end}` });
      expect(res.status).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${data.length}`);
      expect(res.body.equals(data.subarray(start, end + 1))).toBe(true);
    }
  });

  it('closes every file when clients leave midway, and keeps serving', async () => {
    const openDescriptors = async () => (await readdir('/proc/self/fd')).length;
    const before = await openDescriptors();
    const left = await Promise.all(
      Array.from({ length: 12 }, (_, i) => get(`/v2/${repo}/blobs/${digest}`, {}, (i + 1) * 100_000)),
    );
    expect(left.every((res) => !res.complete)).toBe(true);
    await waitFor('descriptors of abandoned GETs closed', async () => (await openDescriptors()) <= before);
    const again = await get(`/v2/${repo}/blobs/${digest}`);
    expect(again.body.equals(data)).toBe(true);
  });

  it('cuts the connection when the blob file is shorter than its recorded size', async () => {
    const damaged = randomBytes(3 * MiB);
    const damagedDigest = await pushBlob('blob-get/damaged', damaged);
    await truncate(blobFile(damagedDigest), 2 * MiB + 5);
    const res = await get(`/v2/blob-get/damaged/blobs/${damagedDigest}`);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(false);
    expect(res.body.length).toBeLessThan(damaged.length);
    expect((await api('GET', '/v2/')).status).toBe(200);
  });
});
