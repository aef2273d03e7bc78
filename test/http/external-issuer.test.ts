// Berth behind an existing token server (auth.trustedIssuers): tokens signed by an external issuer are
// accepted when their key comes from the configured PEM bundle or JWKS, their iss and aud match, and
// their access claim covers the request; everything else is refused with invalid_token.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor, expectOciError } from '../support/http.js';

const pemKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const jwksKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

let berth: RunningBerth;
let api: ReturnType<typeof clientFor>;
let jwksServer: Server;
let jwksRequests = 0;

function externalToken(
  key: KeyObject,
  claims: Record<string, unknown>,
  options: { algorithm: jwt.Algorithm; keyid?: string },
): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign(
    {
      sub: 'ci-bot',
      aud: 'berth',
      exp: now + 300,
      nbf: now,
      iat: now,
      jti: `${Math.random()}`,
      access: [{ type: 'repository', name: 'ext/app', actions: ['pull', 'push'] }],
      ...claims,
    },
    key,
    options,
  );
}

beforeAll(async () => {
  jwksServer = createServer((req, res) => {
    jwksRequests += 1;
    const jwk = {
      ...jwksKey.publicKey.export({ format: 'jwk' }),
      kid: 'jwks-key-1',
      use: 'sig',
      alg: 'RS256',
    };
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;

  // The bundle is written before Berth starts, into a directory of its own.
  const bundleDir = await import('node:fs/promises').then((fs) => fs.mkdtemp('/tmp/berth-issuer-'));
  const bundle = join(bundleDir, 'issuer.pem');
  await writeFile(bundle, pemKey.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  berth = await startBerth({
    auth: {
      mode: 'token',
      trustedIssuers: [
        { issuer: 'corp-pem', certificates: bundle },
        { issuer: 'corp-jwks', service: 'registry.corp', jwksUrl },
      ],
    },
  });
  api = clientFor(berth.url);
});

afterAll(async () => {
  await berth.stop();
  await new Promise((resolve) => jwksServer.close(resolve));
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('trusted external issuers', () => {
  it('accepts a token from a PEM-configured issuer within its access claim', async () => {
    const token = externalToken(pemKey.privateKey, { iss: 'corp-pem' }, { algorithm: 'ES256' });
    const res = await api('POST', '/v2/ext/app/blobs/uploads/', { headers: bearer(token) });
    expect(res.status, res.text).toBe(202);
    const outside = await api('GET', '/v2/other/app/tags/list', { headers: bearer(token) });
    expectOciError(outside, 401, 'UNAUTHORIZED');
    expect(outside.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  it('accepts a token from a JWKS issuer, by kid, for the service configured for it', async () => {
    const token = externalToken(
      jwksKey.privateKey,
      { iss: 'corp-jwks', aud: 'registry.corp' },
      {
        algorithm: 'RS256',
        keyid: 'jwks-key-1',
      },
    );
    const res = await api('POST', '/v2/ext/app/blobs/uploads/', { headers: bearer(token) });
    expect(res.status, res.text).toBe(202);
    expect(jwksRequests).toBe(1);
  });

  it('refuses external tokens with the wrong audience, key, issuer or lifetime', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const forged = [
      externalToken(pemKey.privateKey, { iss: 'corp-pem', aud: 'registry.corp' }, { algorithm: 'ES256' }),
      externalToken(strangerKey.privateKey, { iss: 'corp-pem' }, { algorithm: 'ES256' }),
      externalToken(pemKey.privateKey, { iss: 'corp-unknown' }, { algorithm: 'ES256' }),
      externalToken(
        pemKey.privateKey,
        { iss: 'corp-pem', iat: past, nbf: past, exp: past + 60 },
        { algorithm: 'ES256' },
      ),
      externalToken(
        jwksKey.privateKey,
        { iss: 'corp-jwks', aud: 'registry.corp' },
        { algorithm: 'RS256', keyid: 'unknown-kid' },
      ),
      // The PEM issuer's key is EC: an RSA signature claiming to be from it never verifies.
      externalToken(jwksKey.privateKey, { iss: 'corp-pem' }, { algorithm: 'RS256' }),
    ];
    for (const token of forged) {
      const res = await api('GET', '/v2/', { headers: bearer(token) });
      expectOciError(res, 401, 'UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    }
  });

  it('refetches the JWKS for an unknown kid at most once per interval', async () => {
    const before = jwksRequests;
    for (let i = 0; i < 3; i += 1) {
      const token = externalToken(
        jwksKey.privateKey,
        { iss: 'corp-jwks', aud: 'registry.corp' },
        {
          algorithm: 'RS256',
          keyid: `rotated-${i}`,
        },
      );
      expect((await api('GET', '/v2/', { headers: bearer(token) })).status).toBe(401);
    }
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });
});
