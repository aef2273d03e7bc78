// Berth as the token server of CNCF Distribution 2.8 (Docker token spec, docs/spec/auth/token.md and
// jwt.md): Berth runs with auth.mode token and signs ES256 JWTs; Distribution's `auth.token` section
// trusts a self-signed certificate of Berth's signing key (its rootcertbundle) and finds that key by the
// token's `kid`, the libtrust key id of the certificate's public key (registry/auth/token/token.go).
import { join } from 'node:path';
import { runOk } from './tools.js';

/** auth.service and auth.issuer of a Berth with default settings: the JWT `aud` and `iss`. */
export const BERTH_TOKEN_SERVICE = 'berth';
export const BERTH_ADMIN = 'admin';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Environment for `berth serve` in token mode, with the first administrator's password set. */
export function berthTokenModeEnv(adminPassword: string): Record<string, string> {
  return { BERTH_AUTH_MODE: 'token', BERTH_ADMIN_PASSWORD: adminPassword };
}

/** Where Berth generates its signing key (PKCS#8 PEM) on first start in token mode. */
export function berthSigningKeyPath(dataDir: string): string {
  return join(dataDir, 'auth', 'token-signing-key.pem');
}

/** `openssl req -new -x509` over `keyPath`, written to `certPath` (one day, CN=berth); returns certPath. */
export async function certifyKey(keyPath: string, certPath: string): Promise<string> {
  await runOk(
    'openssl',
    ['req', '-new', '-x509', '-key', keyPath, '-subj', '/CN=berth', '-days', '1', '-out', certPath],
    { timeoutMs: 30_000 },
  );
  return certPath;
}

/** Distribution's extra configuration: token auth with Berth at `berthUrl` as realm and issuer. */
export function distributionTrustingBerth(berthUrl: string, certPath: string): object {
  return {
    auth: {
      token: {
        realm: `${berthUrl}/auth/token`,
        service: BERTH_TOKEN_SERVICE,
        issuer: BERTH_TOKEN_SERVICE,
        rootcertbundle: certPath,
      },
    },
  };
}

/** Berth's token endpoint with `service=berth` and one `scope` parameter per scope. */
export function tokenUrl(berthUrl: string, scopes: readonly string[]): string {
  const query = new URLSearchParams({ service: BERTH_TOKEN_SERVICE });
  for (const scope of scopes) query.append('scope', scope);
  return `${berthUrl}/auth/token?${query}`;
}

export function basicAuthorization({ username, password }: BasicCredentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** `GET /auth/token` (anonymous, or Basic with `credentials`); resolves with the `token` field. */
export async function fetchBerthToken(
  berthUrl: string,
  scopes: readonly string[],
  credentials?: BasicCredentials,
): Promise<string> {
  const url = tokenUrl(berthUrl, scopes);
  const res = await fetch(url, {
    headers: credentials ? { authorization: basicAuthorization(credentials) } : {},
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { token: string }).token;
}
