// A cross-repository mount without `from` (POST /v2/<name>/blobs/uploads/?mount=<digest>) with token
// auth. OCI dist-spec v1.1 "Mounting a blob from another repository": without `from` a registry MAY
// mount from any repository, answering 201, or start a session, answering 202. Berth mounts when the
// caller may pull some repository that holds the blob: for an account, what its roles and the public
// namespaces let it pull (not only what the token names); for a trusted issuer's token, what its
// access claim grants. Otherwise the answer is the 202 an unknown digest gets: nothing is linked, and
// nothing tells the caller that the blob exists.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountService, type AccountService } from '../../src/auth/accounts.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../src/metadata/sqlite-account-store.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor, digestOf, expectOciError, type RawResponse } from '../support/http.js';

const ADMIN_PASSWORD = 'mount-admin-password';
const OCTET = { 'Content-Type': 'application/octet-stream' };
const issuerKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

let berth: RunningBerth;
let bundleDir: string;
let api: ReturnType<typeof clientFor>;
let db: SqliteDatabase;
let accounts: AccountService;

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A token from Berth's token endpoint for `user`, naming only `scopes`. */
async function tokenFor(user: [string, string], scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: 'berth' });
  for (const scope of scopes) query.append('scope', scope);
  const res = await api('GET', `/auth/token?${query}`, {
    headers: { Authorization: `Basic ${Buffer.from(user.join(':')).toString('base64')}` },
  });
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { token: string }).token;
}

/** A token of the trusted issuer `corp` granting `access` (repository name → actions). */
function externalToken(access: Record<string, string[]>): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = Object.entries(access).map(([name, actions]) => ({ type: 'repository', name, actions }));
  return jwt.sign(
    { iss: 'corp', sub: 'ci-bot', aud: 'berth', iat: now, nbf: now, exp: now + 300, access: claims },
    issuerKey.privateKey,
    { algorithm: 'ES256' },
  );
}

/** Stores a fresh blob in `repo` as the administrator; returns its bytes and digest. */
async function storedBlob(repo: string): Promise<{ data: Buffer; digest: string }> {
  const data = Buffer.from(`layer of ${repo} ${Math.random()}`);
  const digest = digestOf(data);
  const admin = await tokenFor(['admin', ADMIN_PASSWORD], [`repository:${repo}:pull,push`]);
  const res = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    headers: { ...bearer(admin), ...OCTET },
    body: data,
  });
  expect(res.status, res.text).toBe(201);
  return { data, digest };
}

function mount(repo: string, digest: string, token: string): Promise<RawResponse> {
  return api('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}`, { headers: bearer(token) });
}

function expectMounted(res: RawResponse, repo: string, digest: string): void {
  expect(res.status, res.text).toBe(201);
  expect(res.headers.location).toBe(`/v2/${repo}/blobs/${digest}`);
  expect(res.headers['docker-content-digest']).toBe(digest);
}

/** What a 202 shows: the same for a blob the caller may not read as for a digest nobody stored. */
function sessionShape(res: RawResponse, repo: string) {
  expect(res.status, res.text).toBe(202);
  const location = String(res.headers.location);
  expect(location).toMatch(new RegExp(`^/v2/${repo}/blobs/uploads/[0-9a-f-]{36}$`));
  return {
    status: res.status,
    headers: Object.keys(res.headers)
      .filter((name) => !['date', 'x-request-id'].includes(name))
      .sort(),
    range: res.headers.range,
    body: res.text,
  };
}

beforeAll(async () => {
  bundleDir = await mkdtemp(join(tmpdir(), 'berth-mount-issuer-'));
  const bundle = join(bundleDir, 'corp.pem');
  await writeFile(bundle, issuerKey.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  berth = await startBerth(
    { auth: { mode: 'token', trustedIssuers: [{ issuer: 'corp', certificates: bundle }] } },
    { adminPassword: ADMIN_PASSWORD },
  );
  api = clientFor(berth.url);
  // The server's own database, as `berth user ...` would open it.
  db = openDatabase(join(berth.dataDir, 'berth.db'));
  accounts = createAccountService({
    store: createSqliteAccountStore(db),
    clock: Date.now,
    personalNamespaces: true,
  });
  await accounts.addNamespace('base-images');
  await accounts.addNamespace('shared', { public: true });
  await accounts.addUser('builder', 'builder-password');
  await accounts.setMember('base-images', 'builder', 'read');
  await accounts.addUser('loner', 'loner-password');
});

afterAll(async () => {
  db.close();
  await berth.stop();
  await rm(bundleDir, { recursive: true, force: true });
});

describe('mount without `from`, token auth', () => {
  it('mounts from a repository the account may read (role read) though the token names only the target (201)', async () => {
    const { data, digest } = await storedBlob('base-images/alpine');
    // Only the target's scope: the account's read on base-images is what allows the mount.
    const token = await tokenFor(['builder', 'builder-password'], ['repository:builder/app:pull,push']);
    expectMounted(await mount('builder/app', digest, token), 'builder/app', digest);
    const got = await api('GET', `/v2/builder/app/blobs/${digest}`, { headers: bearer(token) });
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
  });

  it('mounts from a public namespace, which every account may read (201)', async () => {
    const { digest } = await storedBlob('shared/tools');
    const token = await tokenFor(['loner', 'loner-password'], ['repository:loner/app:pull,push']);
    expectMounted(await mount('loner/app', digest, token), 'loner/app', digest);
  });

  it('starts a session (202), links nothing and tells nothing when the account may read no holder', async () => {
    const { data, digest } = await storedBlob('base-images/secret');
    const token = await tokenFor(['loner', 'loner-password'], ['repository:loner/work:pull,push']);
    const refused = await mount('loner/work', digest, token);
    const unknown = await mount('loner/work', digestOf(`never stored ${Math.random()}`), token);
    // The same answer as for a digest nobody stored: status, header names, Range and body.
    expect(sessionShape(refused, 'loner/work')).toEqual(sessionShape(unknown, 'loner/work'));
    expect(refused.headers.range).toBe('0-0');
    const head = await api('HEAD', `/v2/loner/work/blobs/${digest}`, { headers: bearer(token) });
    expect(head.status).toBe(404);
    expectOciError(
      await api('GET', `/v2/loner/work/blobs/${digest}`, { headers: bearer(token) }),
      404,
      'BLOB_UNKNOWN',
    );
    // The session is an ordinary one: the client pushes the bytes it has.
    const put = await api('PUT', `${String(refused.headers.location)}?digest=${digest}`, {
      headers: { ...bearer(token), ...OCTET },
      body: data,
    });
    expect(put.status, put.text).toBe(201);
  });

  it('mounts for a trusted issuer only from what its access claim lets it pull', async () => {
    const { digest } = await storedBlob('ext/base');
    const withPull = externalToken({ 'ext/app': ['pull', 'push'], 'ext/base': ['pull'] });
    expectMounted(await mount('ext/app', digest, withPull), 'ext/app', digest);

    const withoutPull = externalToken({ 'ext/other': ['pull', 'push'] });
    const refused = await mount('ext/other', digest, withoutPull);
    expect(refused.status, refused.text).toBe(202);
    const head = await api('HEAD', `/v2/ext/other/blobs/${digest}`, { headers: bearer(withoutPull) });
    expect(head.status).toBe(404);
  });
});
