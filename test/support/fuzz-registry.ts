// Registry-level helpers for the fuzz suites: pushing and pulling an image as a client would, and
// the invariants of upload sessions and blobs checked between cases (see test/support/fuzz.ts).
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawResponse } from './http.js';
import { assertSaneResponse, describeResponse, errorCode, send, sha256, type FuzzBerth } from './fuzz.js';

/** Sizes of the upload directories' data files (undefined: directory without data). */
export async function uploadDirs(fb: FuzzBerth): Promise<Map<string, number | undefined>> {
  const root = join(fb.storageRoot, 'uploads');
  const dirs = new Map<string, number | undefined>();
  for (const id of await readdir(root).catch(() => [])) {
    dirs.set(id, (await stat(join(root, id, 'data')).catch(() => undefined))?.size);
  }
  return dirs;
}

/**
 * Upload bytes and sessions agree: every `uploads/<id>/` belongs to a session that answers 204
 * with a Range matching the bytes stored, and every listed session that answers 204 has as many
 * bytes as its Range says. `sessions` maps each id the test has seen to its repository. Polled for
 * a short while, since a request the client cut may still be settling in the server.
 */
export async function assertUploadsCoherent(
  fb: FuzzBerth,
  sessions: ReadonlyMap<string, string>,
  checkIds: readonly string[],
  context: string,
): Promise<void> {
  let problems: string[] = [];
  const deadline = Date.now() + 3_000;
  for (;;) {
    problems = [];
    const dirs = await uploadDirs(fb);
    for (const id of new Set([...dirs.keys(), ...checkIds])) {
      const stored = dirs.get(id);
      const repo = sessions.get(id);
      const where = `uploads/${id}/ (${dirs.has(id) ? `${stored ?? 'no'} data bytes` : 'absent'})`;
      if (repo === undefined) {
        problems.push(`${where} belongs to no session the client was given`);
        continue;
      }
      const res = await send(fb.url, 'GET', `/v2/${repo}/blobs/uploads/${id}`);
      assertSaneResponse('GET', res, `GET upload ${id}`);
      if (res.status === 204) {
        const expected = `0-${Math.max(0, (stored ?? 0) - 1)}`;
        if (res.headers.range !== expected) {
          problems.push(
            `${where}: live session reports Range ${res.headers.range}, storage says ${expected}`,
          );
        }
      } else if (dirs.has(id)) {
        problems.push(
          `${where} remains without a live session (GET answers ${res.status} ${errorCode(res)})`,
        );
      }
    }
    if (problems.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (problems.length > 0) throw new Error(`${context}: uploads incoherent:\n  ${problems.join('\n  ')}`);
}

export interface PushedImage {
  manifest: string;
  manifestDigest: string;
  layer: Buffer;
  config: Buffer;
}

function expectStatus(res: RawResponse, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${describeResponse(res)}`);
}

/** Pushes a one-layer OCI image as a client would: chunked layer upload, monolithic config, manifest. */
export async function pushImage(url: string, repo: string, tag: string, seed = repo): Promise<PushedImage> {
  const layer = Buffer.from(`layer of ${seed} ${'x'.repeat(2048)}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const start = await send(url, 'POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(start, 202, `POST /v2/${repo}/blobs/uploads/`);
  const location = start.headers.location ?? '';
  const patch = await send(url, 'PATCH', location, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${layer.length - 1}` },
    body: layer,
  });
  expectStatus(patch, 202, `PATCH ${location}`);
  expectStatus(await send(url, 'PUT', `${location}?digest=${sha256(layer)}`), 201, `PUT ${location}`);
  const mono = await send(url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(config)}`, {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: config,
  });
  expectStatus(mono, 201, 'POST config');
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(config),
      size: config.length,
    },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
    ],
  });
  const put = await send(url, 'PUT', `/v2/${repo}/manifests/${tag}`, {
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  expectStatus(put, 201, `PUT /v2/${repo}/manifests/${tag}`);
  return { manifest, manifestDigest: sha256(manifest), layer, config };
}

/** A normal push (blob upload, manifest PUT) and pull (manifest and blob GET with digest checks). */
export async function assertPushPull(url: string, repo: string): Promise<void> {
  const image = await pushImage(url, repo, 'after-fuzz', `${repo} after the fuzz cases`);
  const got = await send(url, 'GET', `/v2/${repo}/manifests/after-fuzz`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  expectStatus(got, 200, 'GET manifest');
  if (got.text !== image.manifest || got.headers['docker-content-digest'] !== image.manifestDigest) {
    throw new Error(`GET manifest returned other bytes or digest: ${describeResponse(got)}`);
  }
  for (const blob of [image.layer, image.config]) {
    const res = await send(url, 'GET', `/v2/${repo}/blobs/${sha256(blob)}`);
    expectStatus(res, 200, 'GET blob');
    if (sha256(res.body) !== sha256(blob)) throw new Error(`GET blob ${sha256(blob)}: wrong bytes`);
  }
}

/** `size` bytes that depend on `salt` and differ along the buffer, so misplaced bytes show. */
export function patterned(size: number, salt: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + salt * 7 + (i >> 8)) & 0xff;
  return data;
}

/** Opens an upload session and records it in `sessions` (id -> repository). */
export async function startSession(
  fb: FuzzBerth,
  repo: string,
  sessions: Map<string, string>,
): Promise<string> {
  const res = await send(fb.url, 'POST', `/v2/${repo}/blobs/uploads/`);
  const id = res.headers['docker-upload-uuid'];
  if (res.status !== 202 || typeof id !== 'string') throw new Error(`POST upload: ${describeResponse(res)}`);
  sessions.set(id, repo);
  return id;
}

/**
 * No blob is visible under `digest` with other content: when the repository serves it, its bytes
 * hash to the digest (sha256 or sha512).
 */
export async function assertBlobIntact(fb: FuzzBerth, repo: string, digest: string, context: string) {
  const [algorithm, hex] = digest.split(':');
  if (!hex || (algorithm !== 'sha256' && algorithm !== 'sha512')) return;
  const res = await send(fb.url, 'GET', `/v2/${repo}/blobs/${digest}`);
  assertSaneResponse('GET', res, `${context}: GET blob ${digest}`);
  if (res.status !== 200) return;
  const computed = createHash(algorithm).update(res.body).digest('hex');
  if (computed !== hex)
    throw new Error(`${context}: blob ${digest} is served with content hashing to ${computed}`);
}
