// OCI distribution-spec conformance, workflow 1 (Pull): manifests and blobs by tag and digest, HEAD,
// Range requests, conditional GETs, and the 404s for unknown content. Black-box over HTTP.
import { describe, expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  MT,
  SPEC_ERROR_CODES,
  explain,
  expectError,
  expectErrorBody,
  expectJsonIfBody,
  pushImage,
  randomBlob,
  sha256,
  uniqueRepo,
} from './support/client.js';
import { useRegistry } from './support/registry.js';
import { invalidReferenceCases } from './support/suite-cases.js';

const reg = useRegistry();

describe('pull: API version check', () => {
  it('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await reg.client.get('/v2/');
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('docker-distribution-api-version'), explain(res)).toBe('registry/2.0');
  });
});

describe('pull: manifests', () => {
  it('GET by tag returns the exact bytes, pushed Content-Type, Docker-Content-Digest and Content-Length', async () => {
    const repo = uniqueRepo('pull-tag');
    const img = await pushImage(reg.client, repo, 'tagtest0');
    const res = await reg.client.getManifest(repo, 'tagtest0');
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('content-type'), explain(res)).toBe(MT.ociManifest);
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(img.digest);
    expect(res.headers.get('content-length'), explain(res)).toBe(String(img.manifest.length));
    expect(res.body.equals(img.manifest), explain(res)).toBe(true);
  });

  it('GET by digest returns the exact bytes and headers', async () => {
    const repo = uniqueRepo('pull-digest');
    const img = await pushImage(reg.client, repo, 'v1');
    const res = await reg.client.getManifest(repo, img.digest);
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('content-type'), explain(res)).toBe(MT.ociManifest);
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(img.digest);
    expect(res.headers.get('content-length'), explain(res)).toBe(String(img.manifest.length));
    expect(sha256(res.body), explain(res)).toBe(img.digest);
  });

  it('HEAD by tag and by digest answer 200 with digest, type and length but no body', async () => {
    const repo = uniqueRepo('pull-head');
    const img = await pushImage(reg.client, repo, 'v1');
    for (const ref of ['v1', img.digest]) {
      const res = await reg.client.head(`/v2/${repo}/manifests/${ref}`, { Accept: ACCEPT_MANIFESTS });
      expect(res.status, explain(res)).toBe(200);
      expect(res.headers.get('docker-content-digest'), explain(res)).toBe(img.digest);
      expect(res.headers.get('content-type'), explain(res)).toBe(MT.ociManifest);
      expect(res.headers.get('content-length'), explain(res)).toBe(String(img.manifest.length));
      expect(res.body.length, explain(res)).toBe(0);
    }
  });

  it('stores the manifest in the exact byte representation the client sent', async () => {
    const repo = uniqueRepo('pull-bytes');
    const config = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}\n',
    );
    const configDigest = await reg.client.pushBlob(repo, config);
    // Odd spacing and key order, as in the upstream suite: a registry that re-serialises breaks the digest.
    const manifest = Buffer.from(
      `{ "mediaType": "${MT.ociManifest}", "config":  { "digest": "${configDigest}", ` +
        `"mediaType": "${MT.ociConfig}", "size": ${config.length} }, "layers": [], "schemaVersion": 2 }`,
    );
    const digest = await reg.client.putManifest(repo, 'odd', manifest, MT.ociManifest);
    for (const ref of ['odd', digest]) {
      const res = await reg.client.getManifest(repo, ref);
      expect(res.status, explain(res)).toBe(200);
      expect(res.body.equals(manifest), explain(res)).toBe(true);
    }
  });

  it('GET and HEAD of an unknown tag or digest answer 404 (MANIFEST_UNKNOWN)', async () => {
    const repo = uniqueRepo('pull-404');
    await pushImage(reg.client, repo, 'exists');
    const unknownDigest = sha256(randomBlob());
    for (const ref of ['nosuchtag', unknownDigest]) {
      const get = await reg.client.getManifest(repo, ref);
      expectError(get, 404, 'MANIFEST_UNKNOWN');
      const head = await reg.client.head(`/v2/${repo}/manifests/${ref}`, { Accept: ACCEPT_MANIFESTS });
      expect(head.status, explain(head)).toBe(404);
    }
  });

  invalidReferenceCases(reg);

  it('a manifest pushed to one repository is not served from another', async () => {
    const repo = uniqueRepo('pull-iso-a');
    const other = uniqueRepo('pull-iso-b');
    const img = await pushImage(reg.client, repo, 'v1');
    await pushImage(reg.client, other, 'v1');
    const res = await reg.client.getManifest(other, img.digest);
    expectError(res, 404, 'MANIFEST_UNKNOWN');
  });

  it('ETag with If-None-Match answers 304 for a manifest', async () => {
    const repo = uniqueRepo('pull-etag-m');
    await pushImage(reg.client, repo, 'v1');
    const first = await reg.client.getManifest(repo, 'v1');
    const etag = first.headers.get('etag');
    expect(etag, explain(first)).toBeTruthy();
    const second = await reg.client.get(`/v2/${repo}/manifests/v1`, {
      Accept: ACCEPT_MANIFESTS,
      'If-None-Match': etag ?? '',
    });
    expect(second.status, explain(second)).toBe(304);
    expect(second.body.length, explain(second)).toBe(0);
  });

  it('a malformed digest reference answers 400 with a spec error code or 404, never 5xx', async () => {
    const repo = uniqueRepo('pull-baddigest');
    await pushImage(reg.client, repo, 'v1');
    const res = await reg.client.getManifest(repo, 'sha256:totallywrong');
    expect([400, 404], explain(res)).toContain(res.status);
    const codes = expectErrorBody(res);
    expect(SPEC_ERROR_CODES, explain(res)).toContain(codes[0]);
  });
});

