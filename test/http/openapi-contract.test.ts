// Contract tests driven by the OpenAPI document Berth serves (/api/v1/openapi.json): the document is
// valid OpenAPI 3.1 whose every schema compiles (JSON Schema 2020-12), every GET answers with a status
// the document lists and a body its schema accepts, and every operation that is not open refuses a
// caller without credentials. The operations come from the document, so a route added to the table
// is tested without touching this file.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';

const ADMIN_PASSWORD = 'contract-admin-password';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const REPO = 'team/app';
const TAG = '1.0';

interface Operation {
  operationId: string;
  parameters: Array<{ name: string; in: string; required: boolean }>;
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
  security?: object[];
  'x-berth-access': string;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

let berth: RunningBerth;
let doc: OpenApi;
let manifestDigest: string;
let configDigest: string;
const ajv = new Ajv2020({ strict: false, allErrors: true });

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function token(scope: string): Promise<string> {
  const res = await fetch(`${berth.url}/auth/token?service=berth&scope=${encodeURIComponent(scope)}`, {
    headers: { Authorization: ADMIN },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Pushes a one-layer image as the administrator, through /v2. */
async function pushImage(): Promise<string> {
  const auth = { Authorization: `Bearer ${await token(`repository:${REPO}:pull,push`)}` };
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-01-02T03:04:05Z' }),
  );
  const layer = Buffer.from('a layer of the contract test');
  for (const blob of [config, layer]) {
    const res = await fetch(`${berth.url}/v2/${REPO}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
      body: blob,
    });
    expect(res.status).toBe(201);
  }
  const manifest = Buffer.from(
    JSON.stringify({
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
    }),
  );
  const res = await fetch(`${berth.url}/v2/${REPO}/manifests/${TAG}`, {
    method: 'PUT',
    headers: { ...auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  expect(res.status).toBe(201);
  configDigest = sha256(config);
  return sha256(manifest);
}

/** Values for path parameters, from the image pushed above. */
function pathFor(template: string): string | undefined {
  // `name` is a repository, except in the accounts API (a user or a namespace).
  const name = template.startsWith('/api/v1/users/')
    ? 'admin'
    : template.startsWith('/api/v1/robots/')
      ? 'ci'
      : template.startsWith('/api/v1/namespaces/')
        ? 'team'
        : REPO;
  const values: Record<string, string> = {
    name,
    reference: TAG,
    tag: TAG,
    digest: template.includes('/blobs/') ? configDigest : manifestDigest,
    namespace: 'team',
    account: 'admin',
  };
  let missing = false;
  const path = template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) missing = true;
    return value ?? '';
  });
  return missing ? undefined : path;
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  );

beforeAll(async () => {
  berth = await startBerth(
    { auth: { mode: 'token' }, metrics: { enabled: true } },
    { adminPassword: ADMIN_PASSWORD },
  );
  const res = await fetch(`${berth.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApi;
  manifestDigest = await pushImage();
  for (const [path, body] of [
    ['/api/v1/robots', { name: 'ci' }],
    ['/api/v1/namespaces', { name: 'team' }],
  ] as const) {
    const created = await fetch(`${berth.url}${path}`, {
      method: 'POST',
      headers: { Authorization: ADMIN, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(created.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await berth?.stop();
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with the OCI API, the management API and itself', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v2/',
        '/v2/{name}/manifests/{reference}',
        '/v2/{name}/blobs/{digest}',
        '/api/v1/users',
        '/api/v1/openapi.json',
      ]),
    );
  });

  it('declares every path parameter, has unique operation ids, and schemas that compile', () => {
    const ids = new Set<string>();
    for (const { path, operation } of operations()) {
      expect(ids.has(operation.operationId), operation.operationId).toBe(false);
      ids.add(operation.operationId);
      const declared = operation.parameters.filter((p) => p.in === 'path').map((p) => p.name);
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(declared.sort(), path).toEqual(inPath.sort());
      for (const response of Object.values(operation.responses)) {
        for (const media of Object.values(response.content ?? {})) {
          if (media.schema) expect(() => ajv.compile(media.schema as object), path).not.toThrow();
        }
      }
    }
  });
});

describe('the answers', () => {
  it('of every GET have a documented status and a body the documented schema accepts', async () => {
    let checked = 0;
    for (const { path, method, operation } of operations()) {
      if (method !== 'GET') continue;
      const url = pathFor(path);
      if (url === undefined) continue;
      const authorization = url.startsWith('/v2/')
        ? `Bearer ${await token(url === '/v2/_catalog' ? 'registry:catalog:*' : `repository:${REPO}:pull`)}`
        : ADMIN;
      const res = await fetch(`${berth.url}${url}`, {
        headers: { Authorization: authorization, Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const documented = operation.responses[String(res.status)];
      expect(documented, `${method} ${url} answered ${res.status}`).toBeDefined();
      expect(res.status, `${method} ${url}`).toBeLessThan(400);
      const schema = documented?.content?.['application/json']?.schema;
      const text = await res.text();
      if (schema) {
        const validate = ajv.compile(schema);
        const valid = validate(JSON.parse(text));
        expect(valid, `${method} ${url}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('of every operation that is not open refuse a caller without credentials', async () => {
    let checked = 0;
    for (const { path, method, operation } of operations()) {
      if (operation['x-berth-access'] === 'open') continue;
      const url = (pathFor(path) ?? path.replace(/\{[^}]+\}/g, 'x')).replace('{uuid}', 'x');
      const res = await fetch(`${berth.url}${url}`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: method === 'GET' ? undefined : '{}',
      });
      const text = await res.text();
      // Listings of repositories are open to everyone and filtered: nothing is public here.
      if (res.status === 200 && method === 'GET') {
        expect(text, `${method} ${url}`).not.toContain(REPO);
      } else {
        expect(res.status, `${method} ${url}: ${text}`).toBe(401);
        expect(res.headers.get('www-authenticate'), `${method} ${url}`).toBeTruthy();
      }
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(30);
  });
});
