// The management API's repositories and tags (src/http/api/repositories.ts) over real HTTP, mounted in
// Berth's route table (createApp with the routes as apiRoutes) on the memory driver and an in-memory
// SQLite index: exact statuses and JSON, cursor paging, the access each route asks for (a recording
// authorizer), the access filter of the listing, pull counts from manifest GETs, and webhook events.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'koa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { createEventBus, type RegistryEvent } from '../../src/events/registry-event.js';
import { authState, type AccessRequirement, type Authorizer } from '../../src/http/access.js';
import { repositoryRoutes } from '../../src/http/api/repositories.js';
import { createApp } from '../../src/http/app.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteCatalogStore } from '../../src/metadata/sqlite-catalog-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { unguarded } from '../../src/registry/content-guard.js';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import { createPullTracker } from '../../src/registry/pull-tracker.js';
import { noPushPolicy } from '../../src/registry/push-policy.js';
import { createRegistry } from '../../src/registry/registry.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
}

/** Records the access each request asked for; `x-readable: <prefix>` limits the catalog to it. */
function recordingAuthorizer(asked: AccessRequirement[][]): Authorizer {
  return {
    async authorize(ctx: Context, required) {
      asked.push([...required]);
      const prefix = ctx.get('x-readable');
      if (prefix && required.some((a) => a.type === 'registry' && a.name === 'catalog')) {
        authState(ctx).readable = (name) => name.startsWith(prefix);
      }
    },
  };
}

