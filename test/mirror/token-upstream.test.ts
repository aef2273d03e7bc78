// An upstream with token authentication (issue 10, "Upstream auth"): the mirror does the Docker
// token dance with its configured account, caches tokens per scope, never forwards a client's own
// Authorization, and answers DENIED when its account may not read the upstream repository.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAccountService } from '../../src/auth/accounts.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { send, sha256 } from '../support/fuzz.js';
import { expectOciError } from '../support/http.js';
import { getManifest, pushLayers, randomishBlob, streamGet, type PushedManifest } from '../support/mirror.js';

const ADMIN_PASSWORD = 'upstream-admin-password';
const MIRROR_USER = 'mirror-bot';
const MIRROR_PASSWORD = 'mirror-bot-password';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function pushToken(url: string, repo: string): Promise<string> {
  const query = new URLSearchParams({ service: 'berth', scope: `repository:${repo}:pull,push` });
  const res = await send(url, 'GET', `/auth/token?${query}`, {
    headers: { Authorization: basic('admin', ADMIN_PASSWORD) },
  });
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { token: string }).token;
}

describe('an upstream with token authentication', () => {
  let upstream: RunningBerth;
  let db: SqliteDatabase;
  let proxy: FaultProxy;
  let mirror: RunningBerth;
  let privateImage: PushedManifest;
  let publicImage: PushedManifest;
  beforeAll(async () => {
    upstream = await startBerth({ auth: { mode: 'token' } }, { adminPassword: ADMIN_PASSWORD });
    // The same database the upstream uses, as `berth user ...` would open it.
    db = openDatabase(join(upstream.dataDir, 'berth.db'));
    const accounts = createAccountService({
      store: createSqliteAccountStore(db),
      clock: Date.now,
      personalNamespaces: false,
    });
    await accounts.addUser(MIRROR_USER, MIRROR_PASSWORD);
    await accounts.addUser('someone', 'someone-password');
    await accounts.addNamespace('private');
    await accounts.addNamespace('pub', { public: true });
    await accounts.setMember('private', MIRROR_USER, 'read');
    const auth = async (repo: string) => ({ Authorization: `Bearer ${await pushToken(upstream.url, repo)}` });
    privateImage = await pushLayers(upstream.url, 'private/app', 'v1', [randomishBlob(50_000, 'private')], {
      headers: await auth('private/app'),
    });
    publicImage = await pushLayers(upstream.url, 'pub/app', 'v1', [randomishBlob(50_000, 'public')], {
      headers: await auth('pub/app'),
    });

    proxy = await startFaultProxy(upstream.url);
    mirror = await startBerth({
      mirror: {
        upstreams: [
          {
            name: 'authed',
            prefix: 'authed',
            url: proxy.url,
            username: MIRROR_USER,
            password: MIRROR_PASSWORD,
          },
          { name: 'anon', prefix: 'anon', url: proxy.url },
        ],
      },
    });
  });
  afterAll(async () => {
    await mirror?.stop();
    await proxy?.stop();
    db?.close();
    await upstream?.stop();
  });
  beforeEach(() => proxy.reset());

  it('pulls a private image with its configured account through the token dance', async () => {
    const res = await getManifest(mirror.url, 'authed/private/app', 'v1');
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe(privateImage.manifest);
    for (const blob of [privateImage.config, ...privateImage.layers]) {
      const got = await streamGet(mirror.url, `/v2/authed/private/app/blobs/${sha256(blob)}`);
      expect(got.complete, got.error).toBe(true);
      expect(sha256(got.body)).toBe(sha256(blob));
    }
    // Challenged once (401), then the token for repository:private/app:pull serves every request.
    expect(proxy.exchanges[0]).toMatchObject({ method: 'HEAD', status: 401 });
    expect(proxy.exchanges[0]?.headers.authorization).toBeUndefined();
    const after = proxy.exchanges.slice(1);
    expect(after.map((e) => e.status)).toEqual(after.map(() => 200));
    for (const exchange of after) expect(exchange.headers.authorization).toMatch(/^Bearer \S+$/);
  });

  it("never forwards a client's own Authorization upstream", async () => {
    const clientAuth = basic('someone', 'someone-password');
    const res = await send(mirror.url, 'GET', `/v2/authed/private/app/manifests/${privateImage.digest}`, {
      headers: { Authorization: clientAuth, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status, res.text).toBe(200);
    const blob = await streamGet(
      mirror.url,
      `/v2/authed/pub/app/blobs/${sha256(publicImage.layers[0] as Buffer)}`,
      {
        headers: { Authorization: clientAuth },
      },
    );
    expect(blob.complete).toBe(true);
    const tagged = await send(mirror.url, 'GET', '/v2/anon/pub/app/manifests/v1', {
      headers: { Authorization: clientAuth, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(tagged.text).toBe(publicImage.manifest);
    expect(proxy.exchanges.length).toBeGreaterThan(0);
    for (const exchange of proxy.exchanges) {
      expect(exchange.headers.authorization, `${exchange.method} ${exchange.path}`).not.toBe(clientAuth);
      expect(exchange.headers.authorization ?? 'Bearer x').toMatch(/^Bearer /);
    }
  });

  it('pulls a public image anonymously', async () => {
    const res = await getManifest(mirror.url, 'anon/pub/app', publicImage.digest);
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe(publicImage.manifest);
  });

  it('answers 403 DENIED when the anonymous mirror may not read the private repository', async () => {
    expectOciError(await getManifest(mirror.url, 'anon/private/app', 'v1'), 403, 'DENIED');
    expectOciError(await getManifest(mirror.url, 'anon/private/app', privateImage.digest), 403, 'DENIED');
    expectOciError(
      await send(mirror.url, 'GET', `/v2/anon/private/app/blobs/${sha256(privateImage.layers[0] as Buffer)}`),
      403,
      'DENIED',
    );
    // The upstream refused every request: nothing reached the cache.
    expect(proxy.exchanges.every((e) => e.status === 401 || e.status === 403)).toBe(true);
  });
});
