// Clumsy and hostile clients on the upload path: bodies cut off mid-PATCH while other clients come and
// go (this used to close one file descriptor twice and abort the process), and requests racing on one
// upload session (one writer at a time: the others get BLOB_UPLOAD_INVALID, never a 500, and nothing is
// left behind).
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor, digestOf, errorCodes, openRequest, type RawResponse } from '../support/http.js';

const OCTET = { 'Content-Type': 'application/octet-stream' };

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
  expect((await api('GET', '/v2/')).status, 'the server must keep serving').toBe(200);
});

const uniqueRepo = (prefix: string) => `races/${prefix}-${randomBytes(4).toString('hex')}`;
const describeResponse = (res: RawResponse) => `${res.status} ${res.text.slice(0, 300)}`;
const uploadDirs = () => readdir(join(berth.dataDir, 'storage', 'uploads')).catch(() => [] as string[]);

async function startUpload(repo: string): Promise<string> {
  const res = await api('POST', `/v2/${repo}/blobs/uploads/`);
  expect(res.status, describeResponse(res)).toBe(202);
  return res.headers.location ?? '';
}

async function pushAndCheck(repo: string, data: Buffer): Promise<void> {
  const digest = digestOf(data);
  const put = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    headers: OCTET,
    body: data,
  });
  expect(put.status, describeResponse(put)).toBe(201);
  const got = await api('GET', `/v2/${repo}/blobs/${digest}`);
  expect(got.status).toBe(200);
  expect(got.body.equals(data)).toBe(true);
}

/** A PATCH that sends `bytes` of its body, then cuts the connection (a Ctrl-C'd docker push). */
async function abortedPatch(location: string, bytes: number, declared?: number): Promise<void> {
  const headers = declared === undefined ? OCTET : { ...OCTET, 'Content-Length': String(declared) };
  const { req, response } = openRequest(berth.url, 'PATCH', location, headers);
  req.write(randomBytes(bytes));
  await new Promise((resolve) => setTimeout(resolve, 2));
  req.destroy();
  await response.catch(() => undefined);
}

/** An upload's status, or undefined once the session is gone. */
async function uploadSize(location: string): Promise<number | undefined> {
  const res = await api('GET', location);
  if (res.status === 404) return undefined;
  expect(res.status, describeResponse(res)).toBe(204);
  return Number((res.headers.range ?? '0-0').split('-')[1]) + 1;
}

/** Either the session is gone with its bytes, or it is live; never bytes without a session. */
async function expectNoOrphan(location: string): Promise<void> {
  const id = location.split('/').at(-1) ?? '';
  const size = await uploadSize(location);
  if (size === undefined) expect(await uploadDirs()).not.toContain(id);
}

/** One of the answers a request racing another on the same session may get. */
function expectRaceAnswer(res: RawResponse, ok: number[]): void {
  if (ok.includes(res.status)) return;
  expect([400, 404, 416], describeResponse(res)).toContain(res.status);
  expect(errorCodes(res)[0], describeResponse(res)).toMatch(/^BLOB_UPLOAD_(INVALID|UNKNOWN)$/);
}

describe('bodies cut off mid-upload', () => {
  it('keeps serving while many clients drop streamed PATCHes and others push and pull', async () => {
    const repo = uniqueRepo('aborts');
    const deadline = Date.now() + 4_000;
    let aborted = 0;
    const aborters = Array.from({ length: 6 }, async () => {
      while (Date.now() < deadline) {
        const location = await startUpload(repo);
        // Streamed (chunked) bodies and bodies shorter than their Content-Length.
        await abortedPatch(location, 32 * 1024, aborted % 2 === 0 ? undefined : 1024 * 1024);
        aborted += 1;
      }
    });
    const pushers = Array.from({ length: 2 }, async () => {
      let pushed = 0;
      while (Date.now() < deadline) {
        await pushAndCheck(repo, randomBytes(64 * 1024 + pushed));
        pushed += 1;
      }
      return pushed;
    });
    const [, pushed] = await Promise.all([Promise.all(aborters), Promise.all(pushers)]);
    expect(aborted).toBeGreaterThan(20);
    expect(pushed.every((n) => n > 0)).toBe(true);
    await pushAndCheck(repo, randomBytes(1024));
  }, 30_000);

  it('keeps the bytes that arrived before the cut, so the client can resume', async () => {
    const repo = uniqueRepo('resume');
    const location = await startUpload(repo);
    await abortedPatch(location, 256 * 1024);
    const size = await uploadSize(location);
    expect(size).toBeGreaterThanOrEqual(0);
    expect(size).toBeLessThanOrEqual(256 * 1024);
  });
});

describe('requests racing on one upload session', () => {
  it('answers PUT ?digest= racing DELETE with a clear outcome and leaves no bytes behind', async () => {
    const repo = uniqueRepo('put-delete');
    for (let i = 0; i < 20; i += 1) {
      const data = randomBytes(256 * 1024);
      const digest = digestOf(data);
      const location = await startUpload(repo);
      const [put, del] = await Promise.all([
        api('PUT', `${location}?digest=${digest}`, { headers: OCTET, body: data }),
        api('DELETE', location),
      ]);
      expectRaceAnswer(put, [201]);
      expectRaceAnswer(del, [204]);
      expect(put.status === 201 && del.status === 204, 'both cannot win').toBe(false);
      const blob = await api('HEAD', `/v2/${repo}/blobs/${digest}`);
      expect(blob.status).toBe(put.status === 201 ? 200 : 404);
      await expectNoOrphan(location);
    }
  });

  it('answers PATCH racing DELETE with a clear outcome and leaves no bytes without a session', async () => {
    const repo = uniqueRepo('patch-delete');
    for (let i = 0; i < 20; i += 1) {
      const location = await startUpload(repo);
      const [patch, del] = await Promise.all([
        api('PATCH', location, { headers: OCTET, body: randomBytes(256 * 1024) }),
        api('DELETE', location),
      ]);
      expectRaceAnswer(patch, [202]);
      expectRaceAnswer(del, [204]);
      await expectNoOrphan(location);
      if (del.status !== 204) expect((await api('DELETE', location)).status).toBe(204);
      await expectNoOrphan(location);
    }
  });

  it('lets one of two concurrent PATCHes write and refuses the other', async () => {
    const repo = uniqueRepo('patch-patch');
    const location = await startUpload(repo);
    const a = randomBytes(512 * 1024);
    const b = randomBytes(512 * 1024);
    const [first, second] = await Promise.all([
      api('PATCH', location, { headers: { ...OCTET, 'Content-Range': `0-${a.length - 1}` }, body: a }),
      api('PATCH', location, { headers: { ...OCTET, 'Content-Range': `0-${b.length - 1}` }, body: b }),
    ]);
    const winners = [first, second].filter((res) => res.status === 202);
    expect(winners.length, `${describeResponse(first)} / ${describeResponse(second)}`).toBe(1);
    for (const res of [first, second]) expectRaceAnswer(res, [202]);
    const won = first.status === 202 ? a : b;
    const put = await api('PUT', `${location}?digest=${digestOf(won)}`, { headers: OCTET });
    expect(put.status, describeResponse(put)).toBe(201);
    expect((await api('GET', `/v2/${repo}/blobs/${digestOf(won)}`)).body.equals(won)).toBe(true);
  });
});
