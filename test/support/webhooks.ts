// Webhook receivers for tests: real HTTP servers on 127.0.0.1 that record what Berth POSTs, and that
// can be taken down (nothing listens: connection refused), made to fail (an HTTP status) and brought
// back up on the same port. Plus a small authenticated image push, so that tests make events.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthSecrets } from '../../src/auth-composition.js';
import { parseConfig, type BerthConfigInput } from '../../src/config/schema.js';
import { startServer } from '../../src/server.js';
import { digestOf, rawRequest } from './http.js';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** When it arrived (ms). */
  at: number;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>/hook */
  url: string;
  /** Every request answered 2xx, in arrival order. */
  accepted: ReceivedWebhook[];
  /** Every request that arrived, answered or refused, in arrival order. */
  attempts: ReceivedWebhook[];
  /** Answer with `status` from now on (2xx accepts). */
  answer(status: number): void;
  /** Stop listening: connections are refused until up(). */
  down(): Promise<void>;
  /** Listen again on the same port, answering 200. */
  up(): Promise<void>;
  close(): Promise<void>;
}

async function listenOn(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let status = 200;
  const accepted: ReceivedWebhook[] = [];
  const attempts: ReceivedWebhook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      attempts.push(received);
      if (status >= 200 && status < 300) accepted.push(received);
      res.statusCode = status;
      res.end();
    });
  });
  let listening = true;
  const port = await listenOn(server, 0);
  const stop = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    accepted,
    attempts,
    answer: (next) => void (status = next),
    down: stop,
    async up() {
      status = 200;
      if (listening) return;
      await listenOn(server, port);
      listening = true;
    },
    close: stop,
  };
}

export interface BerthOnDataDir {
  url: string;
  /** Closes the server; the data directory stays (another Berth may start on it). */
  stop(): Promise<void>;
}

/**
 * An in-process Berth on `dataDir`, kept when it stops: for restarts and for replicas sharing one
 * database (startBerth in berth.ts makes a fresh directory per call and removes it).
 */
export async function startBerthOn(
  dataDir: string,
  overrides: BerthConfigInput = {},
  secrets: AuthSecrets = {},
): Promise<BerthOnDataDir> {
  const config = parseConfig({
    ...overrides,
    dataDir,
    server: { ...overrides.server, listen: '127.0.0.1:0' },
    log: { level: 'silent', ...overrides.log },
  });
  const server = await startServer(config, undefined, { announce: () => {}, ...secrets });
  return { url: `${server.scheme}://${server.address}`, stop: () => server.close() };
}

/** The `X-Berth-Signature` a receiver expects for `body` under `secret`. */
export const expectedSignature = (body: string, secret: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/** Each request's one Distribution event (the envelope's `events[0]`). */
export function distributionEvents(received: readonly ReceivedWebhook[]) {
  return received.map((r) => {
    const { events } = JSON.parse(r.body) as { events: Array<Record<string, unknown>> };
    if (events.length !== 1) throw new Error(`expected one event per request, got ${events.length}`);
    return events[0] as {
      id: string;
      action: string;
      target: { repository: string; tag?: string; digest?: string; mediaType?: string };
      actor: { name?: string };
      source: { addr: string; instanceID: string };
    };
  });
}

/** Headers of a token for `repository` (pull, push, delete) from Berth's token endpoint, as `user`. */
export async function tokenHeaders(
  baseUrl: string,
  repository: string,
  [user, password]: [string, string],
): Promise<Record<string, string>> {
  const scope = `repository:${repository}:pull,push,delete`;
  const res = await fetch(`${baseUrl}/auth/token?service=berth&scope=${encodeURIComponent(scope)}`, {
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`token for ${scope}: ${res.status} ${await res.text()}`);
  const { token } = (await res.json()) as { token: string };
  return { Authorization: `Bearer ${token}` };
}

/**
 * Pushes a config-only OCI image as `repository:tag` (a monolithic blob upload, then the manifest):
 * a blob push event and a manifest push event. Answers the manifest's digest.
 */
export async function pushSmallImage(
  baseUrl: string,
  repository: string,
  tag: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repository, tag }));
  const blob = await rawRequest(
    baseUrl,
    'POST',
    `/v2/${repository}/blobs/uploads/?digest=${digestOf(config)}`,
    {
      headers: { ...headers, 'Content-Type': 'application/octet-stream' },
      body: config,
    },
  );
  if (blob.status !== 201) throw new Error(`blob upload to ${repository}: ${blob.status} ${blob.text}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: digestOf(config),
      size: config.length,
    },
    layers: [],
  });
  const put = await rawRequest(baseUrl, 'PUT', `/v2/${repository}/manifests/${tag}`, {
    headers: { ...headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`manifest ${repository}:${tag}: ${put.status} ${put.text}`);
  return digestOf(manifest);
}