describe('repositories API', () => {
  let server: Server;
  let base: string;
  let asked: AccessRequirement[][];
  let events: RegistryEvent[];
  let flushPulls: () => Promise<void>;

  beforeAll(async () => {
    asked = [];
    events = [];
    const db = openDatabase(':memory:');
    const metadata = createSqliteMetadataStore(db);
    const catalogStore = createSqliteCatalogStore(db);
    const pulls = createPullTracker({
      store: catalogStore,
      clock: Date.now,
      log: silent,
      intervalMs: 60_000,
    });
    const registry = createRegistry({
      driver: createMemoryDriver(),
      metadata,
      log: silent,
      limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestCacheBytes: 1024 * 1024 },
      deleteEnabled: true,
      blobRedirects: { enabled: false, expiresInSeconds: 60 },
      clock: Date.now,
      newId: () => crypto.randomUUID(),
      guard: unguarded,
      policy: noPushPolicy,
      catalogStore,
      isImmutable: (_repository, tag) => tag === 'locked',
      pulls,
    });
    const bus = createEventBus(() => {});
    bus.subscribe((event) => void events.push(event));
    flushPulls = () => pulls.flush();
    const app = createApp({
      registry,
      authorizer: recordingAuthorizer(asked),
      log: silent,
      logRequests: false,
      manifestMaxBytes: 4 * 1024 * 1024,
      events: bus,
      apiRoutes: repositoryRoutes(registry),
    });
    server = createServer(app.callback());
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });
  beforeEach(() => {
    asked.length = 0;
    events.length = 0;
  });

  async function call(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined || method === 'POST') headers['Content-Type'] ??= 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      json: text ? (JSON.parse(text) as unknown) : undefined,
    };
  }
  const get = (path: string, headers?: Record<string, string>) => call('GET', path, { headers });
  const json = <T>(reply: Reply) => reply.json as T;
  const error = (code: string, field?: string) =>
    expect.objectContaining({
      errors: [
        expect.objectContaining({ code, ...(field && { detail: expect.objectContaining({ field }) }) }),
      ],
    });

  async function putBlob(name: string, data: string) {
    const digest = sha256(data);
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: data,
    });
    expect(res.status).toBe(201);
    return { digest, size: Buffer.byteLength(data) };
  }

  /** Pushes an image of `layers` (plus a config with `created`) under `tag`; answers its digest. */
  async function pushImage(name: string, tag: string, layers: string[], created = '2024-02-03T04:05:06Z') {
    const config = await putBlob(
      name,
      JSON.stringify({ created, os: 'linux', architecture: 'amd64', layers }),
    );
    const layerDescriptors = [];
    for (const layer of layers) {
      layerDescriptors.push({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        ...(await putBlob(name, layer)),
      });
    }
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layerDescriptors,
    });
    const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'Content-Type': MEDIA_TYPES.ociManifest },
      body,
    });
    expect(res.status).toBe(201);
    return { digest: sha256(body), size: Buffer.byteLength(body) + config.size + layers.join('').length };
  }

  it('documents every route in the OpenAPI document, with its parameters', async () => {
    const document = json<{
      paths: Record<
        string,
        Record<string, { parameters: Array<{ name: string; in: string; required: boolean }> }>
      >;
    }>(await get('/api/v1/openapi.json'));
    const operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/api/v1/repositories'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual([
      'DELETE /api/v1/repositories/{name}',
      'DELETE /api/v1/repositories/{name}/-/manifests/{reference}',
      'DELETE /api/v1/repositories/{name}/-/tags/{tag}',
      'GET /api/v1/repositories',
      'GET /api/v1/repositories/{name}',
      'GET /api/v1/repositories/{name}/-/manifests/{reference}',
      'GET /api/v1/repositories/{name}/-/tags',
      'GET /api/v1/repositories/{name}/-/tags/{tag}',
      'PATCH /api/v1/repositories/{name}',
      'POST /api/v1/repositories/{name}/-/tags/{tag}/copy',
    ]);
    const parameters = (path: string, method: string) =>
      document.paths[path]?.[method]?.parameters.map((p) => `${p.in} ${p.name}${p.required ? '' : '?'}`);
    expect(parameters('/api/v1/repositories', 'get')).toEqual([
      'query q?',
      'query sort?',
      'query order?',
      'query limit?',
      'query cursor?',
    ]);
    expect(parameters('/api/v1/repositories/{name}/-/tags/{tag}/copy', 'post')).toEqual([
      'path name',
      'path tag',
      'query to',
    ]);
  });

  describe('repositories', () => {
    let app: { digest: string; size: number };
    beforeAll(async () => {
      app = await pushImage('team/app', 'v1', ['aaaa', 'bbbbbbbb']);
      await pushImage('team/app', 'v2', ['aaaa', 'cc']);
      await pushImage('team/db', 'v1', ['d'.repeat(5000)]);
      await pushImage('other/tags', 'latest', ['e']);
    });

    it('lists with the total and pages by cursor, each page answering exact JSON', async () => {
      const first = await get('/api/v1/repositories?sort=size&limit=2');
      expect(first.status).toBe(200);
      expect(first.headers.get('cache-control')).toBe('no-store');
      const page = json<{ repositories: Array<Record<string, unknown>>; total: number; next: string | null }>(
        first,
      );
      expect(page.total).toBe(3);
      expect(page.repositories.map((r) => r.name)).toEqual(['team/db', 'team/app']);
      expect(page.repositories[1]).toEqual({
        name: 'team/app',
        description: null,
        size: expect.any(Number),
        tagCount: 2,
        manifestCount: 2,
        createdAt: expect.stringMatching(ISO_TIME),
        lastPushAt: expect.stringMatching(ISO_TIME),
        lastPullAt: null,
        pullCount: 0,
      });
      expect(typeof page.next).toBe('string');
      const second = json<typeof page>(
        await get(`/api/v1/repositories?sort=size&limit=2&cursor=${page.next}`),
      );
      expect(second).toMatchObject({ total: 3, next: null });
      expect(second.repositories.map((r) => r.name)).toEqual(['other/tags']);
      expect(asked).toEqual([
        [{ type: 'registry', name: 'catalog', actions: ['*'] }],
        [{ type: 'registry', name: 'catalog', actions: ['*'] }],
      ]);

      const byName = json<typeof page>(await get('/api/v1/repositories?q=TEAM'));
      expect(byName.repositories.map((r) => r.name)).toEqual(['team/app', 'team/db']);
      const readable = json<typeof page>(
        await get('/api/v1/repositories?sort=tags', { 'x-readable': 'team/d' }),
      );
      expect(readable).toMatchObject({ total: 1, next: null });
      expect(readable.repositories.map((r) => r.name)).toEqual(['team/db']);
    });

    it('refuses bad listing input with 400 INVALID naming the field', async () => {
      const cursor = json<{ next: string }>(await get('/api/v1/repositories?sort=size&limit=1')).next;
      for (const [query, field] of [
        ['sort=popular', 'sort'],
        ['limit=0', 'limit'],
        ['limit=1001', 'limit'],
        ['order=up', 'order'],
        ['cursor=garbage', 'cursor'],
        [`sort=name&cursor=${cursor}`, 'cursor'],
        [`sort=size&order=asc&cursor=${cursor}`, 'cursor'],
      ] as const) {
        const res = await get(`/api/v1/repositories?${query}`);
        expect(res.status, query).toBe(400);
        expect(res.json, query).toEqual(error('INVALID', field));
      }
    });

    it('shows a repository by its name with slashes, whatever its last components', async () => {
      const detail = await get('/api/v1/repositories/team/app');
      expect(detail.status).toBe(200);
      expect(detail.json).toMatchObject({ name: 'team/app', tagCount: 2, manifestCount: 2 });
      expect(asked.at(-1)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      // Sub-resources follow `/-/`, which no repository name holds: `other/tags` is a repository.
      expect((await get('/api/v1/repositories/other/tags')).json).toMatchObject({ name: 'other/tags' });
      expect(await get('/api/v1/repositories/nope/x')).toMatchObject({
        status: 404,
        json: error('NAME_UNKNOWN'),
      });
      expect(await get('/api/v1/repositories/Bad..Name')).toMatchObject({
        status: 400,
        json: error('NAME_INVALID'),
      });
    });

    it('sets and clears a description (push access)', async () => {
      const set = await call('PATCH', '/api/v1/repositories/team/db', {
        body: { description: 'the database' },
      });
      expect(set).toMatchObject({ status: 200, json: { name: 'team/db', description: 'the database' } });
      expect(asked.at(-1)).toEqual([{ type: 'repository', name: 'team/db', actions: ['pull', 'push'] }]);
      expect((await get('/api/v1/repositories/team/db')).json).toMatchObject({ description: 'the database' });
      expect(
        await call('PATCH', '/api/v1/repositories/team/db', { body: { description: null } }),
      ).toMatchObject({
        status: 200,
        json: { description: null },
      });
      expect(
        await call('PATCH', '/api/v1/repositories/team/db', { body: { description: 'x', title: 'x' } }),
      ).toMatchObject({
        status: 400,
        json: error('INVALID', 'title'),
      });
      expect(
        await call('PATCH', '/api/v1/repositories/team/db', { body: { description: 'x'.repeat(1025) } }),
      ).toMatchObject({ status: 400, json: error('INVALID', 'description') });
    });

    it('counts manifest GETs, by tag and by digest, once the pulls are flushed', async () => {
      for (const reference of ['v1', 'v1', app.digest]) {
        const res = await fetch(`${base}/v2/team/app/manifests/${reference}`, {
          headers: { Accept: MEDIA_TYPES.ociManifest },
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      await fetch(`${base}/v2/team/app/manifests/v1`, { method: 'HEAD' });
      await flushPulls();
      expect((await get('/api/v1/repositories/team/app')).json).toMatchObject({
        pullCount: 3,
        lastPullAt: expect.stringMatching(ISO_TIME),
      });
      expect((await get('/api/v1/repositories/team/app/-/tags/v1')).json).toMatchObject({
        lastPulledAt: expect.stringMatching(ISO_TIME),
      });
      expect((await get('/api/v1/repositories/team/app/-/tags/v2')).json).toMatchObject({
        lastPulledAt: null,
      });
      const pulled = json<{ repositories: Array<{ name: string }> }>(
        await get('/api/v1/repositories?sort=pulled'),
      );
      expect(pulled.repositories[0]?.name).toBe('team/app');
    });
  });

  describe('tags', () => {
    let image: { digest: string; size: number };
    beforeAll(async () => {
      image = await pushImage('tags/app', 'v1.2.0', ['layer-1', 'layer-2']);
      for (const tag of ['v1.10.0', 'v1.9.0', 'latest', 'locked', 'v2.0.0-rc1']) {
        await pushImage('tags/app', tag, ['layer-1', 'layer-2']);
      }
    });

    it('answers a tag with what its manifest is', async () => {
      const res = await get('/api/v1/repositories/tags/app/-/tags/v1.2.0');
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        name: 'v1.2.0',
        digest: image.digest,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: 'application/vnd.oci.image.config.v1+json',
        size: image.size,
        platforms: null,
        created: '2024-02-03T04:05:06Z',
        pushedAt: expect.stringMatching(ISO_TIME),
        lastPulledAt: null,
        annotations: null,
        referrers: 0,
        immutable: false,
      });
      expect((await get('/api/v1/repositories/tags/app/-/tags/locked')).json).toMatchObject({
        immutable: true,
      });
      expect(await get('/api/v1/repositories/tags/app/-/tags/v9')).toMatchObject({
        status: 404,
        json: error('MANIFEST_UNKNOWN'),
      });
      expect(await get('/api/v1/repositories/nope/-/tags/v9')).toMatchObject({
        status: 404,
        json: error('NAME_UNKNOWN'),
      });
    });

    it('lists tags by semver, name and push time, filtered by pattern and paged by cursor', async () => {
      const names = async (query: string) => {
        const found: string[] = [];
        let cursor = '';
        for (let pages = 0; pages < 10; pages++) {
          const res = await get(`/api/v1/repositories/tags/app/-/tags?${query}&limit=2${cursor}`);
          expect(res.status).toBe(200);
          const page = json<{
            tags: Array<{ name: string }>;
            next: string | null;
            total: number;
            repository: string;
          }>(res);
          expect(page.repository).toBe('tags/app');
          found.push(...page.tags.map((t) => t.name));
          if (!page.next) return { found, total: page.total };
          cursor = `&cursor=${page.next}`;
        }
        throw new Error('too many pages');
      };
      expect(await names('sort=semver&order=asc')).toEqual({
        found: ['v1.2.0', 'v1.9.0', 'v1.10.0', 'v2.0.0-rc1', 'latest', 'locked'],
        total: 6,
      });
      expect((await names('sort=name')).found).toEqual([
        'latest',
        'locked',
        'v1.2.0',
        'v1.9.0',
        'v1.10.0',
        'v2.0.0-rc1',
      ]);
      expect((await names('sort=pushed')).found).toHaveLength(6);
      expect(await names('pattern=v1.*&sort=name&order=desc')).toEqual({
        found: ['v1.10.0', 'v1.9.0', 'v1.2.0'],
        total: 3,
      });
      expect(await get('/api/v1/repositories/tags/app/-/tags?pattern=v1%3F')).toMatchObject({
        status: 400,
        json: error('INVALID', 'pattern'),
      });
    });

    it('copies a tag to another repository, asking pull on the source and push on the target', async () => {
      const res = await call('POST', '/api/v1/repositories/tags/app/-/tags/v1.2.0/copy?to=copies/app:prod');
      expect(res.status).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      expect(res.json).toMatchObject({
        repository: 'copies/app',
        name: 'prod',
        digest: image.digest,
        size: image.size,
      });
      expect(asked.at(-1)).toEqual([
        { type: 'repository', name: 'tags/app', actions: ['pull'] },
        { type: 'repository', name: 'copies/app', actions: ['pull', 'push'] },
      ]);
      const changes = events.filter((e) => e.target.kind === 'manifest' && e.action !== 'pull');
      expect(changes.map((e) => [e.action, e.target.repository, e.target.tag, e.target.mediaType])).toEqual([
        ['push', 'copies/app', 'prod', MEDIA_TYPES.ociManifest],
      ]);
      const manifest = await fetch(`${base}/v2/copies/app/manifests/prod`, {
        headers: { Accept: MEDIA_TYPES.ociManifest },
      });
      expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
      await manifest.arrayBuffer();

      // Within the repository: `to` is just the tag.
      expect(await call('POST', '/api/v1/repositories/tags/app/-/tags/v1.2.0/copy?to=stable')).toMatchObject({
        status: 201,
        json: { repository: 'tags/app', name: 'stable' },
      });
      expect(await call('POST', '/api/v1/repositories/tags/app/-/tags/v1.2.0/copy')).toMatchObject({
        status: 400,
        json: error('INVALID', 'to'),
      });
      expect(await call('POST', '/api/v1/repositories/tags/app/-/tags/nope/copy?to=x')).toMatchObject({
        status: 404,
        json: error('MANIFEST_UNKNOWN'),
      });
      expect(await call('POST', '/api/v1/repositories/tags/absent/-/tags/v1/copy?to=x')).toMatchObject({
        status: 404,
        json: error('NAME_UNKNOWN'),
      });
      // A copy is a POST: JSON only (CSRF).
      expect(
        await call('POST', '/api/v1/repositories/tags/app/-/tags/v1.2.0/copy?to=x', {
          headers: { 'Content-Type': 'text/plain' },
        }),
      ).toMatchObject({ status: 400 });
    });

    it('shows a manifest by tag or digest with its image config and referrers (pull access)', async () => {
      const img = await pushImage('seen/app', 'v1', ['layer-a', 'layer-b'], '2025-05-06T07:08:09Z');
      const byTag = await get('/api/v1/repositories/seen/app/-/manifests/v1');
      expect(byTag.status).toBe(200);
      expect(asked.at(-1)).toEqual([{ type: 'repository', name: 'seen/app', actions: ['pull'] }]);
      expect(byTag.json).toMatchObject({
        digest: img.digest,
        mediaType: MEDIA_TYPES.ociManifest,
        manifest: { schemaVersion: 2, layers: [{ size: 7 }, { size: 7 }] },
        config: { created: '2025-05-06T07:08:09Z', os: 'linux', layers: ['layer-a', 'layer-b'] },
        referrers: [],
      });
      expect((await get(`/api/v1/repositories/seen/app/-/manifests/${img.digest}`)).json).toEqual(byTag.json);
      expect(await get('/api/v1/repositories/seen/app/-/manifests/nope')).toMatchObject({
        status: 404,
        json: error('MANIFEST_UNKNOWN'),
      });
    });

    it('deletes a tag, a manifest and a repository (delete access), telling webhooks of tags, manifests and the repository', async () => {
      const img = await pushImage('gone/app', 'v1', ['x']);
      await pushImage('gone/app', 'v2', ['y']);
      expect(await call('DELETE', '/api/v1/repositories/gone/app/-/tags/v2')).toMatchObject({ status: 204 });
      expect(asked.at(-1)).toEqual([{ type: 'repository', name: 'gone/app', actions: ['delete'] }]);
      expect(await call('DELETE', '/api/v1/repositories/gone/app/-/tags/v2')).toMatchObject({
        status: 404,
        json: error('MANIFEST_UNKNOWN'),
      });
      for (const what of ['tags/v1', `manifests/${img.digest}`]) {
        expect(await call('DELETE', `/api/v1/repositories/gone/absent/-/${what}`)).toMatchObject({
          status: 404,
          json: error('NAME_UNKNOWN'),
        });
      }
      expect(await call('DELETE', `/api/v1/repositories/gone/app/-/manifests/${img.digest}`)).toMatchObject({
        status: 204,
      });
      const deletes = events.filter((e) => e.action === 'delete');
      expect(deletes.map((e) => [e.action, e.target.kind, e.target.tag ?? e.target.digest])).toEqual([
        ['delete', 'tag', 'v2'],
        ['delete', 'manifest', img.digest],
      ]);
      expect(await call('DELETE', '/api/v1/repositories/gone/app/-/manifests/sha256:nothex')).toMatchObject({
        status: 400,
        json: error('DIGEST_INVALID'),
      });
      await pushImage('gone/app', 'v3', ['z']);
      const deleted = await call('DELETE', '/api/v1/repositories/gone/app');
      expect(deleted).toEqual({
        status: 200,
        headers: expect.anything(),
        json: { name: 'gone/app', deleted: { tags: 1, manifests: 2, blobs: 6 } },
      });
      expect(events.at(-1)).toMatchObject({
        action: 'delete',
        target: { kind: 'repository', repository: 'gone/app' },
      });
      expect(events.at(-1)?.target).not.toHaveProperty('digest');
      expect(await get('/api/v1/repositories/gone/app')).toMatchObject({
        status: 404,
        json: error('NAME_UNKNOWN'),
      });
      expect(await call('DELETE', '/api/v1/repositories/gone/app')).toMatchObject({ status: 404 });
    });
  });
});