describe('pull: blobs', () => {
  it('GET returns the bytes with Docker-Content-Digest and Content-Length', async () => {
    const repo = uniqueRepo('pull-blob');
    const data = randomBlob(300);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`);
    expect(res.status, explain(res)).toBe(200);
    expect(res.body.equals(data), explain(res)).toBe(true);
    expect(res.headers.get('content-length'), explain(res)).toBe(String(data.length));
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(digest);
  });

  it('HEAD answers 200 with Content-Length and Docker-Content-Digest and no body', async () => {
    const repo = uniqueRepo('pull-blob-head');
    const data = randomBlob(77);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.head(`/v2/${repo}/blobs/${digest}`);
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('content-length'), explain(res)).toBe('77');
    expect(res.headers.get('docker-content-digest'), explain(res)).toBe(digest);
    expect(res.body.length, explain(res)).toBe(0);
  });

  it('GET and HEAD of an unknown blob answer 404 (BLOB_UNKNOWN)', async () => {
    const repo = uniqueRepo('pull-blob-404');
    await reg.client.pushBlob(repo, randomBlob());
    const digest = sha256('hello world');
    expectError(await reg.client.get(`/v2/${repo}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const head = await reg.client.head(`/v2/${repo}/blobs/${digest}`);
    expect(head.status, explain(head)).toBe(404);
  });

  it('a blob pushed to one repository is not served from another', async () => {
    const repo = uniqueRepo('pull-blob-iso-a');
    const other = uniqueRepo('pull-blob-iso-b');
    const digest = await reg.client.pushBlob(repo, randomBlob());
    await reg.client.pushBlob(other, randomBlob());
    expectError(await reg.client.get(`/v2/${other}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  it('Range bytes=A-B answers 206 with Content-Range and the slice', async () => {
    const repo = uniqueRepo('pull-range');
    const data = randomBlob(100);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`, { Range: 'bytes=10-19' });
    expect(res.status, explain(res)).toBe(206);
    expect(res.headers.get('content-range'), explain(res)).toBe('bytes 10-19/100');
    expect(res.headers.get('content-length'), explain(res)).toBe('10');
    expect(res.body.equals(data.subarray(10, 20)), explain(res)).toBe(true);
  });

  it('open-ended Range bytes=N- answers 206 with the tail', async () => {
    const repo = uniqueRepo('pull-range-open');
    const data = randomBlob(100);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`, { Range: 'bytes=90-' });
    expect(res.status, explain(res)).toBe(206);
    expect(res.headers.get('content-range'), explain(res)).toBe('bytes 90-99/100');
    expect(res.body.equals(data.subarray(90)), explain(res)).toBe(true);
  });

  it('suffix Range bytes=-N answers 206 with the last N bytes', async () => {
    const repo = uniqueRepo('pull-range-suffix');
    const data = randomBlob(100);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`, { Range: 'bytes=-5' });
    expect(res.status, explain(res)).toBe(206);
    expect(res.headers.get('content-range'), explain(res)).toBe('bytes 95-99/100');
    expect(res.body.equals(data.subarray(95)), explain(res)).toBe(true);
  });

  it('a Range starting past the end answers 416 with Content-Range: bytes */size', async () => {
    const repo = uniqueRepo('pull-range-416');
    const data = randomBlob(100);
    const digest = await reg.client.pushBlob(repo, data);
    const res = await reg.client.get(`/v2/${repo}/blobs/${digest}`, { Range: 'bytes=100-' });
    expect(res.status, explain(res)).toBe(416);
    expectJsonIfBody(res);
    // RFC 9110 15.5.17: a 416 to a byte-range request SHOULD carry Content-Range: bytes */<length>.
    expect(res.headers.get('content-range'), explain(res)).toBe('bytes */100');
  });

  it('ETag with If-None-Match answers 304 for a blob', async () => {
    const repo = uniqueRepo('pull-etag-b');
    const digest = await reg.client.pushBlob(repo, randomBlob());
    const first = await reg.client.get(`/v2/${repo}/blobs/${digest}`);
    const etag = first.headers.get('etag');
    expect(etag, explain(first)).toBeTruthy();
    const second = await reg.client.get(`/v2/${repo}/blobs/${digest}`, { 'If-None-Match': etag ?? '' });
    expect(second.status, explain(second)).toBe(304);
    expect(second.body.length, explain(second)).toBe(0);
  });
});
