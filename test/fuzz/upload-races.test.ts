// Fuzz: concurrent operations on one upload session. PATCH (streamed or with Content-Range),
// PUT ?digest= (with or without a last chunk), DELETE and GET race each other (Promise.all, with
// small random delays). After the race settles: no 5xx, every error is an OCI error body, a PUT
// that answered 201 committed a blob whose bytes match its digest, a session that was committed or
// cancelled is gone, a session that is still live reports the bytes it holds and can still be
// completed, and no `uploads/<id>/` bytes remain without a live session. Plus the invariants of
// test/support/fuzz.ts after each case, and a normal push and pull at the end.
//
// Seeded and time-boxed: FUZZ_SEED (default FUZZ_DEFAULT_SEED) picks the inputs; a failure prints
// the seed, the counterexample and the command that replays it:
//   FUZZ_SEED=<seed> FUZZ_PATH='<path>' npx vitest run test/fuzz/upload-races.test.ts -t '<test title>'
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
  type FuzzBerth,
} from '../support/fuzz.js';
import {
  assertBlobIntact,
  assertPushPull,
  assertUploadsCoherent,
  patterned,
  startSession,
} from '../support/fuzz-registry.js';
import type { RawResponse } from '../support/http.js';

const REPO = 'fuzz/races';
const OCTET = { 'Content-Type': 'application/octet-stream' };

let fb: FuzzBerth;
const sessions = new Map<string, string>();

beforeAll(async () => {
  fb = await startFuzzBerth();
}, 30_000);

afterAll(async () => {
  await fb?.stop();
});

type Kind = 'PATCH' | 'PATCH range' | 'PUT' | 'PUT body' | 'PUT wrong' | 'DELETE' | 'GET';

const raceOp = fc.record({
  kind: fc.constantFrom<Kind>('PATCH', 'PATCH range', 'PUT', 'PUT body', 'PUT wrong', 'DELETE', 'GET'),
  size: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 100_000, max: 400_000 })),
  delayMs: fc.oneof(fc.constant(0), fc.nat({ max: 8 })),
});

interface Outcome {
  kind: Kind;
  digest?: string;
  res?: RawResponse;
  error?: string;
}

describe('operations racing on one upload session', () => {
  const budget = { numRuns: 150, timeLimitMs: 8_000, caseTimeoutMs: 20_000 };
  it(
    'settles every race into a committed blob, a cancelled session or a live coherent one',
    async () => {
      const property = fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 50_000 }), { maxLength: 2 }),
        fc.array(raceOp, { minLength: 2, maxLength: 6 }),
        fc.nat(255),
        async (prefill, ops, salt) => {
          const id = await startSession(fb, REPO, sessions);
          const path = `/v2/${REPO}/blobs/uploads/${id}`;
          let have = Buffer.alloc(0);
          for (const [i, size] of prefill.entries()) {
            const chunk = patterned(size, salt + 100 + i);
            const res = await send(fb.url, 'PATCH', path, { headers: OCTET, body: chunk });
            if (res.status !== 202) throw new Error(`prefill PATCH ${path}: ${describeResponse(res)}`);
            have = Buffer.concat([have, chunk]);
          }
          const context = `race on ${path} after ${have.length} bytes: ${JSON.stringify(ops)}`;

          const run = async (op: (typeof ops)[number], i: number): Promise<Outcome> => {
            await new Promise((resolve) => setTimeout(resolve, op.delayMs));
            const chunk = patterned(op.size, salt + i);
            const outcome: Outcome = { kind: op.kind };
            const request = (): Promise<RawResponse> => {
              switch (op.kind) {
                case 'PATCH':
                  return send(fb.url, 'PATCH', path, { headers: OCTET, body: chunk });
                case 'PATCH range': {
                  const range = `${have.length}-${have.length + chunk.length - 1}`;
                  return send(fb.url, 'PATCH', path, {
                    headers: { ...OCTET, 'Content-Range': range },
                    body: chunk,
                  });
                }
                case 'PUT':
                  outcome.digest = sha256(have);
                  return send(fb.url, 'PUT', `${path}?digest=${outcome.digest}`);
                case 'PUT body':
                  outcome.digest = sha256(Buffer.concat([have, chunk]));
                  return send(fb.url, 'PUT', `${path}?digest=${outcome.digest}`, {
                    headers: OCTET,
                    body: chunk,
                  });
                case 'PUT wrong':
                  outcome.digest = sha256(`wrong ${salt} ${i}`);
                  return send(fb.url, 'PUT', `${path}?digest=${outcome.digest}`);
                case 'DELETE':
                  return send(fb.url, 'DELETE', path);
                case 'GET':
                  return send(fb.url, 'GET', path);
              }
            };
            try {
              outcome.res = await request();
            } catch (err) {
              outcome.error = (err as Error).message;
            }
            return outcome;
          };
          const outcomes = await Promise.all(ops.map(run));
          const summary = outcomes.map(
            (o) => `${o.kind} -> ${o.res ? `${o.res.status} ${errorCode(o.res) ?? ''}` : o.error}`,
          );
          const where = `${context}\n  outcomes: ${summary.join('; ')}`;

          for (const o of outcomes) {
            if (o.res) assertSaneResponse(o.kind.split(' ')[0] ?? 'GET', o.res, `${where}\n  ${o.kind}`);
            // Well-formed requests get an answer; the server must not drop them.
            else throw new Error(`${where}\n  ${o.kind} got no answer: ${o.error}`);
          }
          const committed = outcomes.filter((o) => o.kind.startsWith('PUT') && o.res?.status === 201);
          for (const o of committed) {
            const blob = await send(fb.url, 'GET', `/v2/${REPO}/blobs/${o.digest}`);
            if (blob.status !== 200 || sha256(blob.body) !== o.digest) {
              throw new Error(
                `${where}\n  PUT answered 201 for ${o.digest}, but GET gives ${describeResponse(blob)}`,
              );
            }
          }
          for (const o of outcomes) if (o.digest) await assertBlobIntact(fb, REPO, o.digest, where);
          const consumed =
            committed.length > 0 || outcomes.some((o) => o.kind === 'DELETE' && o.res?.status === 204);
          const status = await send(fb.url, 'GET', path);
          assertSaneResponse('GET', status, `${where}\n  GET after the race`);
          if (consumed && status.status !== 404) {
            throw new Error(
              `${where}\n  the session was committed or cancelled but still answers ${describeResponse(status)}`,
            );
          }
          await assertUploadsCoherent(fb, sessions, [id], where);
          if (status.status === 204) {
            // A live session must still be usable: complete it with what it holds.
            const stored = await readFile(join(fb.storageRoot, 'uploads', id, 'data')).catch(() =>
              Buffer.alloc(0),
            );
            const put = await send(fb.url, 'PUT', `${path}?digest=${sha256(stored)}`);
            if (put.status !== 201)
              throw new Error(`${where}\n  completing the live session: ${describeResponse(put)}`);
            await assertUploadsCoherent(fb, sessions, [id], `${where}\n  after completing it`);
          } else if (status.status !== 404) {
            throw new Error(`${where}\n  GET after the race: ${describeResponse(status)}`);
          }
          await fb.assertHealthy(where);
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
    await assertPushPull(fb.url, 'fuzz/races-final');
  });
});
