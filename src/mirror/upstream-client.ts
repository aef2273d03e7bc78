// HTTP to one upstream registry (undici): the Docker token dance, Basic credentials, redirects and
// timeouts. A client's own Authorization never reaches this code: requests carry only the credentials
// configured for the upstream, and tokens the upstream's token service issued to Berth.
// Docker token spec (token.md): a 401 with `WWW-Authenticate: Bearer realm,service,scope` sends the
// client to the realm for a token, cached here per scope until it expires.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { getDomain } from 'tldts';
import { Agent, request, type Dispatcher } from 'undici';
import { parseChallenge } from './challenge.js';

export interface UpstreamClientOptions {
  url: string;
  username: string | null;
  password: string | null;
  /** A PEM file of extra certificate authorities to trust (beside the usual ones). */
  caFile: string | null;
  connectTimeoutMs: number;
  /** Until the response headers arrive. */
  responseTimeoutMs: number;
  /** Longest pause between two pieces of a body. */
  idleTimeoutMs: number;
  userAgent: string;
  clock: () => number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { dump(): Promise<void>; text(): Promise<string> };
}

/** The upstream could not be reached or answered with a failure (429, 5xx, timeout, bad auth dance). */
export class UpstreamFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UpstreamFailure';
  }
}

/** Redirects followed per request (Docker Hub sends blob GETs to a CDN once). */
const MAX_REDIRECTS = 5;
/** Tokens are dropped this long before they expire, so none expires in flight. */
const TOKEN_MARGIN_MS = 10_000;
/** Docker token spec: a token without expires_in lasts 60 seconds. */
const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_RESPONSE_MAX_BYTES = 64 * 1024;
/** Tokens kept at most (one per repository scope). */
const MAX_CACHED_TOKENS = 1000;

export function header(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A realm is followed only on the upstream's own host or its registrable domain (auth.docker.io for
 * registry-1.docker.io), and never from https down to http: a hijacked challenge could otherwise send
 * the configured credentials anywhere.
 */
export function isRealmAllowed(upstreamUrl: string, realm: string): boolean {
  let target: URL;
  try {
    target = new URL(realm);
  } catch {
    return false;
  }
  const upstream = new URL(upstreamUrl);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && upstream.protocol === 'http:')) {
    return false;
  }
  if (target.hostname === upstream.hostname) return true;
  // Private suffixes count (amazonaws.com, azurecr.io, github.io, ...): another tenant's host there
  // is not the upstream's domain.
  const domain = getDomain(upstream.hostname, { allowPrivateDomains: true });
  return domain !== null && getDomain(target.hostname, { allowPrivateDomains: true }) === domain;
}

export function createUpstreamClient(options: UpstreamClientOptions) {
  const base = new URL(options.url);
  const agent = new Agent({
    connect: {
      timeout: options.connectTimeoutMs,
      ...(options.caFile ? { ca: [...rootCertificates, readFileSync(options.caFile, 'utf8')] } : {}),
    },
    headersTimeout: options.responseTimeoutMs,
    bodyTimeout: options.idleTimeoutMs,
  });
  const basic =
    options.username !== null && options.password !== null
      ? `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`
      : undefined;
  const tokens = new Map<string, { value: string; until: number }>();
  /** Set once the upstream asked for Basic: later requests send it up front. */
  let usesBasic = false;

  async function send(
    method: 'GET' | 'HEAD',
    url: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<UpstreamResponse> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method, headers, dispatcher: agent, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new UpstreamFailure(`${base.host} unreachable: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  async function fetchToken(params: Record<string, string>, scope: string): Promise<string> {
    const realm = params.realm ?? '';
    if (!isRealmAllowed(options.url, realm)) {
      throw new UpstreamFailure(`${base.host} sent a token realm outside its own domain: ${realm}`);
    }
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? scope);
    const headers: Record<string, string> = { 'user-agent': options.userAgent };
    if (basic) headers.authorization = basic;
    const response = await send('GET', url, headers);
    if (response.status !== 200) {
      await response.body.dump();
      throw new UpstreamFailure(`token service of ${base.host} answered ${response.status}`, response.status);
    }
    const text = await response.body.text();
    if (text.length > TOKEN_RESPONSE_MAX_BYTES)
      throw new UpstreamFailure(`oversized token from ${base.host}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new UpstreamFailure(`token service of ${base.host} answered something other than JSON`);
    }
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UpstreamFailure(`token service of ${base.host} answered no token`);
    }
    const seconds =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    // Scopes follow client-chosen names: the cache is bounded, dropping the oldest entry when full.
    if (tokens.size >= MAX_CACHED_TOKENS) tokens.delete(tokens.keys().next().value as string);
    tokens.set(scope, { value: token, until: options.clock() + seconds * 1000 - TOKEN_MARGIN_MS });
    return token;
  }

  function cachedAuthorization(scope: string): string | undefined {
    const token = tokens.get(scope);
    if (token && token.until > options.clock()) return `Bearer ${token.value}`;
    if (token) tokens.delete(scope);
    return usesBasic ? basic : undefined;
  }

  /** Follows redirects; Authorization goes only to the upstream's own origin. */
  async function sendFollowing(
    method: 'GET' | 'HEAD',
    path: string,
    headers: Record<string, string>,
    authorization: string | undefined,
    signal?: AbortSignal,
  ): Promise<UpstreamResponse> {
    let url = new URL(path, base);
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === base.origin;
      const response = await send(
        method,
        url,
        sameOrigin && authorization ? { ...headers, authorization } : headers,
        signal,
      );
      const location = header(response.headers, 'location');
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      await response.body.dump();
      if (hop === MAX_REDIRECTS) throw new UpstreamFailure(`${base.host}: too many redirects`);
      const next = new URL(location, url);
      if (url.protocol === 'https:' && next.protocol !== 'https:') {
        throw new UpstreamFailure(`${base.host} redirected from https to ${next.protocol}`);
      }
      url = next;
    }
  }

  return {
    /**
     * A GET or HEAD of `path` (below /v2/) with `scope`'s credentials, answering the upstream's
     * challenge once. The caller consumes or dumps the body.
     */
    async fetch(
      method: 'GET' | 'HEAD',
      path: string,
      scope: string,
      headers: Record<string, string> = {},
      signal?: AbortSignal,
    ): Promise<UpstreamResponse> {
      const common = { 'user-agent': options.userAgent, ...headers };
      const first = await sendFollowing(method, path, common, cachedAuthorization(scope), signal);
      if (first.status !== 401) return first;
      const challenge = parseChallenge(header(first.headers, 'www-authenticate'));
      await first.body.dump();
      let authorization: string;
      if (challenge?.scheme === 'bearer') {
        authorization = `Bearer ${await fetchToken(challenge.params, scope)}`;
      } else if (challenge?.scheme === 'basic' && basic) {
        usesBasic = true;
        authorization = basic;
      } else {
        return first;
      }
      return sendFollowing(method, path, common, authorization, signal);
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

export type UpstreamClient = ReturnType<typeof createUpstreamClient>;
