// Fuzz: tags and digests (random, mutated, hostile) on the manifest, blob and referrers endpoints,
// checked against a model of what the repository holds, and `Range` headers on blob GETs checked
// against RFC 9110. After each case (test/support/fuzz.ts): no 5xx, every error Berth writes is an
// OCI error body with a spec code, GET /v2/ still answers 200, no uncaught error, nothing written
// outside the data directory. The file ends with a normal push and pull.
//
// Seeded and time-boxed: FUZZ_SEED (default FUZZ_DEFAULT_SEED) picks the inputs; a failure prints
// the seed, the counterexample and the command that replays it:
//   FUZZ_SEED=<seed> FUZZ_PATH='<path>' npx vitest run test/fuzz/references.test.ts -t '<test title>'
import { createHash } from 'node:crypto';
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
  type AnyResponse,
  type FuzzBerth,
} from '../support/fuzz.js';
import { assertPushPull, pushImage, type PushedImage } from '../support/fuzz-registry.js';
import { digest, mutatedDigest, rangeHeader, tag, TAG_GRAMMAR } from '../support/fuzz-arbitraries.js';

const REPO = 'fuzz/refs';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCTET = { 'Content-Type': 'application/octet-stream' };

let fb: FuzzBerth;
let image: PushedImage;
/** 1000 bytes that differ at every offset, so that any wrong range shows. */
const BIG = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const EMPTY = Buffer.alloc(0);

beforeAll(async () => {
  fb = await startFuzzBerth();
  image = await pushImage(fb.url, REPO, 'v1');
  for (const blob of [BIG, EMPTY]) {
    const res = await send(fb.url, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, {
      headers: OCTET,
      body: blob,
    });
    if (res.status !== 201) throw new Error(`pushing a blob: ${describeResponse(res)}`);
  }
}, 30_000);

afterAll(async () => {
  await fb?.stop();
});

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const sha512 = (data: Buffer | string) => `sha512:${createHash('sha512').update(data).digest('hex')}`;
const SUPPORTED_DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function fail(context: string, what: string, res: AnyResponse): never {
  throw new Error(`${context}: ${what}\n  -> ${describeResponse(res)}`);
}

function expectAnswer(context: string, res: AnyResponse, method: string, status: number, code?: string) {
  if (res.status !== status || (code && method !== 'HEAD' && errorCode(res) !== code)) {
    fail(context, `expected ${status} ${code ?? ''}`, res);
  }
}

type Kind =
  | 'manifest GET'
  | 'manifest HEAD'
  | 'manifest PUT'
  | 'manifest DELETE'
  | 'blob GET'
  | 'blob HEAD'
  | 'blob DELETE'
  | 'blob POST'
  | 'referrers';

