// HTTPS (server.tls) on the in-process server: the listener speaks only TLS with the configured
// certificate; a reload swaps the certificate for new handshakes while a download that started before
// runs to its last byte on the old one; files that do not load leave the certificate in use; mutual TLS
// refuses clients without a certificate from clientCa.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  issueCertificate,
  type CertificateAuthority,
  type Issued,
} from '../../src/cli/certificates.js';
import { parseConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startServer } from '../../src/server.js';
import { startBerth, type RunningBerth } from '../support/berth.js';

const MiB = 1024 * 1024;

interface TlsResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

/** One request on its own connection, trusting only `tls.ca`. */
function tlsRequest(
  baseUrl: string,
  path: string,
  tls: Pick<RequestOptions, 'ca' | 'cert' | 'key'>,
  {
    method = 'GET',
    body,
    headers = {},
  }: { method?: string; body?: Buffer; headers?: Record<string, string> } = {},
): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, baseUrl),
      { ...tls, method, headers, agent: false, timeout: 15_000 },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            fingerprint,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out: ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The fingerprint of the certificate a fresh handshake gets, verified against `ca`. */
function handshakeFingerprint(baseUrl: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Writes `issued` to cert and key files, each by rename, as an operator's tooling would. */
async function install(issued: Issued, files: { cert: string; key: string }): Promise<void> {
  for (const [path, pem] of [
    [files.cert, issued.cert],
    [files.key, issued.key],
  ] as const) {
    await writeFile(`${path}.new`, pem);
    await rename(`${path}.new`, path);
  }
}

async function pushBlob(berth: RunningBerth, ca: string, repository: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await tlsRequest(
    berth.url,
    `/v2/${repository}/blobs/uploads/?digest=${digest}`,
    { ca },
    {
      method: 'POST',
      body: data,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
    },
  );
  expect(res.status).toBe(201);
  return digest;
}

describe('HTTPS', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let first: Issued;
  let berth: RunningBerth;
  let files: { cert: string; key: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    ca = await createCertificateAuthority('Berth test CA', 1);
    first = await issueCertificate(ca, { hosts: ['127.0.0.1', 'localhost'], days: 1 });
    files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    await install(first, files);
    berth = await startBerth({ server: { tls: files } });
  });

  afterAll(async () => {
    await berth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers GET /v2/ over HTTPS with the configured certificate, and nothing over plain HTTP', async () => {
    expect(berth.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await tlsRequest(berth.url, '/v2/', { ca: ca.cert });
    expect(res.status).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(res.fingerprint).toBe(fingerprintOf(first.cert));

    await expect(tlsRequest(berth.url, '/v2/', {})).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    const plain = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${berth.url.replace('https:', 'http:')}/v2/`, (res) =>
        resolve(res.statusCode ?? 0),
      );
      req.on('error', reject);
      req.end();
    });
    await expect(plain).rejects.toThrow();
  });

  it('keeps a download that started before a reload going on the old certificate; new handshakes get the new one', async () => {
    const blob = randomBytes(32 * MiB);
    const digest = await pushBlob(berth, ca.cert, 'tls/reload', blob);

    const req = request(new URL(`/v2/tls/reload/blobs/${digest}`, berth.url), { ca: ca.cert, agent: false });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.end();
    const res = await response;
    expect(res.statusCode).toBe(200);
    const oldFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
    const hash = createHash('sha256');
    let received = await new Promise<number>((resolve) =>
      res.once('data', (chunk: Buffer) => {
        res.pause();
        hash.update(chunk);
        resolve(chunk.length);
      }),
    );
    expect(received).toBeLessThan(blob.length);

    // A certificate from another CA, so only a reload can explain a client that trusts it.
    const nextCa = await createCertificateAuthority('Berth next CA', 1);
    const next = await issueCertificate(nextCa, { hosts: ['127.0.0.1'], days: 1 });
    await install(next, files);
    expect(await berth.reloadTls?.()).toBe(true);
    expect(await handshakeFingerprint(berth.url, nextCa.cert)).toBe(fingerprintOf(next.cert));
    expect(fingerprintOf(next.cert)).not.toBe(oldFingerprint);

    const done = new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    res.resume();
    await done;
    expect(received).toBe(blob.length);
    expect(`sha256:${hash.digest('hex')}`).toBe(digest);
    expect(oldFingerprint).toBe(fingerprintOf(first.cert));

    // The first CA's clients now fail to verify: the old certificate is gone for new connections.
    await expect(handshakeFingerprint(berth.url, ca.cert)).rejects.toThrow();
    first = next;
    ca = nextCa;
  });

  it('keeps the certificate in use when the new files do not load', async () => {
    const inUse = fingerprintOf(first.cert);
    await writeFile(files.cert, 'not a certificate\n');
    expect(await berth.reloadTls?.()).toBe(false);
    expect(await handshakeFingerprint(berth.url, ca.cert)).toBe(inUse);

    // A valid certificate with the key of another: refused too.
    const other = await issueCertificate(ca, { hosts: ['127.0.0.1'], days: 1 });
    await install(
      { cert: other.cert, key: (await issueCertificate(ca, { hosts: ['x'], days: 1 })).key },
      files,
    );
    expect(await berth.reloadTls?.()).toBe(false);
    expect(await handshakeFingerprint(berth.url, ca.cert)).toBe(inUse);
    expect((await tlsRequest(berth.url, '/v2/', { ca: ca.cert })).status).toBe(200);

    await install(first, files);
  });

  it('advertises an https token realm in token mode', async () => {
    const token = await startBerth(
      { server: { tls: files }, auth: { mode: 'token' } },
      { adminPassword: 'tls-realm-admin-password' },
    );
    try {
      const res = await tlsRequest(token.url, '/v2/', { ca: ca.cert });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="${token.url}/auth/token",service="berth"`);
      expect(token.url).toMatch(/^https:/);
    } finally {
      await token.stop();
    }
  });

  it('refuses to start when a certificate file is missing, naming the setting and the file', async () => {
    const missing = join(dir, 'missing.crt');
    const config = parseConfig({
      dataDir: join(dir, 'never'),
      server: { listen: '127.0.0.1:0', tls: { cert: missing, key: files.key } },
      log: { level: 'silent' },
    });
    await expect(startServer(config, createLogger(config.log))).rejects.toThrow(
      `server.tls.cert: cannot read ${missing}`,
    );
  });
});

