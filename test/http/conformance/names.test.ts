// Error paths the spec's grammar implies: repository names, tags and digests that do not match it are
// refused with 400 (NAME_INVALID / DIGEST_INVALID / MANIFEST_INVALID) or 404, never accepted and never 5xx;
// and every error body is spec-shaped JSON served as application/json.
import { describe, expect, it } from 'vitest';
import {
  type Res,
  MT,
  SPEC_ERROR_CODES,
  explain,
  expectError,
  expectErrorBody,
  expectJsonIfBody,
  pushImage,
  randomBlob,
  randomHex,
  sha256,
  uniqueRepo,
  withQuery,
} from './support/client.js';
import { useRegistry } from './support/registry.js';

const reg = useRegistry();

/** An invalid name may be refused as NAME_INVALID (400) or not routed at all (404); anything else is wrong. */
function expectNameRefused(res: Res): void {
  expect([400, 404], explain(res)).toContain(res.status);
  if (res.status === 400) expectError(res, 400, 'NAME_INVALID');
  else expectJsonIfBody(res);
}

const suffix = randomHex(4);
const INVALID_NAMES: Array<[string, string]> = [
  ['upper case', `Upper/case-${suffix}`],
  ['dot-dot segment', `a/../b${suffix}`],
  ['percent-encoded dot-dot', `a/%2e%2e/b${suffix}`],
  ['leading percent-encoded dot-dot', `%2e%2e/b${suffix}`],
  ['trailing slash', `trailing${suffix}/`],
  ['empty component', `a//b${suffix}`],
  ['leading separator', `-lead${suffix}`],
  ['trailing separator', `trail${suffix}-`],
  ['triple underscore', `a___b${suffix}`],
  ['over 255 characters', `${'a'.repeat(128)}/${'b'.repeat(127)}`],
];

describe('names: invalid repository names', () => {
  it.each(INVALID_NAMES)('%s: GET tags/list is refused (400 NAME_INVALID or 404)', async (_label, name) => {
    expectNameRefused(await reg.client.raw('GET', `/v2/${name}/tags/list`));
  });

  it.each(INVALID_NAMES)(
    '%s: POST blobs/uploads/ is refused (400 NAME_INVALID or 404)',
    async (_label, name) => {
      expectNameRefused(
        await reg.client.raw('POST', `/v2/${name}/blobs/uploads/`, { 'Content-Length': '0' }),
      );
    },
  );

  it.each(INVALID_NAMES)(
    '%s: PUT manifests/<tag> is refused (400 NAME_INVALID or 404)',
    async (_label, name) => {
      const res = await reg.client.raw('PUT', `/v2/${name}/manifests/v1`, {
        'Content-Type': MT.ociManifest,
        'Content-Length': '0',
      });
      expectNameRefused(res);
    },
  );
});

describe('names: valid edge-case repository names', () => {
  it.each([
    ['separators . _ __ and runs of -', `a.b_c__d--e/f-${suffix}`],
    ['many components', `a/b/c/d/e/f-${suffix}`],
    ['255 characters', `${'c'.repeat(127)}/${'d'.repeat(127 - suffix.length)}${suffix}`],
  ])('%s: accepted for push and pull', async (_label, name) => {
    expect(name.length).toBeLessThanOrEqual(255);
    const data = randomBlob();
    const digest = await reg.client.pushBlob(name, data);
    const res = await reg.client.get(`/v2/${name}/blobs/${digest}`);
    expect(res.status, explain(res)).toBe(200);
  });
});

