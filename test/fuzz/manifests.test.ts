// Fuzz: manifest PUTs. Random JSON, valid manifests with one mutation (missing fields, wrong types,
// bad digests and sizes, schema 1, mismatched Content-Type), broken encodings (truncated, invalid
// UTF-8, BOM), deeply nested JSON, sizes around the 4 MiB limit, indexes that list their own digest
// or unknown children, and manifests with about 10,000 layers. A manifest Berth accepts must be
// served back byte for byte under its digest with everything it references present; one it refuses
// gets a 4xx OCI error and leaves no tag. Plus the invariants of test/support/fuzz.ts after each
// case, and a normal push and pull at the end.
//
// Seeded and time-boxed: FUZZ_SEED (default FUZZ_DEFAULT_SEED) picks the inputs; a failure prints
// the seed, the counterexample and the command that replays it:
//   FUZZ_SEED=<seed> FUZZ_PATH='<path>' npx vitest run test/fuzz/manifests.test.ts -t '<test title>'
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
import { assertPushPull, patterned, pushImage, type PushedImage } from '../support/fuzz-registry.js';
import {
  applyMutation,
  deepJson,
  encodingDefect,
  manifestMutation,
  validDigest,
  withEncodingDefect,
} from '../support/fuzz-arbitraries.js';
import { rawExchange } from '../support/raw-exchange.js';

const REPO = 'fuzz/manifests';
const MAX = 4 * 1024 * 1024;
const TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  docker: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  schema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

let fb: FuzzBerth;
let base: PushedImage;
const layers: Array<{ digest: string; size: number }> = [];
let caseNumber = 0;

