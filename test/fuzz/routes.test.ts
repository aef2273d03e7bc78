// Fuzz: every HTTP method (standard, WebDAV, extension and garbage) on every route path, random and
// mutated repository names on every kind of endpoint, and `n`/`last` paging of tags/list and
// _catalog. After each case (test/support/fuzz.ts): no 5xx, every error Berth writes is an OCI
// error body with a spec code, GET /v2/ still answers 200, no uncaught error, nothing written
// outside the data directory or outside its documented layout. The file ends with a normal push
// and pull.
//
// Seeded and time-boxed: FUZZ_SEED (default FUZZ_DEFAULT_SEED) picks the inputs; a failure prints
// the seed, the counterexample and the command that replays it:
//   FUZZ_SEED=<seed> FUZZ_PATH='<path>' npx vitest run test/fuzz/routes.test.ts -t '<test title>'
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { assertPushPull, pushImage, type PushedImage } from '../support/fuzz-registry.js';
import {
  digest,
  httpMethod,
  isValidName,
  pageSize,
  queryValue,
  repoName,
  stringOf,
  tag,
  validName,
} from '../support/fuzz-arbitraries.js';
import { rawExchange } from '../support/raw-exchange.js';

const FIXTURE = 'fuzz/fixture';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let fb: FuzzBerth;
let fixture: PushedImage;

beforeAll(async () => {
  fb = await startFuzzBerth();
  fixture = await pushImage(fb.url, FIXTURE, 'v1');
}, 30_000);

afterAll(async () => {
  await fb?.stop();
});

/** Live values a generated path refers to by placeholder, so that inputs stay seed-determined. */
async function fillLive(template: string): Promise<{ path: string; session: string }> {
  // Earlier cases may have deleted the fixture's manifest or blobs: push it again (idempotent).
  fixture = await pushImage(fb.url, FIXTURE, 'v1');
  const start = await send(fb.url, 'POST', `/v2/${FIXTURE}/blobs/uploads/`);
  const session = String(start.headers['docker-upload-uuid']);
  const path = template
    .replaceAll('{fixture}', FIXTURE)
    .replaceAll('{tag}', 'v1')
    .replaceAll('{manifest}', fixture.manifestDigest)
    .replaceAll('{blob}', sha256(fixture.layer))
    .replaceAll('{session}', session);
  return { path, session };
}

const ROUTE_TEMPLATES = [
  '/v2/',
  '/v2',
  '/v2/_catalog',
  '/v2/{name}/blobs/uploads/',
  '/v2/{name}/blobs/uploads',
  '/v2/{name}/blobs/uploads/{uuid}',
  '/v2/{name}/blobs/{digest}',
  '/v2/{name}/manifests/{ref}',
  '/v2/{name}/tags/list',
  '/v2/{name}/referrers/{digest}',
  '/v2/{name}',
  '/v2/{name}/blobs/',
  '/auth/token',
  '/api/v1/users',
  '/v3/',
  '/',
  '*',
];

