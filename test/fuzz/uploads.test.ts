// Fuzz: upload bodies that lie about their length (Content-Length larger or smaller than the bytes
// sent), that stop early (connection destroyed or half-closed mid-body), chunked bodies, and
// sequences of PATCHes with right, shifted, short, long and garbage Content-Range headers checked
// against a model of the session's bytes. After each case (test/support/fuzz.ts): no 5xx, every
// error Berth writes is an OCI error body with a spec code, GET /v2/ still answers 200, no uncaught
// error, nothing written outside the data directory, no blob served with content that does not
// match its digest, and upload bytes and sessions agree (no `uploads/<id>/` without a live
// session). The file ends with a normal push and pull.
//
// Seeded and time-boxed: FUZZ_SEED (default FUZZ_DEFAULT_SEED) picks the inputs; a failure prints
// the seed, the counterexample and the command that replays it:
//   FUZZ_SEED=<seed> FUZZ_PATH='<path>' npx vitest run test/fuzz/uploads.test.ts -t '<test title>'
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  assertSaneResponse,
  describeResponse,
  errorCode,
  runProperty,
  send,
  sha256,
  startFuzzBerth,
  testTimeout,
  watchDescriptors,
  type AnyResponse,
  type FuzzBerth,
} from '../support/fuzz.js';
import {
  assertBlobIntact,
  assertPushPull,
  assertUploadsCoherent,
  patterned,
  startSession,
} from '../support/fuzz-registry.js';
import { stringOf } from '../support/fuzz-arbitraries.js';
import { rawExchange, type RawExchangeRequest } from '../support/raw-exchange.js';

const REPO = 'fuzz/uploads';
const OCTET: Array<[string, string]> = [['Content-Type', 'application/octet-stream']];

let fb: FuzzBerth;
/** Every session id the client was given, with its repository. */
const sessions = new Map<string, string>();

beforeAll(async () => {
  fb = await startFuzzBerth();
}, 30_000);

afterAll(async () => {
  await fb?.stop();
});

function expectOneOf(context: string, res: AnyResponse | undefined, allowed: Array<[number, string?]>): void {
  if (!res) throw new Error(`${context}: no response, expected one of ${JSON.stringify(allowed)}`);
  if (!allowed.some(([status, code]) => res.status === status && (!code || errorCode(res) === code))) {
    throw new Error(`${context}: expected one of ${JSON.stringify(allowed)}\n  -> ${describeResponse(res)}`);
  }
}

type Framing =
  | { kind: 'exact' | 'chunked' }
  | { kind: 'shorter'; by: number }
  | { kind: 'longer'; by: number; how: 'end' | 'destroy'; delayMs: number }
  | { kind: 'cut'; at: number; how: 'end' | 'destroy'; delayMs: number };

