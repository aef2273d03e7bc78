// `berth tls selfsigned|client` and the HTTPS flags, as users run them (the built CLI): the files and
// their modes, certificates that verify against the CA with the right names and purposes, the printed
// steps, and a `berth serve --tls-cert/--tls-key` that picks up a new certificate on SIGHUP.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { BerthConfig } from '../../src/config/schema.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { waitFor } from '../support/http.js';
import { startBerthProcess, type RegistryProcess } from '../support/processes.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cli-tls-'));
  dirs.push(dir);
  return dir;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const certificate = async (path: string) => new X509Certificate(await readFile(path));

/** The fingerprint of the certificate a new handshake with `host:port` gets, verified against `ca`. */
function handshakeFingerprint(hostPort: string, ca: Buffer): Promise<string> {
  const [host, port] = [
    hostPort.slice(0, hostPort.lastIndexOf(':')),
    hostPort.slice(hostPort.lastIndexOf(':') + 1),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

beforeAll(ensureBuilt, 180_000);

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('berth tls selfsigned', () => {
  it('writes a CA and a server certificate for every host, keys 0600, and prints the steps', async () => {
    const out = await tempDir();
    const run = await runBerth([
      'tls',
      'selfsigned',
      '--host',
      '127.0.0.1',
      '--host',
      'registry.example.com',
      '--out',
      out,
      '--port',
      '5443',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(await mode(join(out, 'ca.key'))).toBe(0o600);
    expect(await mode(join(out, 'server.key'))).toBe(0o600);
    expect(await mode(join(out, 'ca.crt'))).toBe(0o644);
    expect(await mode(join(out, 'server.crt'))).toBe(0o644);

    const ca = await certificate(join(out, 'ca.crt'));
    const server = await certificate(join(out, 'server.crt'));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toBe('IP Address:127.0.0.1, DNS:registry.example.com');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('registry.example.com')).toBe('registry.example.com');
    expect(server.keyUsage).toEqual([SERVER_AUTH]);
    expect(server.checkPrivateKey(createPrivateKey(await readFile(join(out, 'server.key'))))).toBe(true);

    expect(run.stdout).toContain(
      `berth serve --tls-cert ${join(out, 'server.crt')} --tls-key ${join(out, 'server.key')}`,
    );
    expect(run.stdout).toContain(
      `mkdir -p /etc/docker/certs.d/registry.example.com:5443 && ` +
        `cp ${join(out, 'ca.crt')} /etc/docker/certs.d/registry.example.com:5443/ca.crt`,
    );
    expect(run.stdout).toContain(
      `mkdir -p /etc/containers/certs.d/127.0.0.1:5443 && ` +
        `cp ${join(out, 'ca.crt')} /etc/containers/certs.d/127.0.0.1:5443/ca.crt`,
    );
  });

  it('keeps the CA of a directory that has one, so clients that trust it need nothing new', async () => {
    const out = await tempDir();
    expect((await runBerth(['tls', 'selfsigned', '--host', 'localhost', '--out', out])).code).toBe(0);
    const caBefore = await readFile(join(out, 'ca.crt'), 'utf8');
    const serverBefore = await readFile(join(out, 'server.crt'), 'utf8');
    const again = await runBerth(['tls', 'selfsigned', '--host', 'localhost', '--out', out, '--days', '30']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('kept from before');
    expect(await readFile(join(out, 'ca.crt'), 'utf8')).toBe(caBefore);
    const server = await certificate(join(out, 'server.crt'));
    expect(server.toString()).not.toBe(serverBefore);
    expect(server.checkIssued(new X509Certificate(caBefore))).toBe(true);
    expect(Date.parse(server.validTo) - Date.now()).toBeLessThan(31 * 86_400_000);
  });

  it.each([
    [[], 'give at least one --host NAME'],
    [['--host', 'not a host!'], '"not a host!" is neither a DNS name nor an IP address'],
    [['--host', 'a.example', '--days', '0'], 'a whole number from 1 to 3650'],
  ])('refuses %j, saying why', async (args, message) => {
    const run = await runBerth(['tls', 'selfsigned', '--out', await tempDir(), ...args]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
  });
});

describe('berth tls client', () => {
  it('signs a client certificate with the CA of --out', async () => {
    const out = await tempDir();
    expect((await runBerth(['tls', 'selfsigned', '--host', 'localhost', '--out', out])).code).toBe(0);
    const run = await runBerth(['tls', 'client', '--name', 'ci-runner', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    expect(await mode(join(out, 'ci-runner.key'))).toBe(0o600);
    const client = await certificate(join(out, 'ci-runner.cert'));
    expect(client.subject).toBe('CN=ci-runner');
    expect(client.keyUsage).toEqual([CLIENT_AUTH]);
    expect(client.checkIssued(await certificate(join(out, 'ca.crt')))).toBe(true);
    expect(run.stdout).toContain(`server.tls.clientCa: ${join(out, 'ca.crt')}`);
  });

  it('exits 2 when --out holds no CA', async () => {
    const run = await runBerth(['tls', 'client', '--name', 'ci', '--out', await tempDir()]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/holds no ca\.crt and ca\.key: run `berth tls selfsigned` first/);
  });
});

describe('--tls-cert and --tls-key', () => {
  it('are listed by serve --help', async () => {
    const run = await runBerth(['serve', '--help']);
    expect(run.stdout).toMatch(/--tls-cert <file>/);
    expect(run.stdout).toMatch(/--tls-key <file>/);
  });

  it('set server.tls in config check, and one without the other is refused naming the key', async () => {
    const run = await runBerth([
      'config',
      'check',
      '--tls-cert',
      '/etc/berth/s.crt',
      '--tls-key',
      '/etc/berth/s.key',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect((parseYaml(run.stdout) as BerthConfig).server.tls).toEqual({
      cert: '/etc/berth/s.crt',
      key: '/etc/berth/s.key',
      clientCa: null,
    });
    const half = await runBerth(['config', 'check', '--tls-cert', '/etc/berth/s.crt']);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('server.tls.key: cert and key go together');
  });
});

describe('berth serve with HTTPS', () => {
  let out: string;
  let berth: RegistryProcess;

  beforeAll(async () => {
    out = await tempDir();
    expect((await runBerth(['tls', 'selfsigned', '--host', '127.0.0.1', '--out', out])).code).toBe(0);
    berth = await startBerthProcess({
      tls: {
        cert: join(out, 'server.crt'),
        key: join(out, 'server.key'),
        ca: await readFile(join(out, 'ca.crt')),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await berth?.stop();
  });

  it('logs that it listens on https, and loads a new certificate on SIGHUP', async () => {
    const listening = berth
      .output()
      .split('\n')
      .find((line) => line.includes('"berth listening"'));
    expect(JSON.parse(listening ?? '{}')).toMatchObject({ scheme: 'https', address: berth.host });
    const ca = await readFile(join(out, 'ca.crt'));
    const before = await handshakeFingerprint(berth.host, ca);
    expect(before).toBe((await certificate(join(out, 'server.crt'))).fingerprint256);

    expect((await runBerth(['tls', 'selfsigned', '--host', '127.0.0.1', '--out', out])).code).toBe(0);
    const after = (await certificate(join(out, 'server.crt'))).fingerprint256;
    expect(after).not.toBe(before);
    process.kill(berth.pid, 'SIGHUP');
    await waitFor(
      'the "TLS certificate reloaded" log line',
      () => berth.output().includes('TLS certificate reloaded'),
      10_000,
    );
    expect(await handshakeFingerprint(berth.host, ca)).toBe(after);
  });
});
