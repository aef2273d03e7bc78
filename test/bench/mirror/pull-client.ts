// A client that pulls like docker: GET /v2/, the manifest by tag (Accept: every manifest type), then
// every blob the manifest names at once. Each client has its own connections (as separate hosts
// would), hashes every body as it arrives and checks it against its descriptor, so a mirror that
// serves wrong or short bytes fails the pull instead of looking fast.
import { createHash } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { MANIFEST_ACCEPT } from '../lib/http.js';

export interface Descriptor {
  digest: string;
  size: number;
}

export type PullResult =
  { ok: true; seconds: number; bytes: number } | { ok: false; seconds: number; error: string };

export interface BlobTiming {
  /** From sending the GET to the first body byte. */
  firstByteMs: number;
  /** From sending the GET to the last byte, checked. */
  seconds: number;
}

/** Longest a pull may take before it counts as failed (a mirror that hangs must not hang the run). */
export const PULL_TIMEOUT_MS = 60_000;
const ERROR_BODY_BYTES = 300;

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  /** performance.now() of the first body byte (NaN for an empty body). */
  firstByteAt: number;
  /** The body when the status was not 200 (its first bytes), for the error message. */
  errorBody: string;
}

/** One GET; a 200 body goes to `onChunk`. Rejects when the connection breaks before the body's end. */
function get(
  url: string,
  agent: Agent,
  headers: Record<string, string>,
  signal: AbortSignal,
  onChunk: (chunk: Buffer) => void = () => {},
): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    const req = request(url, { method: 'GET', agent, headers, signal }, (res) => {
      const status = res.statusCode ?? 0;
      let firstByteAt = Number.NaN;
      let errorBody = '';
      res.on('data', (chunk: Buffer) => {
        if (Number.isNaN(firstByteAt)) firstByteAt = performance.now();
        if (status === 200) onChunk(chunk);
        else if (errorBody.length < ERROR_BODY_BYTES) errorBody += chunk.toString('utf8');
      });
      res.on('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
      res.on('close', () => {
        if (!res.complete) reject(new Error(`GET ${url}: connection cut before the end of the body`));
      });
      res.on('end', () => resolve({ status, headers: res.headers, firstByteAt, errorBody }));
    });
    req.on('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
    req.end();
  });
}

function expect200(url: string, exchange: Exchange): void {
  if (exchange.status !== 200) {
    throw new Error(
      `GET ${url} answered ${exchange.status}: ${exchange.errorBody.slice(0, ERROR_BODY_BYTES)}`,
    );
  }
}

/** GETs a blob, hashing it on the way; throws unless it is exactly `expected`. */
async function getBlob(
  base: string,
  repo: string,
  expected: Descriptor,
  agent: Agent,
  signal: AbortSignal,
): Promise<BlobTiming> {
  const url = `${base}/v2/${repo}/blobs/${expected.digest}`;
  const hash = createHash('sha256');
  let bytes = 0;
  const sent = performance.now();
  const exchange = await get(url, agent, {}, signal, (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  expect200(url, exchange);
  const digest = `sha256:${hash.digest('hex')}`;
  if (bytes !== expected.size || digest !== expected.digest) {
    throw new Error(`GET ${url}: got ${bytes} bytes with digest ${digest}, want ${expected.size} bytes`);
  }
  return { firstByteMs: exchange.firstByteAt - sent, seconds: (performance.now() - sent) / 1000 };
}

/** GETs the manifest by tag and checks that its bytes are `manifestDigest`; returns its descriptors. */
async function getManifest(
  base: string,
  repo: string,
  tag: string,
  manifestDigest: string,
  agent: Agent,
  signal: AbortSignal,
): Promise<{ bytes: number; blobs: Descriptor[] }> {
  const url = `${base}/v2/${repo}/manifests/${tag}`;
  const chunks: Buffer[] = [];
  const exchange = await get(url, agent, { accept: MANIFEST_ACCEPT }, signal, (chunk) => chunks.push(chunk));
  expect200(url, exchange);
  const body = Buffer.concat(chunks);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const announced = exchange.headers['docker-content-digest'];
  if (digest !== manifestDigest || (announced !== undefined && announced !== digest)) {
    throw new Error(
      `GET ${url}: manifest ${digest} (Docker-Content-Digest ${String(announced)}), want ${manifestDigest}`,
    );
  }
  const manifest = JSON.parse(body.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  return { bytes: body.length, blobs: [manifest.config, ...manifest.layers] };
}

function fail(started: number, err: unknown): PullResult {
  return { ok: false, seconds: (performance.now() - started) / 1000, error: (err as Error).message };
}

/** One docker-like pull of `repo:tag` from the registry at `base`, on connections of its own. */
export async function pullImage(
  base: string,
  repo: string,
  tag: string,
  manifestDigest: string,
): Promise<PullResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const signal = AbortSignal.timeout(PULL_TIMEOUT_MS);
  const started = performance.now();
  try {
    // docker pings first; 200 or 401 both let it go on.
    await get(`${base}/v2/`, agent, {}, signal);
    const manifest = await getManifest(base, repo, tag, manifestDigest, agent, signal);
    await Promise.all(manifest.blobs.map((blob) => getBlob(base, repo, blob, agent, signal)));
    const bytes = manifest.bytes + manifest.blobs.reduce((sum, blob) => sum + blob.size, 0);
    return { ok: true, seconds: (performance.now() - started) / 1000, bytes };
  } catch (err) {
    return fail(started, err);
  } finally {
    agent.destroy();
  }
}

/** `clients` docker-like pulls of one image at once; resolves with each one's result. */
export function pullConcurrently(
  clients: number,
  base: string,
  repo: string,
  tag: string,
  manifestDigest: string,
): Promise<PullResult[]> {
  return Promise.all(Array.from({ length: clients }, () => pullImage(base, repo, tag, manifestDigest)));
}

/** The manifest by tag, then one blob alone, timed to its first byte and to its (checked) end. */
export async function timeBlobPull(
  base: string,
  repo: string,
  tag: string,
  manifestDigest: string,
  blob: Descriptor,
): Promise<BlobTiming> {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const signal = AbortSignal.timeout(PULL_TIMEOUT_MS);
  try {
    await getManifest(base, repo, tag, manifestDigest, agent, signal);
    return await getBlob(base, repo, blob, agent, signal);
  } finally {
    agent.destroy();
  }
}