const how = fc.constantFrom<'end' | 'destroy'>('end', 'destroy');
const framing: fc.Arbitrary<Framing> = fc.oneof(
  fc.constant({ kind: 'exact' as const }),
  fc.constant({ kind: 'chunked' as const }),
  fc.record({ kind: fc.constant('shorter' as const), by: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({
    kind: fc.constant('longer' as const),
    by: fc.integer({ min: 1, max: 5000 }),
    how,
    delayMs: fc.nat({ max: 30 }),
  }),
  fc.record({
    kind: fc.constant('cut' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    how,
    delayMs: fc.nat({ max: 30 }),
  }),
);

const bodyCase = fc.record({
  op: fc.constantFrom('POST', 'PATCH', 'PUT'),
  prefill: fc.oneof(fc.constant(0), fc.nat({ max: 3000 })),
  size: fc.oneof(fc.nat({ max: 2048 }), fc.integer({ min: 60_000, max: 300_000 })),
  salt: fc.nat(255),
  framing,
  digest: fc.constantFrom('full', 'received', 'wrong', 'sha512', 'none'),
  contentRange: fc.option(fc.constantFrom('right', 'wrong start', 'wrong length', 'garbage')),
});

describe('bodies that lie about their length or stop early', () => {
  const budget = { numRuns: 250, timeLimitMs: 7_000, caseTimeoutMs: 15_000 };
  it(
    'answers a lying or cut body with a 4xx or a closed connection, and keeps sessions and blobs coherent',
    async () => {
      const property = fc.asyncProperty(bodyCase, async (c) => {
        const data = patterned(c.size, c.salt);
        const prior = c.op === 'POST' ? Buffer.alloc(0) : patterned(c.prefill, c.salt + 1);
        let path = `/v2/${REPO}/blobs/uploads/`;
        let id: string | undefined;
        if (c.op !== 'POST') {
          id = await startSession(fb, REPO, sessions);
          path += id;
          if (prior.length > 0) {
            const fill = await send(fb.url, 'PATCH', path, {
              headers: { 'Content-Type': 'application/octet-stream' },
              body: prior,
            });
            expectOneOf('prefill PATCH', fill, [[202]]);
          }
        }
        const f = c.framing;
        // What the server can read as this request's body when it honours Content-Length.
        const received = f.kind === 'shorter' ? data.subarray(0, Math.max(0, c.size - f.by)) : data;
        const whole = Buffer.concat([prior, received]);
        const digests: Record<string, string | undefined> = {
          full: sha256(Buffer.concat([prior, data])),
          received: sha256(whole),
          wrong: sha256(`not ${c.salt}`),
          sha512: `sha512:${createHash('sha512').update(whole).digest('hex')}`,
          none: undefined,
        };
        const digest = digests[c.digest];
        if (c.op !== 'PATCH' && digest) path += `?digest=${digest}`;
        const start = prior.length;
        const end = start + received.length - 1;
        const ranges: Record<string, string> = {
          right: `${start}-${end}`,
          'wrong start': `${start + 1}-${end + 1}`,
          'wrong length': `${start}-${end + 7}`,
          garbage: 'bytes=zero-ten',
        };
        const headers = [...OCTET];
        if (c.op === 'PATCH' && c.contentRange) headers.push(['Content-Range', ranges[c.contentRange] ?? '']);
        const request: RawExchangeRequest = {
          method: c.op,
          path,
          headers,
          body: data,
          contentLength:
            f.kind === 'chunked'
              ? 'none'
              : f.kind === 'exact' || f.kind === 'cut'
                ? 'actual'
                : received.length + (f.kind === 'longer' ? f.by : 0),
          chunked: f.kind === 'chunked',
          cut:
            f.kind === 'cut'
              ? { afterBytes: Math.floor(c.size * f.at), delayMs: f.delayMs, how: f.how }
              : f.kind === 'longer'
                ? { afterBytes: c.size, delayMs: f.delayMs, how: f.how }
                : undefined,
          timeoutMs: 10_000,
        };
        const context = `${c.op} ${path} ${JSON.stringify({ ...c, size: undefined, prior: prior.length, sent: c.size, headers })}`;
        const descriptors = watchDescriptors(fb.sentinelFile);
        const exchange = await rawExchange(fb.url, request).finally(
          () => new Promise((resolve) => setTimeout(resolve, 20)),
        );
        const closedUnderUs = descriptors.stop();
        if (closedUnderUs.length > 0)
          throw new Error(`${context}: ${closedUnderUs.join('; ')} (a descriptor closed twice?)`);
        const { responses, error } = exchange;
        responses.forEach((res, i) => assertSaneResponse(i === 0 ? c.op : 'GET', res, context));
        const first = responses[0];

        // Bytes past a short Content-Length are an unparsable next request: node:http may answer that
        // with its bare 400 and close before Berth answers this one.
        const parserRefusal =
          f.kind === 'shorter' && first?.status === 400 && !first.headers['docker-distribution-api-version'];
        if ((f.kind === 'exact' || f.kind === 'chunked' || f.kind === 'shorter') && !parserRefusal) {
          if (!first || first.truncated) throw new Error(`${context}: no complete answer (${error})`);
          const digestOk =
            c.digest === 'received' ||
            c.digest === 'sha512' ||
            (c.digest === 'full' && received.length === data.length);
          if (c.op === 'POST') {
            expectOneOf(
              context,
              first,
              digest === undefined ? [[202]] : digestOk ? [[201]] : [[400, 'DIGEST_INVALID']],
            );
          } else if (c.op === 'PUT') {
            expectOneOf(context, first, digestOk && digest ? [[201]] : [[400, 'DIGEST_INVALID']]);
          } else if (!c.contentRange || c.contentRange === 'right') {
            if (received.length > 0 || !c.contentRange) {
              expectOneOf(context, first, [[202]]);
              if (first.headers.range !== `0-${Math.max(0, whole.length - 1)}`) {
                throw new Error(`${context}: Range ${first.headers.range} after ${whole.length} bytes`);
              }
            }
          } else if (c.contentRange === 'wrong start') {
            expectOneOf(context, first, [[416]]);
          } else {
            expectOneOf(context, first, [[400], [416]]);
          }
          if (first.status === 201 && digest) {
            const blob = await send(fb.url, 'GET', `/v2/${REPO}/blobs/${digest}`);
            if (blob.status !== 200 || !blob.body.equals(whole)) {
              throw new Error(
                `${context}: committed blob does not hold the bytes received\n  -> ${describeResponse(blob)}`,
              );
            }
          }
        }
        if (first?.status === 202 && c.op === 'POST') {
          sessions.set(String(first.headers['docker-upload-uuid']), REPO);
        }
        for (const d of Object.values(digests)) if (d) await assertBlobIntact(fb, REPO, d, context);
        await assertUploadsCoherent(fb, sessions, id ? [id] : [], context);
        // Cancel what is left, so that later cases do not re-check every earlier session.
        if (id) await send(fb.url, 'DELETE', `/v2/${REPO}/blobs/uploads/${id}`);
        await fb.assertHealthy(context);
      });
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

type RangeMode = 'right' | 'rfc' | 'none' | 'shift' | 'short' | 'long' | 'garbage';
const chunkStep = fc.record({
  length: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 70_000 })),
  mode: fc.constantFrom<RangeMode>('right', 'right', 'rfc', 'none', 'shift', 'short', 'long', 'garbage'),
  delta: fc.integer({ min: 1, max: 3 }),
  garbage: stringOf(' !#$%*+,-./0123456789:;=?ABbeyst', 0, 16),
});

describe('Content-Range on chunk sequences', () => {
  const budget = { numRuns: 120, timeLimitMs: 6_000, caseTimeoutMs: 15_000 };
  it(
    'appends in-order chunks, refuses the rest with 4xx, and commits exactly the accepted bytes',
    async () => {
      const property = fc.asyncProperty(
        fc.array(chunkStep, { minLength: 1, maxLength: 6 }),
        fc.nat(255),
        async (steps, salt) => {
          const id = await startSession(fb, REPO, sessions);
          const path = `/v2/${REPO}/blobs/uploads/${id}`;
          const dataFile = join(fb.storageRoot, 'uploads', id, 'data');
          let have = Buffer.alloc(0);
          for (const [i, step] of steps.entries()) {
            const chunk = patterned(step.length, salt + i);
            const start = have.length;
            const end = start + chunk.length - 1;
            const header: Record<RangeMode, string | undefined> = {
              right: `${start}-${end}`,
              rfc: `bytes ${start}-${end}/*`,
              none: undefined,
              shift: `${start + step.delta}-${end + step.delta}`,
              short: `${start}-${end - step.delta}`,
              long: `${start}-${end + step.delta}`,
              garbage: step.garbage,
            };
            const contentRange = header[step.mode];
            const headers: Array<[string, string]> = [...OCTET];
            if (contentRange !== undefined) headers.push(['Content-Range', contentRange]);
            const context = `step ${i} of ${JSON.stringify(steps.map((s) => ({ ...s, garbage: s.mode === 'garbage' ? s.garbage : undefined })))}: PATCH ${path} Content-Range ${JSON.stringify(contentRange)} with ${chunk.length} bytes at ${start}`;
            const { responses, error } = await rawExchange(fb.url, {
              method: 'PATCH',
              path,
              headers,
              body: chunk,
            });
            const res = responses[0];
            // The server may cut a body longer than its Content-Range before reading all of it.
            if (!res && step.mode !== 'short') throw new Error(`${context}: no answer (${error})`);
            if (res) assertSaneResponse('PATCH', res, context);
            const stored = await readFile(dataFile).catch(() => Buffer.alloc(0));
            if (step.mode === 'right' || step.mode === 'rfc' || step.mode === 'none') {
              expectOneOf(context, res, [[202]]);
              have = Buffer.concat([have, chunk]);
            } else if (step.mode === 'shift') {
              expectOneOf(context, res, [[416]]);
            } else if (step.mode === 'short' || step.mode === 'long') {
              if (res)
                expectOneOf(context, res, [[400, 'SIZE_INVALID'], [400, 'BLOB_UPLOAD_INVALID'], [416]]);
              // A partial write may remain, as a prefix of the chunk.
              const grown = Buffer.concat([have, chunk]);
              if (stored.length < have.length || !stored.equals(grown.subarray(0, stored.length))) {
                throw new Error(
                  `${context}: stored ${stored.length} bytes that are not the accepted bytes plus a prefix of the chunk`,
                );
              }
              have = grown.subarray(0, stored.length);
            } else if (res && res.status < 400) {
              // Garbage that happens to be empty (no range) or a right range may be accepted.
              const parsed = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(contentRange?.trim() ?? '');
              const right = parsed && Number(parsed[1]) === start && Number(parsed[2]) === end;
              if (res.status !== 202 || !(right || contentRange?.trim() === '')) {
                throw new Error(`${context}: garbage Content-Range accepted\n  -> ${describeResponse(res)}`);
              }
              have = Buffer.concat([have, chunk]);
            }
            if (!stored.equals(have))
              throw new Error(`${context}: upload holds ${stored.length} bytes, the model ${have.length}`);
            const status = await send(fb.url, 'GET', path);
            expectOneOf(`${context}: status`, status, [[204]]);
            if (status.headers.range !== `0-${Math.max(0, have.length - 1)}`) {
              throw new Error(`${context}: status Range ${status.headers.range} for ${have.length} bytes`);
            }
          }
          const put = await send(fb.url, 'PUT', `${path}?digest=${sha256(have)}`);
          expectOneOf(`PUT ${path} after ${steps.length} steps`, put, [[201]]);
          const blob = await send(fb.url, 'GET', `/v2/${REPO}/blobs/${sha256(have)}`);
          if (!blob.body.equals(have))
            throw new Error(`GET blob after ${JSON.stringify(steps)}: wrong bytes`);
          await assertUploadsCoherent(fb, sessions, [id], `after ${JSON.stringify(steps)}`);
          await fb.assertHealthy(`after ${JSON.stringify(steps)}`);
        },
      );
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

describe('after the fuzz cases', () => {
  it('still takes a normal push and pull', async () => {
    await fb.assertHealthy('end of file');
    await assertUploadsCoherent(fb, sessions, [], 'end of file');
    await assertPushPull(fb.url, 'fuzz/uploads-final');
  });
});
