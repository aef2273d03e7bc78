// HTTPS for the registry's listener (server.tls): the certificate, its key and, for mutual TLS, the CAs
// of client certificates, read from PEM files, and read again on demand (`berth serve` on SIGHUP).
//
// Contracts:
// - loadTls() rejects with a TlsError naming the setting and the file when a file cannot be read,
//   holds no certificate, or the key does not belong to the certificate.
// - A reloader swaps the server's secure context only once the new files made a valid one: connections
//   already open keep theirs and run on; handshakes from then on get the new certificate. A reload that
//   fails is logged and changes nothing. Reloads run one at a time, in the order asked.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer, ServerOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { BerthConfig } from '../config/schema.js';
import type { Logger } from '../registry/deps.js';

const WARN_BEFORE_EXPIRY_MS = 14 * 86_400_000;

/** server.tls with cert and key given (the schema requires both or neither). */
export interface TlsFiles {
  cert: string;
  key: string;
  clientCa: string | null;
}

export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}

/** What the certificate in use is, for logs and tests. */
export interface CertificateSummary {
  subject: string;
  subjectAltName: string | undefined;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as `X509Certificate.fingerprint256`). */
  fingerprint256: string;
  validTo: string;
}

export interface LoadedTls {
  context: SecureContextOptions;
  certificate: CertificateSummary;
}

/** server.tls when HTTPS is configured, else undefined. */
export function tlsFilesOf(config: BerthConfig): TlsFiles | undefined {
  const { cert, key, clientCa } = config.server.tls;
  return cert && key ? { cert, key, clientCa } : undefined;
}

async function readSetting(setting: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new TlsError(`server.tls.${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export async function loadTls(files: TlsFiles): Promise<LoadedTls> {
  const [cert, key, ca] = await Promise.all([
    readSetting('cert', files.cert),
    readSetting('key', files.key),
    files.clientCa === null ? undefined : readSetting('clientCa', files.clientCa),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`server.tls.cert: ${files.cert} holds no PEM certificate: ${(err as Error).message}`);
  }
  const context: SecureContextOptions = { cert, key, ...(ca ? { ca } : {}) };
  try {
    createSecureContext(context);
  } catch (err) {
    throw new TlsError(
      `server.tls: ${files.cert} and ${files.key}${ca ? ` and ${files.clientCa}` : ''} do not load: ` +
        (err as Error).message,
    );
  }
  return {
    context,
    certificate: {
      subject: leaf.subject.replace(/\n/g, ', '),
      subjectAltName: leaf.subjectAltName,
      fingerprint256: leaf.fingerprint256,
      validTo: new Date(leaf.validTo).toISOString(),
    },
  };
}

/** Options of the https.Server: the loaded context, and client certificates required for mutual TLS. */
export function httpsServerOptions(files: TlsFiles, loaded: LoadedTls): ServerOptions {
  const mutual = files.clientCa !== null;
  return { ...loaded.context, requestCert: mutual, rejectUnauthorized: mutual };
}

/** Logs the certificate in use, with a warning when it has expired or soon will. */
export function logCertificate(log: Logger, certificate: CertificateSummary, message: string): void {
  const left = Date.parse(certificate.validTo) - Date.now();
  const fields = { tls: certificate };
  if (left <= 0) log.warn(fields, `${message}; the certificate has EXPIRED: clients will refuse it`);
  else if (left < WARN_BEFORE_EXPIRY_MS) log.warn(fields, `${message}; the certificate expires soon`);
  else log.info(fields, message);
}

/**
 * Reads the files again and, when they load, makes them the server's context. Resolves true when the
 * new certificate is in use, false when the old one was kept (the reason is logged).
 */
export function createTlsReloader(server: HttpsServer, files: TlsFiles, log: Logger): () => Promise<boolean> {
  let queue: Promise<unknown> = Promise.resolve();
  const reloadOnce = async (): Promise<boolean> => {
    let loaded: LoadedTls;
    try {
      loaded = await loadTls(files);
    } catch (err) {
      log.error({ err }, 'TLS reload failed; the previous certificate stays in use');
      return false;
    }
    server.setSecureContext(loaded.context);
    logCertificate(log, loaded.certificate, 'TLS certificate reloaded');
    return true;
  };
  return () => {
    const next = queue.then(reloadOnce);
    queue = next;
    return next;
  };
}