const routePath = fc
  .record({
    template: fc.constantFrom(...ROUTE_TEMPLATES),
    name: fc.oneof(fc.constant('{fixture}'), repoName),
    digest: fc.oneof(fc.constantFrom('{blob}', '{manifest}'), digest),
    ref: fc.oneof(fc.constantFrom('{tag}', '{manifest}'), tag, digest),
    uuid: fc.oneof(fc.constant('{session}'), fc.uuid(), stringOf('0123456789abcdef-.%2F', 1, 40)),
    query: fc.array(
      fc.tuple(
        fc.constantFrom('digest', 'mount', 'from', 'n', 'last', 'artifactType', 'x'),
        fc.oneof(fc.constantFrom('{blob}', '{fixture}'), queryValue),
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ template, name, digest: d, ref, uuid, query }) => {
    const path = template
      .replace('{name}', name)
      .replace('{digest}', d)
      .replace('{ref}', ref)
      .replace('{uuid}', uuid);
    return query.length === 0 ? path : `${path}?${query.map(([k, v]) => `${k}=${v}`).join('&')}`;
  });

const extraHeaders = fc.subarray([
  ['Content-Type', OCI_MANIFEST],
  ['Content-Type', 'application/octet-stream'],
  ['Accept', '*/*'],
  ['Range', 'bytes=0-1'],
  ['Content-Range', '0-3'],
  ['If-None-Match', '*'],
  ['Expect', '100-continue'],
] as Array<[string, string]>);

describe('every method on every route path', () => {
  const budget = { numRuns: 400, timeLimitMs: 7_000, caseTimeoutMs: 15_000 };
  it(
    'answers every method and path without a 5xx, a malformed error or a dropped connection',
    async () => {
      const property = fc.asyncProperty(
        httpMethod,
        routePath,
        extraHeaders,
        fc.option(fc.uint8Array({ maxLength: 64 })),
        async (method, template, headers, body) => {
          const { path, session } = await fillLive(template);
          const context = `${method} ${path} headers=${JSON.stringify(headers)} body=${body?.length ?? 'none'}`;
          const result = await rawExchange(fb.url, {
            method,
            path,
            headers,
            body: body ? Buffer.from(body) : undefined,
          });
          // node:http destroys CONNECT requests when no 'connect' listener exists: no answer is fine.
          if (result.responses.length === 0 && method !== 'CONNECT') {
            throw new Error(`${context}: connection closed without an answer (${result.error})`);
          }
          result.responses.forEach((res, i) => {
            assertSaneResponse(i === 0 ? method : 'GET', res, context);
            if (res.truncated) throw new Error(`${context}: response cut short: ${describeResponse(res)}`);
          });
          await send(fb.url, 'DELETE', `/v2/${FIXTURE}/blobs/uploads/${session}`);
          await fb.assertHealthy(context);
        },
      );
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

/** What the router hands the handler: the path decoded, or the raw text when it does not decode. */
function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const UNKNOWN = sha256('never pushed');
const SMALL = Buffer.from('x');

type NameEndpoint =
  'tags' | 'head' | 'blob' | 'start' | 'monolithic' | 'push' | 'delete' | 'referrers' | 'mount';

/** One request (two for `push`) naming `raw`; returns the last response and the name Berth parses. */
async function requestWithName(endpoint: NameEndpoint, raw: string) {
  const post = (path: string, body?: Buffer) =>
    send(fb.url, 'POST', path, { headers: { 'Content-Type': 'application/octet-stream' }, body });
  switch (endpoint) {
    case 'tags':
      return { method: 'GET', res: await send(fb.url, 'GET', `/v2/${raw}/tags/list`) };
    case 'head':
      return { method: 'HEAD', res: await send(fb.url, 'HEAD', `/v2/${raw}/manifests/latest`) };
    case 'blob':
      return { method: 'GET', res: await send(fb.url, 'GET', `/v2/${raw}/blobs/${UNKNOWN}`) };
    case 'start':
      return { method: 'POST', res: await post(`/v2/${raw}/blobs/uploads/`) };
    case 'monolithic':
      return { method: 'POST', res: await post(`/v2/${raw}/blobs/uploads/?digest=${sha256(SMALL)}`, SMALL) };
    case 'push': {
      const blob = await post(`/v2/${raw}/blobs/uploads/?digest=${sha256(SMALL)}`, SMALL);
      if (blob.status !== 201) return { method: 'POST', res: blob };
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(SMALL), size: 1 },
        layers: [],
      });
      const res = await send(fb.url, 'PUT', `/v2/${raw}/manifests/fuzz`, {
        headers: { 'Content-Type': OCI_MANIFEST },
        body: manifest,
      });
      return { method: 'PUT', res };
    }
    case 'delete':
      return { method: 'DELETE', res: await send(fb.url, 'DELETE', `/v2/${raw}/manifests/${UNKNOWN}`) };
    case 'referrers':
      return { method: 'GET', res: await send(fb.url, 'GET', `/v2/${raw}/referrers/${UNKNOWN}`) };
    case 'mount':
      return {
        method: 'POST',
        res: await post(`/v2/${FIXTURE}/blobs/uploads/?mount=${sha256(SMALL)}&from=${raw}`),
      };
  }
}

/** Statuses (and codes) a valid name gets from each endpoint. */
const VALID_NAME_ANSWERS: Record<NameEndpoint, Array<[number, string?]>> = {
  tags: [[200], [404, 'NAME_UNKNOWN']],
  head: [[200], [404]],
  blob: [[404, 'BLOB_UNKNOWN']],
  start: [[202]],
  monolithic: [[201]],
  push: [[201]],
  delete: [[404, 'MANIFEST_UNKNOWN']],
  referrers: [[200]],
  mount: [[201], [202]],
};

describe('repository names', () => {
  const budget = { numRuns: 300, timeLimitMs: 7_000, caseTimeoutMs: 15_000 };
  it(
    'accepts every name of the grammar and refuses every other with NAME_INVALID',
    async () => {
      const endpoint = fc.constantFrom<NameEndpoint>(...(Object.keys(VALID_NAME_ANSWERS) as NameEndpoint[]));
      const property = fc.asyncProperty(fc.oneof(validName, repoName), endpoint, async (raw, kind) => {
        const { method, res } = await requestWithName(kind, raw);
        // The mount source travels in the query string, the other names in the path.
        const parsed =
          kind === 'mount' ? (new URLSearchParams(`from=${raw}`).get('from') ?? '') : decodePath(raw);
        const context = `${kind}: ${method} with name ${JSON.stringify(raw)} (parsed ${JSON.stringify(parsed)})`;
        assertSaneResponse(method, res, context);
        const got = `${res.status} ${errorCode(res) ?? ''}`;
        if (isValidName(parsed)) {
          const allowed = VALID_NAME_ANSWERS[kind];
          const ok = allowed.some(
            ([status, code]) =>
              res.status === status && (!code || method === 'HEAD' || errorCode(res) === code),
          );
          if (!ok)
            throw new Error(
              `${context}: valid name answered ${got}, expected one of ${JSON.stringify(allowed)}\n  ${describeResponse(res)}`,
            );
          if (
            kind === 'start' &&
            res.headers.location !== `/v2/${parsed}/blobs/uploads/${res.headers['docker-upload-uuid']}`
          ) {
            throw new Error(`${context}: Location ${res.headers.location} does not name ${parsed}`);
          }
        } else if (!(res.status === 400 && (method === 'HEAD' || errorCode(res) === 'NAME_INVALID'))) {
          const unrouted = res.status === 404 && (method === 'HEAD' || errorCode(res) === 'UNSUPPORTED');
          if (!unrouted)
            throw new Error(`${context}: invalid name answered ${got}\n  ${describeResponse(res)}`);
        }
        const location = res.headers.location;
        if (res.status === 202 && location) await send(fb.url, 'DELETE', location);
        const catalog = JSON.parse((await send(fb.url, 'GET', '/v2/_catalog')).text) as {
          repositories: string[];
        };
        const bad = catalog.repositories.filter((name) => !isValidName(name));
        if (bad.length > 0)
          throw new Error(`${context}: the catalog lists invalid names ${JSON.stringify(bad)}`);
        if (kind === 'push' && isValidName(parsed) && !catalog.repositories.includes(parsed)) {
          throw new Error(`${context}: pushed, but the catalog does not list ${parsed}`);
        }
        await fb.assertHealthy(context);
      });
      await runProperty(property, budget);
    },
    testTimeout(budget),
  );
});

describe('n and last on tags/list and _catalog', () => {
  const PAGED = 'fuzz/paged';
  const TAGS = [
    '0',
    '1.0',
    '10',
    '9',
    'A',
    'B-1',
    'Z',
    '_',
    '_a',
    'a',
    'a-b',
    'a.b',
    'a_b',
    'latest',
    'v1',
    'v10',
    'v2',
  ];
  const REPOS = [
    'fuzz/p0',
    'fuzz/p-1',
    'fuzz/p.1',
    'fuzz/p_1',
    'fuzz/p/1',
    'fuzz/p1',
    'fuzz/pa',
    'fuzz/pz',
    'fuzz0',
  ];
  const utf8Greater = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0;

  beforeAll(async () => {
    for (const t of TAGS) await pushImage(fb.url, PAGED, t, PAGED);
    for (const repo of REPOS) await pushImage(fb.url, repo, 'v1');
  }, 60_000);

  const list = async (path: string): Promise<{ items: string[]; link?: string }> => {
    const res = await send(fb.url, 'GET', path);
    assertSaneResponse('GET', res, `GET ${path}`);
    if (res.status !== 200) throw new Error(`GET ${path}: ${describeResponse(res)}`);
    const body = JSON.parse(res.text) as { tags?: string[]; repositories?: string[] };
    const items = body.tags ?? body.repositories;
    if (!Array.isArray(items)) throw new Error(`GET ${path}: no list in ${res.text}`);
    const link = res.headers.link;
    return { items, link: Array.isArray(link) ? link[0] : link };
  };

  const budget = { numRuns: 250, timeLimitMs: 6_000, caseTimeoutMs: 10_000 };
  it(
    'pages in lexical order, after `last`, at most `n` at a time, with a Link to the rest',
    async () => {
      const property = fc.asyncProperty(
        fc.constantFrom(`/v2/${PAGED}/tags/list`, '/v2/_catalog'),
        fc.option(pageSize),
        fc.option(fc.oneof(fc.constantFrom(...TAGS, ...REPOS), queryValue)),
        fc.option(fc.tuple(fc.constantFrom('n', 'last'), queryValue)),
        async (base, n, last, extra) => {
          const all = (await list(base)).items;
          expect([...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(all);
          const query = [
            n === null ? '' : `n=${n}`,
            last === null ? '' : `last=${last}`,
            extra ? `${extra[0]}=${extra[1]}` : '',
          ]
            .filter(Boolean)
            .join('&');
          const path = query ? `${base}?${query}` : base;
          const params = new URLSearchParams(query);
          const rawN = params.getAll('n')[0];
          const lastValue = params.getAll('last')[0];
          const limit = rawN !== undefined && /^\d+$/.test(rawN) ? Math.min(Number(rawN), 10_000) : undefined;
          const after = lastValue === undefined ? all : all.filter((item) => utf8Greater(item, lastValue));
          const page = await list(path);
          const context = `GET ${path} (n=${rawN}, last=${JSON.stringify(lastValue)}, all=${JSON.stringify(all)})`;
          expect(page.items, context).toEqual(limit === undefined ? after : after.slice(0, limit));
          if (limit === undefined || limit === 0) return fb.assertHealthy(context);
          expect(page.link !== undefined, `${context}: Link ${page.link}`).toBe(after.length > limit);
          if (page.link) {
            const next = /^<([^>]+)>; rel="next"$/.exec(page.link)?.[1];
            if (!next) throw new Error(`${context}: malformed Link ${page.link}`);
            expect((await list(next)).items, `${context} -> ${next}`).toEqual(after.slice(limit, 2 * limit));
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
    await assertPushPull(fb.url, 'fuzz/routes-final');
  });
});