beforeAll(async () => {
  fb = await startFuzzBerth();
  base = await pushImage(fb.url, REPO, 'base');
  for (let i = 0; i < 3; i++) {
    const data = patterned(100 + i, i);
    const res = await send(fb.url, 'POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(data)}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    if (res.status !== 201) throw new Error(`pushing a layer: ${describeResponse(res)}`);
    layers.push({ digest: sha256(data), size: data.length });
  }
}, 30_000);

afterAll(async () => {
  await fb?.stop();
});

function imageManifest(layerList: Array<{ digest: string; size: number }>) {
  return {
    schemaVersion: 2,
    mediaType: TYPES.manifest,
    config: { mediaType: TYPES.config, digest: sha256(base.config), size: base.config.length },
    layers: layerList.map((l) => ({ mediaType: TYPES.layer, ...l })),
  };
}

/**
 * PUTs `body` under a fresh tag and checks the outcome: `expect` 'accept' or 'refuse' when the
 * input decides it, else either. Accepted manifests are served back exactly; refused leave no tag.
 */
async function putAndCheck(
  body: Buffer,
  contentType: string,
  expect: 'accept' | 'refuse' | 'either',
  context: string,
  opts: { chunked?: boolean; reference?: string } = {},
) {
  const tag = `case-${++caseNumber}`;
  const reference = opts.reference ?? tag;
  const path = `/v2/${REPO}/manifests/${reference}`;
  const where = `${context}\n  PUT ${path} (${body.length} bytes, Content-Type ${JSON.stringify(contentType)})`;
  const { responses, error } = await rawExchange(fb.url, {
    method: 'PUT',
    path,
    headers: [['Content-Type', contentType]],
    body,
    contentLength: opts.chunked ? 'none' : 'actual',
    chunked: opts.chunked,
    timeoutMs: 20_000,
  });
  const res = responses[0];
  if (!res || res.truncated) throw new Error(`${where}: no complete answer (${error})`);
  assertSaneResponse('PUT', res, where);
  if (res.status === 201) {
    if (expect === 'refuse') throw new Error(`${where}: accepted\n  -> ${describeResponse(res)}`);
    const digest = opts.reference ?? sha256(body);
    if (res.headers['docker-content-digest'] !== digest)
      throw new Error(
        `${where}: 201 with digest ${res.headers['docker-content-digest']}, expected ${digest}`,
      );
    const got = await send(fb.url, 'GET', `/v2/${REPO}/manifests/${digest}`, { headers: { Accept: '*/*' } });
    if (got.status !== 200 || !got.body.equals(body))
      throw new Error(`${where}: accepted, but GET gives ${describeResponse(got)}`);
    // Accepted means well-formed: a JSON object of schema version 2.
    const parsed = JSON.parse(body.toString('utf8')) as { schemaVersion?: unknown };
    if (parsed.schemaVersion !== 2)
      throw new Error(`${where}: accepted a manifest of schemaVersion ${String(parsed.schemaVersion)}`);
  } else {
    if (expect === 'accept') throw new Error(`${where}: refused\n  -> ${describeResponse(res)}`);
    const codes = ['MANIFEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'SIZE_INVALID', 'DIGEST_INVALID'];
    if (res.status < 400 || res.status >= 500 || !codes.includes(errorCode(res) ?? '')) {
      throw new Error(`${where}: expected 201 or a 4xx manifest error\n  -> ${describeResponse(res)}`);
    }
    const after = await send(fb.url, 'GET', `/v2/${REPO}/manifests/${tag}`);
    if (after.status !== 404)
      throw new Error(`${where}: refused, yet the tag answers ${describeResponse(after)}`);
  }
  await fb.assertHealthy(where);
  return res;
}

describe('malformed manifests', () => {
  const budget = { numRuns: 300, timeLimitMs: 7_000, caseTimeoutMs: 20_000 };
  it(
    'refuses malformed manifests with a 4xx and serves accepted ones back byte for byte',
    async () => {
      const input = fc.oneof(
        fc.record({ kind: fc.constant('random json' as const), json: fc.jsonValue() }),
        fc.record({
          kind: fc.constant('mutated' as const),
          mutations: fc.array(manifestMutation, { maxLength: 2 }),
        }),
        fc.record({ kind: fc.constant('encoding' as const), defect: encodingDefect, at: fc.nat() }),
        fc.record({
          kind: fc.constant('deep' as const),
          deep: deepJson,
          where: fc.constantFrom('whole', 'field', 'annotation'),
        }),
      );
      const contentType = fc.constantFrom(
        TYPES.manifest,
        TYPES.index,
        TYPES.docker,
        TYPES.list,
        TYPES.schema1,
        '',
        'application/json',
        'text/plain',
        `${TYPES.manifest}; charset=utf-8`,
        'application/vnd.oci.image.manifest.v1+json+x',
      );
      const property = fc.asyncProperty(input, contentType, async (c, type) => {
        const valid = imageManifest(layers.slice(0, 2));
        let body: Buffer;
        let expect: 'accept' | 'refuse' | 'either' = 'either';
        const compatible = [
          TYPES.manifest,
          '',
          'application/json',
          `${TYPES.manifest}; charset=utf-8`,
        ].includes(type);
        if (c.kind === 'random json') {
          body = Buffer.from(JSON.stringify(c.json) ?? 'null');
          const json = c.json as { schemaVersion?: unknown } | null;
          if (typeof json !== 'object' || json === null || Array.isArray(json) || json.schemaVersion !== 2)
            expect = 'refuse';
        } else if (c.kind === 'mutated') {
          const manifest = structuredClone(valid) as unknown as Record<string, unknown>;
          for (const m of c.mutations) applyMutation(manifest, m);
          body = Buffer.from(JSON.stringify(manifest));
          if (c.mutations.length === 0 && compatible) expect = 'accept';
          if (manifest.schemaVersion !== 2 || type === TYPES.schema1) expect = 'refuse';
        } else if (c.kind === 'encoding') {
          body = withEncodingDefect(JSON.stringify(valid), c.defect, c.at);
          // A byte order mark is tolerated by some JSON parsers; every other defect makes it invalid.
          expect = c.defect === 'bom' ? 'either' : 'refuse';
        } else {
          if (c.where === 'whole') body = Buffer.from(c.deep);
          else if (c.where === 'field')
            body = Buffer.from(JSON.stringify(valid).replace(/}$/, `,"x":${c.deep}}`));
          else
            body = Buffer.from(
              JSON.stringify({ ...valid, annotations: { a: 'PLACEHOLDER' } }).replace(
                '"PLACEHOLDER"',
                c.deep,
              ),
            );
          expect = c.where === 'field' ? 'either' : 'refuse';
        }
        const context = `${JSON.stringify(c).slice(0, 600)} as ${JSON.stringify(type)}`;
        await putAndCheck(body, type, expect, context);
      });
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

describe('manifests around the size limit', () => {
  const budget = { numRuns: 16, timeLimitMs: 5_000, caseTimeoutMs: 20_000 };
  it(
    `accepts a valid manifest of up to ${MAX} bytes and refuses a larger one with 413`,
    async () => {
      const size = fc.oneof(
        fc.constantFrom(MAX - 1, MAX, MAX + 1, MAX + 4096, 5 * 1024 * 1024),
        fc.integer({ min: MAX - 64, max: MAX + 64 }),
      );
      const property = fc.asyncProperty(size, fc.boolean(), async (total, chunked) => {
        const text = JSON.stringify(imageManifest(layers));
        // JSON allows any amount of whitespace between tokens.
        const body = Buffer.from(text.replace(/}$/, `${' '.repeat(total - text.length)}}`));
        const res = await putAndCheck(
          body,
          TYPES.manifest,
          total <= MAX ? 'accept' : 'refuse',
          `${total} bytes, chunked ${chunked}`,
          { chunked },
        );
        if (total > MAX && (res.status !== 413 || errorCode(res) !== 'SIZE_INVALID')) {
          throw new Error(`${total} bytes: expected 413 SIZE_INVALID\n  -> ${describeResponse(res)}`);
        }
      });
      await runProperty(property, budget);
    },
    testTimeout(budget, 40_000),
  );
});

describe('indexes that list themselves, and manifests with 10,000 layers', () => {
  const budget = { numRuns: 40, timeLimitMs: 6_000, caseTimeoutMs: 20_000 };
  it(
    'accepts an index or manifest only when every child is present, whatever their number',
    async () => {
      const child = fc.constantFrom('base', 'self', 'unknown', 'wrong size');
      const indexCase = fc.record({
        kind: fc.constant('index' as const),
        children: fc.array(child, { maxLength: 6 }),
        subject: fc.constantFrom('none', 'self', 'base'),
        byDigest: fc.boolean(),
        claimed: validDigest,
      });
      const layersCase = fc.record({
        kind: fc.constant('layers' as const),
        count: fc.constantFrom(9_999, 10_000, 10_001, 20_000),
        unknownAt: fc.option(fc.nat()),
        distinct: fc.boolean(),
      });
      const property = fc.asyncProperty(fc.oneof(indexCase, layersCase), async (c) => {
        const baseDescriptor = {
          mediaType: TYPES.manifest,
          digest: base.manifestDigest,
          size: base.manifest.length,
        };
        if (c.kind === 'index') {
          // An index cannot hold its own digest: `self` is the digest it is PUT under.
          const self = c.byDigest ? c.claimed : sha256('tag reference');
          const descriptors = c.children.map((kind, i) =>
            kind === 'base'
              ? baseDescriptor
              : kind === 'wrong size'
                ? { ...baseDescriptor, size: base.manifest.length + 1 }
                : {
                    mediaType: TYPES.manifest,
                    digest: kind === 'self' ? self : sha256(`unknown ${i}`),
                    size: 10,
                  },
          );
          const subject =
            c.subject === 'none'
              ? undefined
              : c.subject === 'base'
                ? baseDescriptor
                : { ...baseDescriptor, digest: self };
          const body = Buffer.from(
            JSON.stringify({ schemaVersion: 2, mediaType: TYPES.index, manifests: descriptors, subject }),
          );
          const complete = c.children.every((kind) => kind === 'base');
          const expect = c.byDigest || !complete ? 'refuse' : 'accept';
          const res = await putAndCheck(
            body,
            TYPES.index,
            expect,
            JSON.stringify(c),
            c.byDigest ? { reference: c.claimed } : {},
          );
          if (res.status === 201 && c.subject === 'base') {
            const referrers = await send(fb.url, 'GET', `/v2/${REPO}/referrers/${base.manifestDigest}`);
            if (!referrers.text.includes(sha256(body)))
              throw new Error(
                `${JSON.stringify(c)}: referrers of base miss the index: ${referrers.text.slice(0, 300)}`,
              );
          }
          return;
        }
        const list = Array.from({ length: c.count }, (_, i) =>
          c.distinct
            ? { digest: sha256(`layer ${i}`), size: 1 }
            : (layers[i % layers.length] as { digest: string; size: number }),
        );
        if (c.distinct) list.splice(0, layers.length, ...layers);
        if (c.unknownAt !== null)
          list[c.unknownAt % c.count] = { digest: sha256(`missing ${c.unknownAt}`), size: 5 };
        const present = new Set(layers.map((l) => l.digest));
        const complete = list.every((l) => present.has(l.digest));
        const body = Buffer.from(JSON.stringify(imageManifest(list)));
        const res = await putAndCheck(
          body,
          TYPES.manifest,
          complete ? 'accept' : 'refuse',
          JSON.stringify(c),
        );
        if (!complete) {
          const detail = (JSON.parse(res.text) as { errors: Array<{ detail?: { digest?: string } }> })
            .errors[0]?.detail;
          if (
            errorCode(res) !== 'MANIFEST_BLOB_UNKNOWN' ||
            !list.some((l) => l.digest === detail?.digest && !present.has(l.digest))
          ) {
            throw new Error(
              `${JSON.stringify(c)}: expected MANIFEST_BLOB_UNKNOWN naming a missing layer\n  -> ${describeResponse(res)}`,
            );
          }
        }
      });
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

describe('after the fuzz cases', () => {
  it('still takes a normal push and pull', async () => {
    await fb.assertHealthy('end of file');
    const res = await send(fb.url, 'GET', `/v2/${REPO}/manifests/base`, {
      headers: { Accept: TYPES.manifest },
    });
    assertSaneResponse('GET', res, 'GET base');
    if (res.status !== 200 || res.text !== base.manifest)
      throw new Error(`GET base: ${describeResponse(res)}`);
    await assertPushPull(fb.url, 'fuzz/manifests-final');
  });
});