describe('names: tags', () => {
  // The spec defines no tag-specific error code (TAG_INVALID is legacy Docker, which clients "MAY
  // encounter"); a malformed reference is a malformed manifest request, so MANIFEST_INVALID is the
  // spec's nearest code. TAG_INVALID and NAME_INVALID are tolerated.
  const TAG_CODES = ['MANIFEST_INVALID', 'TAG_INVALID', 'NAME_INVALID'];

  it.each([
    ['leading dash', '-bad'],
    ['leading dot', '.bad'],
    ['129 characters', `t${'a'.repeat(128)}`],
    ['illegal character', 'bad+tag'],
  ])('PUT manifest with an invalid tag (%s) answers 400 with a JSON error', async (_label, tag) => {
    const c = reg.client;
    const repo = uniqueRepo('tag-invalid');
    const img = await pushImage(c, repo, 'v1');
    const res = await c.pushManifest(repo, tag, img.manifest, MT.ociManifest);
    expectError(res, 400, TAG_CODES);
  });

  it('GET manifest with an invalid tag answers 400 or 404, never 5xx', async () => {
    const c = reg.client;
    const repo = uniqueRepo('tag-invalid-get');
    await pushImage(c, repo, 'v1');
    const res = await c.getManifest(repo, '-bad');
    expect([400, 404], explain(res)).toContain(res.status);
    expectJsonIfBody(res);
  });

  it('a 128-character tag and a tag starting with _ and mixing case are accepted', async () => {
    const c = reg.client;
    const repo = uniqueRepo('tag-edge');
    const img = await pushImage(c, repo, 'v1');
    for (const tag of [`_${'A'.repeat(127)}`, '_Under.Score-1']) {
      expect(tag.length).toBeLessThanOrEqual(128);
      await c.putManifest(repo, tag, img.manifest, MT.ociManifest);
      const res = await c.getManifest(repo, tag);
      expect(res.status, explain(res)).toBe(200);
    }
  });
});

describe('names: digests', () => {
  it.each([
    ['non-hex', 'sha256:xyz'],
    ['short hex', `sha256:${'a'.repeat(63)}`],
  ])('GET blob with a malformed digest (%s) answers 400 DIGEST_INVALID', async (_label, digest) => {
    const c = reg.client;
    const repo = uniqueRepo('digest-bad');
    await c.pushBlob(repo, randomBlob());
    expectError(await c.get(`/v2/${repo}/blobs/${digest}`), [400], 'DIGEST_INVALID');
  });

  it('PUT manifest to a malformed digest reference answers 400 with a spec error code', async () => {
    const c = reg.client;
    const repo = uniqueRepo('digest-bad-manifest');
    await pushImage(c, repo, 'v1');
    const res = await c.pushManifest(repo, 'sha256:totallywrong', Buffer.from('blablabla'), MT.ociManifest);
    expect(res.status, explain(res)).toBe(400);
    expect(SPEC_ERROR_CODES, explain(res)).toContain(expectErrorBody(res)[0]);
  });

  it('PUT to an upload with a malformed ?digest= answers 400 DIGEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('digest-bad-put');
    const location = await c.startUpload(repo);
    const res = await c.request('PUT', withQuery(location, { digest: 'sha256:nothex' }), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: randomBlob(),
    });
    expectError(res, 400, 'DIGEST_INVALID');
  });

  it('single POST with a malformed ?digest= answers 400 DIGEST_INVALID', async () => {
    const c = reg.client;
    const repo = uniqueRepo('digest-bad-post');
    await c.pushBlob(repo, randomBlob());
    const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=sha256:nothex`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: randomBlob(),
    });
    expectError(res, 400, 'DIGEST_INVALID');
  });
});

describe('errors: bodies are JSON', () => {
  it('every error response in a typical session carries Content-Type: application/json', async () => {
    const c = reg.client;
    const repo = uniqueRepo('errors-json');
    await pushImage(c, repo, 'v1');
    const unknown = sha256(randomBlob());
    const responses = [
      await c.getManifest(repo, 'nosuchtag'),
      await c.getManifest(repo, unknown),
      await c.get(`/v2/${repo}/blobs/${unknown}`),
      await c.get(`/v2/${uniqueRepo('nope')}/tags/list`),
      await c.get(`/v2/${repo}/blobs/uploads/00000000-0000-4000-8000-000000000000`),
      await c.get(`/v2/${repo}/blobs/sha256:xyz`),
      await c.pushManifest(repo, 'bad', Buffer.from('not json'), MT.ociManifest),
    ];
    for (const res of responses) {
      expect(res.status, explain(res)).toBeGreaterThanOrEqual(400);
      expect(res.status, explain(res)).toBeLessThan(500);
      expectErrorBody(res);
    }
  });
});