describe('mutual TLS (server.tls.clientCa)', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let berth: RunningBerth;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-mtls-'));
    ca = await createCertificateAuthority('Berth mTLS CA', 1);
    const server = await issueCertificate(ca, { hosts: ['127.0.0.1'], days: 1 });
    const files = {
      cert: join(dir, 'server.crt'),
      key: join(dir, 'server.key'),
      clientCa: join(dir, 'ca.crt'),
    };
    await install(server, files);
    await writeFile(files.clientCa, ca.cert);
    berth = await startBerth({ server: { tls: files } });
  });

  afterAll(async () => {
    await berth?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves a client that presents a certificate from clientCa', async () => {
    const client = await issueCertificate(ca, { clientName: 'ci-runner', days: 1 });
    const res = await tlsRequest(berth.url, '/v2/', { ca: ca.cert, cert: client.cert, key: client.key });
    expect(res.status).toBe(200);
  });

  it('refuses a client without a certificate, or with one from another CA, during the handshake', async () => {
    await expect(tlsRequest(berth.url, '/v2/', { ca: ca.cert })).rejects.toThrow();
    const stranger = await issueCertificate(await createCertificateAuthority('Other CA', 1), {
      clientName: 'intruder',
      days: 1,
    });
    await expect(
      tlsRequest(berth.url, '/v2/', { ca: ca.cert, cert: stranger.cert, key: stranger.key }),
    ).rejects.toThrow();
  });
});
