// `berth tls`: a private certificate authority for HTTPS without a public CA. `selfsigned` writes a CA
// and a server certificate for the given hosts and prints how to start Berth with them and how docker,
// podman and skopeo come to trust the CA; `client` signs a client certificate for mutual TLS.
//
// Contracts: keys are written with mode 0600, certificates 0644; every file is written to a temporary
// name and renamed, so a Berth reloading on SIGHUP never reads half a file. A directory that already
// holds ca.crt and ca.key keeps its CA: a new server certificate from it needs nothing new on clients.
import { Command, InvalidArgumentError } from 'commander';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  CertificateError,
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  parseHost,
  type CertificateAuthority,
} from './certificates.js';

const CA_DAYS = 3650;

function positiveInt(max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    }
    return value;
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Writes `path` whole or not at all. The temporary file is new (O_EXCL, a random name), so its `mode`
 * holds: a leftover or planted file (or symlink) of that name fails the write instead of being reused.
 */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(8).toString('hex')}`;
  await writeFile(temporary, content, { mode, flag: 'wx' });
  await rename(temporary, path);
}

/** The CA in `dir` when it holds one (ca.crt and ca.key), else a new one written there. */
async function certificateAuthorityIn(
  dir: string,
  firstHost: string,
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  const [hasCert, hasKey] = [existsSync(certPath), existsSync(keyPath)];
  if (hasCert && hasKey) {
    const ca = await loadCertificateAuthority(
      await readFile(certPath, 'utf8'),
      await readFile(keyPath, 'utf8'),
    );
    return { ca, created: false };
  }
  if (hasCert || hasKey) {
    throw new CertificateError(
      `${dir} holds ${hasCert ? 'ca.crt but not ca.key' : 'ca.key but not ca.crt'}: ` +
        'restore the missing file, or remove the other to make a new CA',
    );
  }
  const day = new Date().toISOString().slice(0, 10);
  const ca = await createCertificateAuthority(`Berth CA ${firstHost} ${day}`, CA_DAYS);
  await writeAtomically(keyPath, ca.key, 0o600);
  await writeAtomically(certPath, ca.cert, 0o644);
  return { ca, created: true };
}

/** HOST:PORT as clients write it, and as certs.d directories are named: IPv6 in brackets. */
function hostPort(host: string, port: number): string {
  const { type, value } = parseHost(host);
  return type === 'ip' && value.includes(':') ? `[${value}]:${port}` : `${value}:${port}`;
}

/** A path as a shell word: quoted when it holds brackets (IPv6 hosts), which shells would glob. */
const shellWord = (path: string) => (/[[\]*?]/.test(path) ? `'${path}'` : path);

function selfsignedSteps(
  out: string,
  hosts: string[],
  port: number,
  created: boolean,
  validTo: string,
): string {
  const file = (name: string) => join(out, name);
  const lines = [
    `Wrote to ${out}:`,
    created
      ? '  ca.crt      the certificate authority (CA): clients trust it, as below'
      : '  ca.crt      the certificate authority (CA), kept from before: clients that trust it need nothing new',
    created
      ? '  ca.key      its private key: keep it secret (running this again in this directory reuses the CA)'
      : '  ca.key      its private key, kept from before',
    `  server.crt  the certificate of ${hosts.join(', ')}, valid until ${validTo.slice(0, 10)}`,
    '  server.key  its private key',
    '',
    'Start Berth with HTTPS (or set server.tls.cert and server.tls.key in the config file):',
    `  berth serve --tls-cert ${file('server.crt')} --tls-key ${file('server.key')}`,
    'After replacing the files, `kill -HUP <pid of berth>` loads them without dropping connections.',
    '',
    `Trust the CA on every Docker host (the directory is HOST:PORT as in image names; here port ${port}):`,
  ];
  for (const host of hosts) {
    const dir = `/etc/docker/certs.d/${hostPort(host, port)}`;
    lines.push(`  mkdir -p ${shellWord(dir)} && cp ${file('ca.crt')} ${shellWord(`${dir}/ca.crt`)}`);
  }
  lines.push('and for podman, skopeo and buildah:');
  for (const host of hosts) {
    const dir = `/etc/containers/certs.d/${hostPort(host, port)}`;
    lines.push(`  mkdir -p ${shellWord(dir)} && cp ${file('ca.crt')} ${shellWord(`${dir}/ca.crt`)}`);
  }
  lines.push('Check:', `  curl --cacert ${file('ca.crt')} https://${hostPort(hosts[0] ?? '', port)}/v2/`, '');
  return lines.join('\n');
}

