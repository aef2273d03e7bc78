// The built `berth` command as users run it: a child process of `node dist/src/main.js`.
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultConfig } from '../../src/config/schema.js';
import { cleanEnv, ensureBuilt } from '../support/cli.js';
import { clientFor, openRequest, waitFor } from '../support/http.js';
import { berthEntry, repoRoot } from '../support/processes.js';

const packageVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

const RUN_TIMEOUT_MS = 20_000;

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ChildProcess;
  exited: Promise<Finished>;
  output: () => { stdout: string; stderr: string };
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function startCli(args: string[], env: Record<string, string> = {}, cwd?: string): Started {
  const child = spawn(process.execPath, [berthEntry, ...args], {
    cwd: cwd ?? tmpdir(),
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Finished>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code, signal) => {
      children.delete(child);
      done({ code, signal, stdout, stderr });
    });
  });
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Runs the CLI to completion, killing it when it outlives `timeoutMs`. */
async function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Finished> {
  const started = startCli(args, env, cwd);
  const timer = setTimeout(() => started.child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    return await started.exited;
  } finally {
    clearTimeout(timer);
  }
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
  tempDirs.push(dir);
  return dir;
}

/** A config file with `text`, in a directory of its own. */
async function configFile(text: string): Promise<string> {
  const file = join(await tempDir(), 'berth.yaml');
  await writeFile(file, text);
  return file;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

interface Serving extends Started {
  /** host:port from the "berth listening" log line. */
  address: string;
  url: string;
}

/** Starts `berth serve …` and resolves once it logs that it listens. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const started = startCli(['serve', ...args], env);
  let address: string | undefined;
  await Promise.race([
    waitFor(
      '"berth listening" in the log',
      () => {
        for (const line of started.output().stdout.split('\n')) {
          if (!line.includes('berth listening')) continue;
          address = (JSON.parse(line) as { address: string }).address;
        }
        return address !== undefined;
      },
      RUN_TIMEOUT_MS,
    ),
    started.exited.then((finished) => {
      throw new Error(
        `berth exited (${finished.code}) before listening: ${finished.stderr}${finished.stdout}`,
      );
    }),
  ]);
  return { ...started, address: address ?? '', url: `http://${address}` };
}

beforeAll(ensureBuilt, 180_000);

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
});

afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe('berth --help and --version', () => {
  it('lists the serve and config commands in --help', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: berth /);
    expect(run.stdout).toMatch(/^\s+serve \[options\]\s+start the registry/m);
    expect(run.stdout).toMatch(/^\s+config\s+inspect configuration/m);
  });

  it('lists the flags of serve in serve --help', async () => {
    const run = await runCli(['serve', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: berth serve \[options\]/);
    expect(run.stdout).toMatch(/-l, --listen <host:port>/);
    expect(run.stdout).toMatch(/-d, --data <dir>/);
    expect(run.stdout).toMatch(/-a, --auth <mode>.*\(choices: "none", "htpasswd", "token"\)/s);
    expect(run.stdout).toMatch(/-c, --config <file>[\s\S]*BERTH_CONFIG/);
  });

  it.each(['--version', '-v'])('prints the version of package.json for %s', async (flag) => {
    const run = await runCli([flag]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${packageVersion}\n`);
  });

  it('exits non-zero and shows help for an unknown command', async () => {
    const run = await runCli(['sail']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/unknown command 'sail'/);
  });
});

describe('berth serve', () => {
  it('answers GET /v2/ on the --listen address, keeping its data in --data', async () => {
    const port = await freePort();
    const data = join(await tempDir(), 'data');
    const server = await serve(['--listen', `127.0.0.1:${port}`, '--data', data]);
    expect(server.address).toBe(`127.0.0.1:${port}`);
    const res = await clientFor(server.url)('GET', '/v2/');
    expect(res.status).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(existsSync(join(data, 'berth.db'))).toBe(true);

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('keeps serving after SIGHUP without HTTPS (nothing to reload), and logs so', async () => {
    const port = await freePort();
    const server = await serve(['--listen', `127.0.0.1:${port}`, '--data', join(await tempDir(), 'hup')]);
    server.child.kill('SIGHUP');
    await waitFor('the SIGHUP log line', () => server.output().stdout.includes('nothing to reload'), 10_000);
    expect((await clientFor(server.url)('GET', '/v2/')).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('turns token auth on with --auth token, printing a generated admin password once', async () => {
    const port = await freePort();
    const data = join(await tempDir(), 'auth');
    const server = await serve(['--listen', `127.0.0.1:${port}`, '--data', data, '--auth', 'token']);
    const api = clientFor(server.url);
    const challenge = await api('GET', '/v2/');
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toBe(
      `Bearer realm="${server.url}/auth/token",service="berth"`,
    );
    const password = /^ {4}(\S+)$/m.exec(server.output().stderr)?.[1] ?? '';
    expect(password).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(server.output().stdout).not.toContain(password);
    const basic = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    const token = await api('GET', '/auth/token?service=berth', { headers: { Authorization: basic } });
    expect(token.status).toBe(200);
    expect(existsSync(join(data, 'auth', 'token-signing-key.pem'))).toBe(true);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);

    // The second start keeps the account and prints no password.
    const again = await serve(['--listen', `127.0.0.1:${port}`, '--data', data, '--auth', 'token']);
    expect(again.output().stderr).not.toContain('password');
    expect(
      (await clientFor(again.url)('GET', '/auth/token', { headers: { Authorization: basic } })).status,
    ).toBe(200);
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });

  it('takes the first admin password from BERTH_ADMIN_PASSWORD and never prints it', async () => {
    const port = await freePort();
    const data = join(await tempDir(), 'admin-env');
    const server = await serve(['--listen', `127.0.0.1:${port}`, '--data', data], {
      BERTH_AUTH_MODE: 'token',
      BERTH_ADMIN_PASSWORD: 'from-the-environment',
    });
    const basic = `Basic ${Buffer.from('admin:from-the-environment').toString('base64')}`;
    const token = await clientFor(server.url)('GET', '/auth/token', { headers: { Authorization: basic } });
    expect(token.status).toBe(200);
    const output = server.output();
    expect(`${output.stdout}${output.stderr}`).not.toContain('from-the-environment');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('listens on BERTH_SERVER_LISTEN and keeps its data in BERTH_DATA_DIR', async () => {
    const port = await freePort();
    const data = join(await tempDir(), 'from-env');
    const server = await serve([], { BERTH_SERVER_LISTEN: `127.0.0.1:${port}`, BERTH_DATA_DIR: data });
    expect(server.address).toBe(`127.0.0.1:${port}`);
    expect((await clientFor(server.url)('GET', '/v2/')).status).toBe(200);
    expect(existsSync(join(data, 'berth.db'))).toBe(true);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('exits 1 with a fatal log line when the listen address is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const { port } = blocker.address() as { port: number };
    try {
      const run = await runCli(['serve', '--listen', `127.0.0.1:${port}`, '--data', await tempDir()]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/"level":60.*EADDRINUSE.*"msg":"berth failed to start"/);
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  });
});

describe('bad settings', () => {
  interface BadCase {
    args?: string[];
    env?: Record<string, string>;
    file?: string;
    mentions: Array<string | RegExp>;
    notMentions?: string[];
  }

  const cases: Array<[string, BadCase]> = [
    [
      '--listen that is not HOST:PORT',
      {
        args: ['--listen', 'nonsense'],
        mentions: ['server.listen', 'HOST:PORT'],
        notMentions: ['port above'],
      },
    ],
    [
      '--listen with a port above 65535',
      { args: ['--listen', '127.0.0.1:70000'], mentions: ['server.listen', 'port above 65535'] },
    ],
    [
      'a config file with an unknown key',
      {
        file: 'server:\n  listen: 127.0.0.1:0\n  bogus: 1\n',
        mentions: ['server.bogus', /unrecognized key/i],
      },
    ],
    [
      'a config file with an unknown top-level key',
      { file: 'storge:\n  driver: memory\n', mentions: ['storge', /unrecognized key/i] },
    ],
    [
      'a config file with a wrong type',
      {
        file: 'limits:\n  manifestMaxBytes: big\n',
        mentions: ['limits.manifestMaxBytes', /expected number/],
      },
    ],
    [
      'a config file with a bad duration',
      { file: 'uploads:\n  maxAge: soon\n', mentions: ['uploads.maxAge', /duration/] },
    ],
    [
      'a config file with an unknown storage driver',
      { file: 'storage:\n  driver: floppy\n', mentions: ['storage.driver', 'filesystem', 'memory'] },
    ],
    ['a config file that is not YAML', { file: 'server: [unclosed\n', mentions: ['not valid YAML'] }],
    ['a config file that is a list', { file: '- a\n- b\n', mentions: ['must hold a mapping'] }],
    [
      'BERTH_STORAGE_DELETE_ENABLED=maybe',
      { env: { BERTH_STORAGE_DELETE_ENABLED: 'maybe' }, mentions: ['storage.delete.enabled', /boolean/] },
    ],
    [
      'BERTH_LIMITS_MANIFEST_MAX_BYTES=lots',
      { env: { BERTH_LIMITS_MANIFEST_MAX_BYTES: 'lots' }, mentions: ['limits.manifestMaxBytes', /number/] },
    ],
    [
      'an unknown BERTH_FOO variable',
      { env: { BERTH_FOO: '1' }, mentions: ['BERTH_FOO', 'unknown environment variable'] },
    ],
  ];

  it.each(cases)('exits 2 naming the key and the reason for %s', async (_what, bad) => {
    const data = join(await tempDir(), 'data');
    const file = bad.file === undefined ? [] : ['--config', await configFile(bad.file)];
    const run = await runCli(['serve', '--data', data, ...file, ...(bad.args ?? [])], bad.env);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/^berth: /);
    for (const mention of bad.mentions) {
      if (typeof mention === 'string') expect(run.stderr).toContain(mention);
      else expect(run.stderr).toMatch(mention);
    }
    for (const absent of bad.notMentions ?? []) expect(run.stderr).not.toContain(absent);
    expect(run.stdout).not.toContain('berth listening');
    expect(existsSync(data), 'a refused configuration must not create the data directory').toBe(false);
  });

  it('names the file that could not be read', async () => {
    const missing = join(await tempDir(), 'nowhere.yaml');
    const run = await runCli(['config', 'check', '--config', missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot read config file ${missing}`);
  });

  it('reads the config file named by BERTH_CONFIG', async () => {
    const run = await runCli(['config', 'check'], {
      BERTH_CONFIG: await configFile('log:\n  level: loud\n'),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('log.level');
  });
});

describe('berth config check', () => {
  it('never prints a secret: the S3 secret key and the PostgreSQL password are redacted', async () => {
    const run = await runCli(['config', 'check'], {
      BERTH_METADATA_DRIVER: 'postgres',
      BERTH_METADATA_POSTGRES_URL: 'postgres://berth:hunter2-pg@db.internal:5432/berth',
      BERTH_STORAGE_S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      BERTH_STORAGE_S3_SECRET_ACCESS_KEY: 'hunter2-s3',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/hunter2/);
    const shown = parseYaml(run.stdout) as ReturnType<typeof defaultConfig>;
    expect(shown.metadata.postgres.url).toBe('postgres://berth:%3Credacted%3E@db.internal:5432/berth');
    expect(shown.storage.s3.secretAccessKey).toBe('<redacted>');
  });

  it('never prints mirror credentials or webhook secrets and header values', async () => {
    const file = await configFile(
      [
        'mirror:',
        '  upstreams:',
        '    - name: hub',
        '      url: https://mirror-user:hunter2-url@registry.example',
        '      prefix: hub',
        '      username: mirror-user',
        '      password: hunter2-mirror',
        'notifications:',
        '  endpoints:',
        '    - name: ci',
        '      url: https://hooks.example/registry',
        '      secret: hunter2-hmac',
        '      headers:',
        '        Authorization: Bearer hunter2-header',
      ].join('\n'),
    );
    const run = await runCli(['config', 'check', '--config', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/hunter2/);
    const shown = parseYaml(run.stdout) as ReturnType<typeof defaultConfig>;
    expect(shown.mirror.upstreams[0]).toMatchObject({ username: 'mirror-user', password: '<redacted>' });
    expect(shown.notifications.endpoints[0]).toMatchObject({
      secret: '<redacted>',
      headers: { Authorization: '<redacted>' },
    });
  });

  it('refuses metadata.driver postgres without a connection URL, naming the key', async () => {
    const run = await runCli(['config', 'check'], { BERTH_METADATA_DRIVER: 'postgres' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('metadata.postgres.url: required when metadata.driver is postgres');
  });

  it('prints the defaults as YAML when nothing is set', async () => {
    const run = await runCli(['config', 'check']);
    expect(run.code, run.stderr).toBe(0);
    expect(parseYaml(run.stdout)).toEqual(defaultConfig());
  });

  it('prints the effective settings, flags winning over environment winning over the file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'berth.yaml');
    await writeFile(
      file,
      ['server:', '  listen: 127.0.0.1:6001', 'log:', '  level: warn', 'uploads:', '  maxAge: 1h', ''].join(
        '\n',
      ),
    );
    const run = await runCli(['config', 'check', '--config', file, '--data', '/srv/berth'], {
      BERTH_SERVER_LISTEN: '127.0.0.1:6002',
      BERTH_UPLOADS_MAX_AGE: '2h',
      BERTH_STORAGE_DELETE_ENABLED: 'false',
      BERTH_LIMITS_MANIFEST_MAX_BYTES: '1024',
    });
    expect(run.code, run.stderr).toBe(0);
    const defaults = defaultConfig();
    expect(parseYaml(run.stdout)).toEqual({
      ...defaults,
      dataDir: '/srv/berth',
      server: { ...defaults.server, listen: '127.0.0.1:6002' },
      storage: { ...defaults.storage, delete: { enabled: false } },
      uploads: { ...defaults.uploads, maxAge: '2h' },
      limits: { ...defaults.limits, manifestMaxBytes: 1024 },
      log: { ...defaults.log, level: 'warn' },
    });

    const flagged = await runCli(['config', 'check', '--config', file, '--listen', '127.0.0.1:6003'], {
      BERTH_SERVER_LISTEN: '127.0.0.1:6002',
    });
    expect((parseYaml(flagged.stdout) as { server: { listen: string } }).server.listen).toBe(
      '127.0.0.1:6003',
    );
  });
});

describe('shutdown', () => {
  it('finishes an upload in flight on SIGTERM, then exits 0 with the database closed cleanly', async () => {
    const data = join(await tempDir(), 'data');
    const server = await serve(['--listen', '127.0.0.1:0', '--data', data]);
    const api = clientFor(server.url);
    const repo = `shutdown/slow-${randomBytes(3).toString('hex')}`;
    const started = await api('POST', `/v2/${repo}/blobs/uploads/`);
    expect(started.status).toBe(202);
    const id = started.headers['docker-upload-uuid'] as string;
    const uploadFile = join(data, 'storage', 'uploads', id, 'data');

    // A keep-alive client, as docker's: the connection outlives the request.
    const agent = new Agent({ keepAlive: true });
    const pieces = Array.from({ length: 10 }, () => randomBytes(32 * 1024));
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const { req, response } = openRequest(
      server.url,
      'PATCH',
      started.headers.location as string,
      { 'Content-Type': 'application/octet-stream', 'Content-Length': total },
      { agent },
    );
    try {
      req.write(pieces[0]);
      await waitFor(
        'the first piece to reach storage',
        async () => (await stat(uploadFile).catch(() => undefined))?.size === pieces[0]?.length,
      );
      server.child.kill('SIGTERM');
      await waitFor('new connections to be refused', () =>
        api('GET', '/v2/').then(
          () => false,
          (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
        ),
      );
      for (const piece of pieces.slice(1)) {
        await new Promise((done) => setTimeout(done, 100));
        req.write(piece);
      }
      req.end();

      const res = await response;
      expect(res.status, res.text).toBe(202);
      expect(res.headers.range).toBe(`0-${total - 1}`);

      const exitTimer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
      const finished = await server.exited;
      clearTimeout(exitTimer);
      expect(finished.signal, 'berth had to be killed: it did not exit within 10 s of the upload').toBeNull();
      expect(finished.code).toBe(0);
      expect(finished.stdout).toContain('berth stopped');
    } finally {
      agent.destroy();
    }

    const dbPath = join(data, 'berth.db');
    expect(existsSync(`${dbPath}-wal`), 'the WAL is checkpointed and removed on a clean close').toBe(false);
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const row = db.prepare('SELECT repository, size FROM uploads WHERE id = ?').get(id);
      expect(row).toEqual({ repository: repo, size: total });
    } finally {
      db.close();
    }
  });

  it('stops accepting connections on SIGTERM and exits 0 when idle', async () => {
    const data = join(await tempDir(), 'data');
    const server = await serve(['--listen', '127.0.0.1:0', '--data', data]);
    // An idle keep-alive connection must not hold the shutdown up.
    const agent = new Agent({ keepAlive: true });
    try {
      const { response } = openRequest(server.url, 'GET', '/v2/', {}, { agent });
      expect((await response).status).toBe(200);
      server.child.kill('SIGTERM');
      const exitTimer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
      const finished = await server.exited;
      clearTimeout(exitTimer);
      expect(finished.signal).toBeNull();
      expect(finished.code).toBe(0);
    } finally {
      agent.destroy();
    }
    await expect(clientFor(server.url)('GET', '/v2/')).rejects.toThrow(/ECONNREFUSED/);
  });
});
