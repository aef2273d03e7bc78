// Garbage collection runs through the management API in a real Berth (auth.mode token, gc.delay 0, no
// schedule): a dry run then a real run started by POST /api/v1/gc/runs, followed until they finish,
// with what they freed; their history, newest first and paged; 409 while another process's run holds
// the lease; administrators only; refused in maintenance mode.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GC_RUN_JOB } from '../../src/gc/collector.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { waitFor } from '../support/http.js';

type User = [string, string];
const ADMIN: User = ['admin', 'gc-admin-password'];
const USER: User = ['someone', 'someone-password'];
const sha256 = (data: string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const basic = ([name, password]: User) => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;

interface Reply {
  status: number;
  json: unknown;
}

interface RunView {
  id: number;
  trigger: string;
  dryRun: boolean;
  status: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
  counts: Record<string, number> | null;
}

async function call(
  berth: RunningBerth,
  method: string,
  path: string,
  user?: User,
  body?: unknown,
): Promise<Reply> {
  const headers: Record<string, string> = user ? { Authorization: basic(user) } : {};
  if (method === 'POST') headers['Content-Type'] = 'application/json';
  const res = await fetch(`${berth.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

const errorCode = (reply: Reply) => (reply.json as { errors: Array<{ code: string }> }).errors[0]?.code;

describe('garbage collection runs API', () => {
  let berth: RunningBerth;
  /** As the administrator, unless `user` says otherwise (null: anonymous). */
  const api = (method: string, path: string, user: User | null = ADMIN, body?: unknown) =>
    call(berth, method, `/api/v1${path}`, user ?? undefined, body);

  async function v2(method: string, path: string, scope: string, body?: string, type?: string) {
    const res = await fetch(`${berth.url}/auth/token?service=berth&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic(ADMIN) },
    });
    const { token } = (await res.json()) as { token: string };
    return fetch(`${berth.url}/v2/${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(type && { 'Content-Type': type }) },
      body,
    });
  }

  /** Pushes a one-layer image; answers its digests and the bytes of its three objects. */
  async function pushImage(name: string, tag: string) {
    const scope = `repository:${name}:pull,push`;
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: 'gc-runs-api' });
    const layer = 'the only layer of an image the garbage collector will take';
    for (const data of [config, layer]) {
      const res = await v2('POST', `${name}/blobs/uploads/?digest=${sha256(data)}`, scope, data);
      expect(res.status).toBe(201);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
    });
    const res = await v2('PUT', `${name}/manifests/${tag}`, scope, manifest, MEDIA_TYPES.ociManifest);
    expect(res.status).toBe(201);
    return {
      layer: sha256(layer),
      bytes: Buffer.byteLength(config) + Buffer.byteLength(layer) + Buffer.byteLength(manifest),
    };
  }

  /** Polls the run until it has an outcome (bounded: waitFor's deadline). */
  async function finished(id: number): Promise<RunView> {
    let run: RunView | undefined;
    await waitFor(`garbage collection run ${id}`, async () => {
      const reply = await api('GET', `/gc/runs/${id}`);
      expect(reply.status).toBe(200);
      run = reply.json as RunView;
      return run.status !== 'running';
    });
    return run as RunView;
  }

  beforeAll(async () => {
    berth = await startBerth(
      {
        auth: { mode: 'token', loginLimit: { perAccount: 1000, perAddress: 1000 } },
        gc: { enabled: false, delay: '0s' },
      },
      { adminPassword: ADMIN[1] },
    );
    const [name, password] = USER;
    expect((await api('POST', '/users', ADMIN, { name, password })).status).toBe(201);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('runs a dry run then a real one in the background, and records what each freed', async () => {
    expect(await api('GET', '/gc/runs')).toEqual({ status: 200, json: { runs: [], next: null } });
    const image = await pushImage('team/app', 'v1');
    expect((await v2('DELETE', 'team/app/manifests/v1', 'repository:team/app:delete')).status).toBe(202);
    const expected = { manifestsDeleted: 1, blobsDeleted: 3, bytesFreed: image.bytes, linksRemoved: 2 };

    const dry = await api('POST', '/gc/runs', ADMIN, { dryRun: true });
    expect(dry).toMatchObject({ status: 202, json: { trigger: 'api', dryRun: true, status: 'running' } });
    const dryRun = await finished((dry.json as RunView).id);
    expect(dryRun).toMatchObject({ status: 'succeeded', error: null, counts: expected });
    expect(dryRun.finishedAt).not.toBeNull();
    const layerPath = `team/app/blobs/${image.layer}`;
    expect((await v2('GET', layerPath, 'repository:team/app:pull')).status).toBe(200);

    const real = await api('POST', '/gc/runs', ADMIN, { dryRun: false });
    expect(real).toMatchObject({ status: 202, json: { dryRun: false, status: 'running' } });
    const realId = (real.json as RunView).id;
    expect(realId).toBeGreaterThan(dryRun.id);
    const realRun = await finished(realId);
    expect(realRun).toMatchObject({ status: 'succeeded', counts: expected });
    expect(realRun.durationMs).toBeGreaterThanOrEqual(0);
    expect((await v2('GET', layerPath, 'repository:team/app:pull')).status).toBe(404);

    const list = await api('GET', '/gc/runs');
    expect((list.json as { runs: RunView[] }).runs.map((run) => [run.id, run.dryRun])).toEqual([
      [realId, false],
      [dryRun.id, true],
    ]);
    const first = (await api('GET', '/gc/runs?limit=1')).json as { runs: RunView[]; next: string };
    expect(first.runs.map((run) => run.id)).toEqual([realId]);
    expect(first.next).toEqual(expect.any(String));
    const second = await api('GET', `/gc/runs?limit=1&cursor=${first.next}`);
    expect(second.json).toMatchObject({ runs: [{ id: dryRun.id }], next: null });
    expect(errorCode(await api('GET', '/gc/runs?cursor=soon'))).toBe('INVALID');
    expect(await api('GET', `/gc/runs/${realId + 100}`)).toMatchObject({ status: 404 });
  });

  it("answers 409 while another process's run holds the lease, and starts once it is released", async () => {
    const db = openDatabase(join(berth.dataDir, 'berth.db'));
    try {
      const other = createSqliteMetadataStore(db);
      const now = Date.now();
      expect(await other.leaseJob(GC_RUN_JOB, { holder: 'another', now, until: now + 60_000 })).toBe(true);
      const before = ((await api('GET', '/gc/runs')).json as { runs: RunView[] }).runs.length;
      const refused = await api('POST', '/gc/runs', ADMIN, { dryRun: true });
      expect(refused.status).toBe(409);
      expect(errorCode(refused)).toBe('CONFLICT');
      // A refused attempt is no run: nothing recorded.
      expect(((await api('GET', '/gc/runs')).json as { runs: RunView[] }).runs).toHaveLength(before);
      await other.leaseJob(GC_RUN_JOB, { holder: 'another', now, until: now });
      const started = await api('POST', '/gc/runs', ADMIN, { dryRun: true });
      expect(started.status).toBe(202);
      expect(await finished((started.json as RunView).id)).toMatchObject({ status: 'succeeded' });
    } finally {
      db.close();
    }
  });

  it('refuses callers other than global administrators, and bodies without dryRun', async () => {
    for (const [method, path] of [
      ['GET', '/gc/runs'],
      ['GET', '/gc/runs/1'],
      ['POST', '/gc/runs'],
    ] as const) {
      const body = method === 'POST' ? { dryRun: true } : undefined;
      expect((await api(method, path, null, body)).status, `${method} ${path}`).toBe(401);
      const refused = await api(method, path, USER, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(errorCode(refused)).toBe('DENIED');
    }
    expect(errorCode(await api('POST', '/gc/runs', ADMIN, {}))).toBe('INVALID');
    expect(errorCode(await api('POST', '/gc/runs', ADMIN, { dryRun: 'yes' }))).toBe('INVALID');
  });
});

describe('garbage collection runs API in maintenance mode', () => {
  it('lists runs but refuses to start one', async () => {
    const berth = await startBerth({ server: { readOnly: true } });
    try {
      expect(await call(berth, 'GET', '/api/v1/gc/runs')).toEqual({
        status: 200,
        json: { runs: [], next: null },
      });
      const refused = await call(berth, 'POST', '/api/v1/gc/runs', undefined, { dryRun: true });
      expect(refused.status).toBe(405);
      expect(errorCode(refused)).toBe('UNSUPPORTED');
    } finally {
      await berth.stop();
    }
  });
});
