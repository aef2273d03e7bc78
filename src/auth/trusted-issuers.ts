// External token issuers whose tokens the registry accepts (auth.trustedIssuers): keys come from a PEM
// bundle of certificates or public keys, or from a JWKS document (RFC 7517) fetched over HTTP(S).
import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { libtrustKeyId } from './signing-key.js';
import type { TrustedIssuer } from './tokens.js';

interface KeyWithId {
  key: KeyObject;
  ids: string[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g;

/** Every certificate's public key and every public key in a PEM bundle. */
export function parsePemBundle(text: string, source: string): KeyWithId[] {
  const keys: KeyWithId[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const key =
      match[1] === 'CERTIFICATE' ? new X509Certificate(match[0]).publicKey : createPublicKey(match[0]);
    keys.push({ key, ids: [libtrustKeyId(key)] });
  }
  if (keys.length === 0) throw new Error(`${source}: no certificate or public key found`);
  return keys;
}

function parseJwks(document: unknown, source: string): KeyWithId[] {
  const list = (document as { keys?: unknown }).keys;
  if (!Array.isArray(list)) throw new Error(`${source}: not a JWKS document (no "keys" array)`);
  const keys: KeyWithId[] = [];
  for (const jwk of list as Array<JsonWebKey & { kid?: string; use?: string }>) {
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    keys.push({ key, ids: [...(jwk.kid ? [jwk.kid] : []), libtrustKeyId(key)] });
  }
  return keys;
}

const pick = (keys: readonly KeyWithId[], kid: string | undefined): KeyObject[] => {
  if (kid === undefined) return keys.map((k) => k.key);
  return keys.filter((k) => k.ids.includes(kid)).map((k) => k.key);
};

export interface TrustedIssuerConfig {
  issuer: string;
  service: string | null;
  certificates: string | null;
  jwksUrl: string | null;
}

export interface TrustedIssuerDeps {
  /** The service (aud) expected when an entry names none. */
  defaultService: string;
  fetchJson?: (url: string) => Promise<unknown>;
  clock: () => number;
  /** An unknown kid refetches the JWKS at most this often. */
  jwksRefetchMs?: number;
  /** Told when the JWKS cannot be fetched (tokens of that issuer then fail to verify). */
  onError?: (err: unknown) => void;
}

async function defaultFetchJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export function createTrustedIssuer(config: TrustedIssuerConfig, deps: TrustedIssuerDeps): TrustedIssuer {
  const service = config.service ?? deps.defaultService;
  if (config.certificates !== null) {
    const keys = parsePemBundle(readFileSync(config.certificates, 'utf8'), config.certificates);
    return { issuer: config.issuer, service, keysFor: async (kid) => pick(keys, kid) };
  }
  const url = config.jwksUrl ?? '';
  const fetchJson = deps.fetchJson ?? defaultFetchJson;
  const refetchMs = deps.jwksRefetchMs ?? 30_000;
  let keys: KeyWithId[] = [];
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;
  const refresh = () =>
    (pending ??= (async () => {
      try {
        keys = parseJwks(await fetchJson(url), url);
      } finally {
        fetchedAt = deps.clock();
        pending = undefined;
      }
    })());
  return {
    issuer: config.issuer,
    service,
    async keysFor(kid) {
      let found = pick(keys, kid);
      if (found.length === 0 && deps.clock() - fetchedAt >= refetchMs) {
        await refresh().catch((err: unknown) => deps.onError?.(err));
        found = pick(keys, kid);
      }
      return found;
    },
  };
}
