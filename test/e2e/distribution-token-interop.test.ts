// CNCF Distribution 2.8 with Berth as its token server: Distribution trusts a self-signed certificate
// of Berth's signing key and must accept Berth's tokens exactly as the Docker token spec says
// (docs/spec/auth/token.md, jwt.md): push and pull within the granted scope, 401 outside it, and a
// challenge that sends clients to Berth's realm. Tests run in order and share both registries.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, digestOf, type RawResponse } from '../support/http.js';
import {
  E2E_TEST_TIMEOUT_MS,
  startBerthProcess,
  startDistribution,
  type RegistryProcess,
} from '../support/processes.js';
import {
  BERTH_ADMIN,
  BERTH_TOKEN_SERVICE,
  berthSigningKeyPath,
  berthTokenModeEnv,
  certifyKey,
  distributionTrustingBerth,
  fetchBerthToken,
} from '../support/token-interop.js';
import { requireTools } from '../support/tools.js';
import { MEDIA } from './fixtures/oci-layout.js';

const ADMIN = { username: BERTH_ADMIN, password: 'interop-admin-password' };
const REPO = 'interop/app';
const OTHER_REPO = 'interop/other';

const enabled = requireTools('Distribution token interop', ['docker-registry', 'openssl']);

describe.skipIf(!enabled)(
  'CNCF Distribution 2.8 trusting Berth as its token server',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let work: string;
    let berth: RegistryProcess | undefined;
    let distribution: RegistryProcess | undefined;
    let api: ReturnType<typeof clientFor>;

    const layer = Buffer.from(`interop layer ${Date.now()}`);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: digestOf(config), size: config.length },
        layers: [{ mediaType: MEDIA.ociLayerGzip, digest: digestOf(layer), size: layer.length }],
      }),
    );

    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
    const adminToken = (...scopes: string[]) => fetchBerthToken(berth!.url, scopes, ADMIN);
    const challengeOf = (res: RawResponse) => String(res.headers['www-authenticate'] ?? '');

    /** POST, then PUT ?digest= to the Location Distribution answers with. */
    async function uploadBlob(token: string, blob: Buffer): Promise<RawResponse> {
      const started = await api('POST', `/v2/${REPO}/blobs/uploads/`, { headers: bearer(token) });
      expect(started.status, started.text).toBe(202);
      const location = new URL(String(started.headers.location), distribution!.url);
      location.searchParams.set('digest', digestOf(blob));
      return api('PUT', `${location.pathname}${location.search}`, {
        headers: { ...bearer(token), 'Content-Type': 'application/octet-stream' },
        body: blob,
      });
    }

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-interop-'));
      // Berth generates its signing key on its first start in token mode; the certificate is made from it.
      berth = await startBerthProcess({ env: berthTokenModeEnv(ADMIN.password) });
      const cert = await certifyKey(berthSigningKeyPath(berth.dataDir), join(work, 'berth-cert.pem'));
      distribution = await startDistribution({ extraConfig: distributionTrustingBerth(berth.url, cert) });
      api = clientFor(distribution.url);
    });

    afterAll(async () => {
      await distribution?.stop();
      await berth?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("challenges a request without a token with Berth's realm, service and the scope", async () => {
      const base = await api('GET', '/v2/');
      expect(base.status).toBe(401);
      expect(challengeOf(base)).toBe(
        `Bearer realm="${berth!.url}/auth/token",service="${BERTH_TOKEN_SERVICE}"`,
      );

      const pull = await api('GET', `/v2/${REPO}/manifests/v1`);
      expect(pull.status).toBe(401);
      expect(challengeOf(pull)).toBe(
        `Bearer realm="${berth!.url}/auth/token",service="${BERTH_TOKEN_SERVICE}",` +
          `scope="repository:${REPO}:pull"`,
      );
    });

    it('accepts a Berth token with pull,push for a blob upload and a manifest PUT', async () => {
      const token = await adminToken(`repository:${REPO}:pull,push`);
      for (const blob of [config, layer]) {
        const res = await uploadBlob(token, blob);
        expect(res.status, res.text).toBe(201);
        expect(res.headers['docker-content-digest']).toBe(digestOf(blob));
      }
      const put = await api('PUT', `/v2/${REPO}/manifests/v1`, {
        headers: { ...bearer(token), 'Content-Type': MEDIA.ociManifest },
        body: manifest,
      });
      expect(put.status, put.text).toBe(201);
      expect(put.headers['docker-content-digest']).toBe(digestOf(manifest));
    });

    it('serves the image back to a pull-only token and refuses that token a push', async () => {
      const token = await adminToken(`repository:${REPO}:pull`);
      const got = await api('GET', `/v2/${REPO}/manifests/v1`, {
        headers: { ...bearer(token), Accept: MEDIA.ociManifest },
      });
      expect(got.status, got.text).toBe(200);
      expect(got.body.equals(manifest)).toBe(true);
      expect(got.headers['docker-content-digest']).toBe(digestOf(manifest));
      const blob = await api('GET', `/v2/${REPO}/blobs/${digestOf(layer)}`, { headers: bearer(token) });
      expect(blob.status, blob.text).toBe(200);
      expect(blob.body.equals(layer)).toBe(true);

      const push = await api('POST', `/v2/${REPO}/blobs/uploads/`, { headers: bearer(token) });
      expect(push.status).toBe(401);
      expect(challengeOf(push)).toContain('error="insufficient_scope"');
    });

    it('refuses a token for another repository with 401 insufficient_scope', async () => {
      const token = await adminToken(`repository:${OTHER_REPO}:pull,push`);
      const res = await api('GET', `/v2/${REPO}/manifests/v1`, {
        headers: { ...bearer(token), Accept: MEDIA.ociManifest },
      });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.text)).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
      expect(challengeOf(res)).toBe(
        `Bearer realm="${berth!.url}/auth/token",service="${BERTH_TOKEN_SERVICE}",` +
          `scope="repository:${REPO}:pull",error="insufficient_scope"`,
      );
    });

    it("refuses a token with Berth's kid and claims but signed by another key", async () => {
      const genuine = jwt.decode(await adminToken(`repository:${REPO}:pull`), { complete: true });
      if (!genuine || typeof genuine.payload === 'string') throw new Error('Berth issued a malformed token');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const forged = jwt.sign(genuine.payload, privateKey, { algorithm: 'ES256', keyid: genuine.header.kid });
      const res = await api('GET', `/v2/${REPO}/manifests/v1`, {
        headers: { ...bearer(forged), Accept: MEDIA.ociManifest },
      });
      expect(res.status).toBe(401);
      expect(challengeOf(res)).toContain('error="invalid_token"');
    });
  },
);