describe('tags and digests', () => {
  const budget = { numRuns: 500, timeLimitMs: 8_000, caseTimeoutMs: 10_000 };
  it(
    'answers every reference as a model of the repository predicts',
    async () => {
      const manifest = Buffer.from(image.manifest);
      const blobs = new Map<string, Buffer>(
        [image.layer, image.config, BIG, EMPTY].map((b) => [sha256(b), b] as [string, Buffer]),
      );
      // The model: manifests by digest, tags, and the blobs linked to the repository.
      const manifests = new Set([sha256(manifest)]);
      const tags = new Map([['v1', sha256(manifest)]]);
      const linked = new Set(blobs.keys());
      const known = [sha256(manifest), sha512(manifest), ...blobs.keys()];
      const reference = fc.oneof(
        fc.constantFrom('v1', ...known),
        tag,
        digest,
        mutatedDigest(fc.constantFrom(...known)),
      );
      const kinds: Kind[] = [
        'manifest GET',
        'manifest HEAD',
        'manifest PUT',
        'manifest DELETE',
        'blob GET',
        'blob HEAD',
        'blob DELETE',
        'blob POST',
        'referrers',
      ];

      const property = fc.asyncProperty(fc.constantFrom(...kinds), reference, async (kind, raw) => {
        const [area, method = 'GET'] = kind.split(' ') as [string, string];
        const parsed = decodePath(raw);
        const isDigest = parsed.includes(':');
        const validDigest = SUPPORTED_DIGEST.test(parsed);
        const context = `${kind} ${JSON.stringify(raw)} (parsed ${JSON.stringify(parsed)})`;
        const invalidRef = isDigest ? !validDigest : !TAG_GRAMMAR.test(parsed);
        const invalidCode = isDigest ? 'DIGEST_INVALID' : 'MANIFEST_INVALID';

        if (area === 'manifest') {
          const path = `/v2/${REPO}/manifests/${raw}`;
          const res =
            method === 'PUT'
              ? await send(fb.url, 'PUT', path, { headers: { 'Content-Type': OCI_MANIFEST }, body: manifest })
              : await send(fb.url, method, path, { headers: { Accept: OCI_MANIFEST } });
          assertSaneResponse(method, res, context);
          const target = isDigest ? (manifests.has(parsed) ? parsed : undefined) : tags.get(parsed);
          if (invalidRef && method !== 'PUT') {
            // A reference that is neither tag nor digest names no manifest: 404 MANIFEST_UNKNOWN, as
            // the OCI conformance suite expects (and Distribution answers), or 400 refusing it.
            if (res.status === 404) expectAnswer(context, res, method, 404, 'MANIFEST_UNKNOWN');
            else expectAnswer(context, res, method, 400, invalidCode);
          } else if (invalidRef) {
            expectAnswer(context, res, method, 400, invalidCode);
          } else if (method === 'PUT') {
            const missing = [image.layer, image.config].find((b) => !linked.has(sha256(b)));
            const matches = !isDigest || parsed === sha256(manifest) || parsed === sha512(manifest);
            if (!matches) expectAnswer(context, res, method, 400, 'DIGEST_INVALID');
            else if (missing) expectAnswer(context, res, method, 400, 'MANIFEST_BLOB_UNKNOWN');
            else {
              expectAnswer(context, res, method, 201);
              const stored = isDigest ? parsed : sha256(manifest);
              manifests.add(stored);
              if (!isDigest) tags.set(parsed, stored);
            }
          } else if (method === 'DELETE') {
            expectAnswer(context, res, method, target ? 202 : 404, target ? undefined : 'MANIFEST_UNKNOWN');
            if (target && isDigest) {
              manifests.delete(target);
              for (const [t, d] of tags) if (d === target) tags.delete(t);
            } else if (target) tags.delete(parsed);
          } else if (!target) {
            expectAnswer(context, res, method, 404, 'MANIFEST_UNKNOWN');
          } else {
            expectAnswer(context, res, method, 200);
            if (res.headers['docker-content-digest'] !== target)
              fail(context, `digest is not ${target}`, res);
            if (method === 'GET' && !res.body.equals(manifest)) fail(context, 'other bytes than pushed', res);
          }
        } else if (area === 'blob') {
          const data = blobs.get(parsed);
          const res =
            method === 'POST'
              ? await send(fb.url, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${raw}`, {
                  headers: OCTET,
                  body: data ?? image.layer,
                })
              : await send(fb.url, method, `/v2/${REPO}/blobs/${raw}`);
          assertSaneResponse(method, res, context);
          if (!validDigest) {
            // A monolithic POST's digest is a query value: decoded by the query parser instead.
            if (method !== 'POST') expectAnswer(context, res, method, 400, 'DIGEST_INVALID');
            else if (res.status !== 400) fail(context, 'an invalid digest was accepted', res);
          } else if (method === 'POST') {
            expectAnswer(context, res, method, data ? 201 : 400, data ? undefined : 'DIGEST_INVALID');
            if (data) linked.add(parsed);
          } else if (!linked.has(parsed)) {
            expectAnswer(context, res, method, 404, 'BLOB_UNKNOWN');
          } else if (method === 'DELETE') {
            expectAnswer(context, res, method, 202);
            linked.delete(parsed);
          } else {
            expectAnswer(context, res, method, 200);
            if (res.headers['docker-content-digest'] !== parsed)
              fail(context, 'wrong Docker-Content-Digest', res);
            if (method === 'GET' && !res.body.equals(data ?? Buffer.alloc(0)))
              fail(context, 'wrong bytes', res);
          }
        } else {
          const res = await send(fb.url, 'GET', `/v2/${REPO}/referrers/${raw}`);
          assertSaneResponse('GET', res, context);
          if (!validDigest) expectAnswer(context, res, 'GET', 400, 'DIGEST_INVALID');
          else expectAnswer(context, res, 'GET', 200);
        }
        await fb.assertHealthy(context);
      });
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

describe('Range headers on blob GETs', () => {
  type Expected = { start: number; end: number } | 'unsatisfiable' | 'whole' | 'whole or 416';

  /**
   * RFC 9110 14.2: a range unit other than bytes MUST be ignored (the whole blob); a malformed or
   * multi-range bytes header may be ignored or refused (416); a valid single range selects bytes
   * or is unsatisfiable (416). Every 416 carries Content-Range: bytes *\/size (15.5.17).
   */
  function expected(header: string, size: number): Expected {
    const unit = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=/.exec(header)?.[1];
    if (unit !== undefined && unit.toLowerCase() !== 'bytes') return 'whole';
    const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
    if (!match || (match[1] === '' && match[2] === '')) return 'whole or 416';
    const [, first = '', last = ''] = match;
    if (first === '') {
      const suffix = Number(last);
      return suffix === 0 || size === 0
        ? 'unsatisfiable'
        : { start: Math.max(0, size - suffix), end: size - 1 };
    }
    const start = Number(first);
    if (last !== '' && Number(last) < start) return 'whole or 416';
    if (start >= size) return 'unsatisfiable';
    return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
  }

  const budget = { numRuns: 400, timeLimitMs: 5_000, caseTimeoutMs: 10_000 };
  it(
    'answers 206 with exactly the requested bytes, 416 with bytes */size, or the whole blob',
    async () => {
      // The references property may have unlinked them: pushing again links them (idempotent).
      for (const data of [BIG, EMPTY, image.layer]) {
        await send(fb.url, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(data)}`, {
          headers: OCTET,
          body: data,
        });
      }
      const blobs = { big: BIG, empty: EMPTY, layer: image.layer };
      const blob = fc.constantFrom(...(Object.keys(blobs) as Array<keyof typeof blobs>));
      const property = fc.asyncProperty(
        blob.chain((name) => fc.tuple(fc.constant(name), rangeHeader(blobs[name].length))),
        async ([name, range]) => {
          const data = blobs[name];
          const path = `/v2/${REPO}/blobs/${sha256(data)}`;
          const context = `GET ${path} (${data.length} bytes) Range: ${JSON.stringify(range)}`;
          const res = await send(fb.url, 'GET', path, { headers: { Range: range } });
          assertSaneResponse('GET', res, context);
          const want = expected(range, data.length);
          const whole = res.status === 200 && res.body.equals(data);
          const refused = res.status === 416 && res.headers['content-range'] === `bytes */${data.length}`;
          if (want === 'whole') {
            if (!whole)
              fail(context, 'a range unit other than bytes must be ignored: expected the whole blob', res);
          } else if (want === 'whole or 416') {
            if (!whole && !refused)
              fail(context, 'expected the whole blob, or 416 with Content-Range bytes */size', res);
          } else if (want === 'unsatisfiable') {
            expectAnswer(context, res, 'GET', 416, 'SIZE_INVALID');
            if (res.headers['content-range'] !== `bytes */${data.length}`)
              fail(context, 'no Content-Range */size', res);
          } else {
            expectAnswer(context, res, 'GET', 206);
            const contentRange = `bytes ${want.start}-${want.end}/${data.length}`;
            if (res.headers['content-range'] !== contentRange)
              fail(context, `expected Content-Range ${contentRange}`, res);
            if (!res.body.equals(data.subarray(want.start, want.end + 1))) fail(context, 'wrong bytes', res);
          }
          await fb.assertHealthy(context);
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
    await assertPushPull(fb.url, 'fuzz/references-final');
  });
});
