// X.509 for `berth tls`: a private certificate authority and the certificates it signs (the registry's
// server certificate, client certificates for mutual TLS), built with @peculiar/x509 on Node's WebCrypto.
//
// Contracts: keys are ECDSA P-256 and written as unencrypted PKCS#8 PEM; a server certificate names
// every host in subjectAltName (DNS names, or IP addresses, which clients match only against IP
// entries); validity starts an hour in the past, so a client whose clock runs a little behind accepts it.
import {
  createPrivateKey,
  KeyObject,
  randomBytes,
  X509Certificate as NodeX509,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from './x509.js';

type CryptoKey = webcrypto.CryptoKey;
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

const crypto = webcrypto;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 3_600_000;

export interface Issued {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

export interface CertificateAuthority extends Issued {
  /** Signs certificates; built from `key`. */
  signingKey: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/** A host as it goes into subjectAltName: an IP address (IPv6 without brackets) or a DNS name. */
export function parseHost(raw: string): { type: 'ip' | 'dns'; value: string } {
  const host = raw.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0) return { type: 'ip', value: host };
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
  if (host.length <= 253 && new RegExp(`^(\\*\\.)?${label}(\\.${label})*$`).test(host)) {
    return { type: 'dns', value: host.toLowerCase() };
  }
  throw new CertificateError(`"${raw}" is neither a DNS name nor an IP address`);
}

/** @peculiar/x509 takes about half a second to load: only when a certificate is made, not per command. */
const loadX509 = (): Promise<typeof X509> => import('./x509.js');

/** A distinguished name of one CN, escaped (RFC 4514). */
const commonName = (value: string) => `CN=${value.replace(/[,+"\\<>;=]/g, '\\$&')}`;

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40; // positive, and no leading zero byte
  return bytes.toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + days * DAY_MS) };
}

async function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

const keyPem = (key: CryptoKey): string =>
  KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();

/** A new self-signed CA that may sign end-entity certificates only (pathLength 0). */
export async function createCertificateAuthority(name: string, days: number): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const keys = await newKeyPair();
  const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: commonName(name),
      ...validity(days),
      keys,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return {
    cert: cert.toString('pem') + '\n',
    key: keyPem(keys.privateKey),
    signingKey: keys.privateKey,
    signingAlgorithm,
  };
}

/**
 * A CA read back from its PEM files (one that `berth tls selfsigned` wrote, or an operator's own with
 * an EC P-256/P-384 or RSA key). Refuses a certificate that is not a CA or does not match the key.
 */
export async function loadCertificateAuthority(
  certText: string,
  keyText: string,
): Promise<CertificateAuthority> {
  let cert: NodeX509;
  let key: ReturnType<typeof createPrivateKey>;
  try {
    cert = new NodeX509(certText);
    key = createPrivateKey(keyText);
  } catch (err) {
    throw new CertificateError(`cannot read the CA: ${(err as Error).message}`);
  }
  if (!cert.ca) throw new CertificateError(`${cert.subject} is not a certificate authority`);
  if (!cert.checkPrivateKey(key)) {
    throw new CertificateError('the CA key does not belong to the CA certificate');
  }
  const der = key.export({ format: 'der', type: 'pkcs8' });
  let importAs: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  let signingAlgorithm: SigningAlgorithm;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'rsa') {
    importAs = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    signingAlgorithm = importAs;
  } else if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1')) {
    const p384 = curve === 'secp384r1';
    importAs = { name: 'ECDSA', namedCurve: p384 ? 'P-384' : 'P-256' };
    signingAlgorithm = { name: 'ECDSA', hash: p384 ? 'SHA-384' : 'SHA-256' };
  } else {
    throw new CertificateError('the CA key must be RSA, or EC on P-256 or P-384');
  }
  const signingKey = await crypto.subtle.importKey('pkcs8', der, importAs, false, ['sign']);
  return { cert: certText, key: keyText, signingKey, signingAlgorithm };
}

/** Names the CA's own subjectKeyIdentifier, so chain building matches it exactly (RFC 5280 4.2.1.1). */
async function authorityKeyIdentifier(
  x509: typeof X509,
  caCert: X509.X509Certificate,
): Promise<X509.Extension> {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto);
}

export interface IssueOptions {
  /** Server certificates: the names and addresses clients connect to (the first is the subject CN). */
  hosts?: string[];
  /** Client certificates (mutual TLS): the subject CN. */
  clientName?: string;
  days: number;
}

/**
 * A certificate signed by `ca`: for a server when `hosts` are given, else for a client. It expires
 * with the CA at the latest, since clients refuse it from then on anyway.
 */
export async function issueCertificate(ca: CertificateAuthority, options: IssueOptions): Promise<Issued> {
  const hosts = (options.hosts ?? []).map(parseHost);
  const server = hosts.length > 0;
  const subjectName = server ? (hosts[0]?.value ?? '') : options.clientName;
  if (!subjectName) throw new CertificateError('give at least one host, or a client name');
  const x509 = await loadX509();
  const keys = await newKeyPair();
  const caCert = new x509.X509Certificate(ca.cert);
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await authorityKeyIdentifier(x509, caCert),
  ];
  if (server) extensions.push(new x509.SubjectAlternativeNameExtension(hosts, false));
  const { notBefore, notAfter } = validity(options.days);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: commonName(subjectName),
      issuer: caCert.subjectName,
      notBefore,
      notAfter: notAfter < caCert.notAfter ? notAfter : caCert.notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      extensions,
    },
    crypto,
  );
  return { cert: cert.toString('pem') + '\n', key: keyPem(keys.privateKey) };
}