function reportFailure(err: unknown): void {
  if (!(err instanceof CertificateError)) throw err;
  process.stderr.write(`berth: ${err.message}\n`);
  process.exitCode = 2;
}

export function tlsCommand(): Command {
  const tls = new Command('tls').description('certificates for HTTPS (server.tls) from a private CA');

  tls
    .command('selfsigned')
    .description(
      'write a CA (ca.crt, ca.key) and a server certificate (server.crt, server.key) for the hosts, ' +
        'and print how to use them',
    )
    .option(
      '--host <name>',
      'DNS name or IP address clients use to reach Berth (repeat for several)',
      collect,
      [],
    )
    .option('-o, --out <dir>', 'directory to write to; an existing ca.crt and ca.key there are reused', 'tls')
    .option('--days <n>', 'validity of the server certificate in days', positiveInt(3650), 365)
    .option('--port <port>', "Berth's port, for the printed certs.d steps", positiveInt(65535), 5000)
    .action(async (flags: { host: string[]; out: string; days: number; port: number }) => {
      try {
        if (flags.host.length === 0) throw new CertificateError('give at least one --host NAME');
        flags.host.forEach(parseHost);
        const out = resolve(flags.out);
        await mkdir(out, { recursive: true });
        const { ca, created } = await certificateAuthorityIn(out, flags.host[0] ?? '');
        const server = await issueCertificate(ca, { hosts: flags.host, days: flags.days });
        await writeAtomically(join(out, 'server.key'), server.key, 0o600);
        await writeAtomically(join(out, 'server.crt'), server.cert, 0o644);
        const validTo = new Date(new X509Certificate(server.cert).validTo).toISOString();
        process.stdout.write(selfsignedSteps(out, flags.host, flags.port, created, validTo));
      } catch (err) {
        reportFailure(err);
      }
    });

  tls
    .command('client')
    .description('sign a client certificate for mutual TLS (server.tls.clientCa) with the CA in --out')
    .requiredOption('--name <name>', 'who the certificate is for (its subject CN), e.g. ci-runner-1')
    .option(
      '-o, --out <dir>',
      'directory holding ca.crt and ca.key; NAME.cert and NAME.key are written there',
      'tls',
    )
    .option('--days <n>', 'validity in days', positiveInt(3650), 365)
    .action(async (flags: { name: string; out: string; days: number }) => {
      try {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(flags.name)) {
          throw new CertificateError('--name: letters, digits, ".", "_" and "-"');
        }
        const out = resolve(flags.out);
        const [certPath, keyPath] = [join(out, 'ca.crt'), join(out, 'ca.key')];
        if (!existsSync(certPath) || !existsSync(keyPath)) {
          throw new CertificateError(`${out} holds no ca.crt and ca.key: run \`berth tls selfsigned\` first`);
        }
        const ca = await loadCertificateAuthority(
          await readFile(certPath, 'utf8'),
          await readFile(keyPath, 'utf8'),
        );
        const client = await issueCertificate(ca, { clientName: flags.name, days: flags.days });
        await writeAtomically(join(out, `${flags.name}.key`), client.key, 0o600);
        await writeAtomically(join(out, `${flags.name}.cert`), client.cert, 0o644);
        process.stdout.write(
          [
            `Wrote ${join(out, `${flags.name}.cert`)} and ${join(out, `${flags.name}.key`)}.`,
            `Berth asks for client certificates from this CA with server.tls.clientCa: ${certPath}`,
            'Docker and podman present one that sits next to the CA in certs.d, e.g.:',
            `  cp ${join(out, `${flags.name}.cert`)} ${join(out, `${flags.name}.key`)} /etc/docker/certs.d/HOST:PORT/`,
            '',
          ].join('\n'),
        );
      } catch (err) {
        reportFailure(err);
      }
    });

  return tls;
}
