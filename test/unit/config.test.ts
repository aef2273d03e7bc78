import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { environmentVariables, loadConfig } from '../../src/config/load.js';
import { ConfigError, defaultConfig, durationMs, parseConfig } from '../../src/config/schema.js';
import { flagsToConfig, type CommonFlags } from '../../src/cli/shared.js';

describe('loadConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('gives the schema defaults when nothing is set', () => {
    expect(loadConfig({ env: {} })).toEqual(defaultConfig());
  });

  it('layers file, environment and flags in that order', async () => {
    const file = join(dir, 'berth.yaml');
    await writeFile(
      file,
      'dataDir: /from/file\nserver:\n  listen: 127.0.0.1:6000\nstorage:\n  delete:\n    enabled: false\n',
    );
    const config = loadConfig({
      file,
      env: { BERTH_SERVER_LISTEN: '127.0.0.1:7000', BERTH_LIMITS_MANIFEST_MAX_BYTES: '1024' },
      flags: { dataDir: '/from/flag' },
    });
    expect(config.dataDir).toBe('/from/flag');
    expect(config.server.listen).toBe('127.0.0.1:7000');
    expect(config.storage.delete.enabled).toBe(false);
    expect(config.limits.manifestMaxBytes).toBe(1024);
  });

  it('names the key and the reason of a bad setting', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'server:\n  listen: nonsense\n  colour: blue\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/server\.listen: HOST:PORT/);
    expect(() => loadConfig({ file, env: {} })).toThrow(/server\.colour/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_DELETE_ENABLED: 'maybe' } })).toThrow(
      /storage\.delete\.enabled: .*\(set by BERTH_STORAGE_DELETE_ENABLED="maybe"\)/,
    );
    expect(() => loadConfig({ env: { BERTH_NO_SUCH_THING: '1' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, flags: { uploads: { maxAge: 'forever' } } })).toThrow(
      /uploads\.maxAge/,
    );
  });

  it('refuses a config file that is not a mapping', async () => {
    const file = join(dir, 'list.yaml');
    await writeFile(file, '- a\n- b\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/mapping/);
  });

  it('derives one environment variable per setting', () => {
    const names = [...environmentVariables().keys()];
    expect(names).toContain('BERTH_DATA_DIR');
    expect(names).toContain('BERTH_STORAGE_FILESYSTEM_FSYNC');
    expect(names).toContain('BERTH_UPLOADS_PURGE_INTERVAL');
  });
});

describe('auth settings', () => {
  const issuer = (extra: object) => ({
    auth: { mode: 'token', trustedIssuers: [{ issuer: 'corp', ...extra }] },
  });

  it('takes a trusted issuer with https or loopback JWKS, or a certificate bundle', () => {
    expect(
      parseConfig(issuer({ jwksUrl: 'https://idp.example/jwks.json' })).auth.trustedIssuers[0]?.service,
    ).toBeNull();
    expect(() => parseConfig(issuer({ jwksUrl: 'http://127.0.0.1:9000/jwks' }))).not.toThrow();
    expect(() => parseConfig(issuer({ certificates: '/etc/berth/corp.pem' }))).not.toThrow();
  });

  it('refuses plain-http JWKS, both or neither key source, and an issuer named like Berth itself', () => {
    expect(() => parseConfig(issuer({ jwksUrl: 'http://idp.example/jwks.json' }))).toThrow(
      /auth\.trustedIssuers\.0\.jwksUrl: must be https/,
    );
    expect(() => parseConfig(issuer({}))).toThrow(/exactly one of certificates/);
    expect(() => parseConfig(issuer({ certificates: '/a.pem', jwksUrl: 'https://x/j' }))).toThrow(
      /exactly one/,
    );
    expect(() =>
      parseConfig({ auth: { trustedIssuers: [{ issuer: 'berth', certificates: '/a.pem' }] } }),
    ).toThrow(/auth\.trustedIssuers\.0\.issuer: is auth\.issuer/);
  });

  it('requires an htpasswd file in htpasswd mode and tokens of at least 60s', () => {
    expect(() => parseConfig({ auth: { mode: 'htpasswd' } })).toThrow(/auth\.htpasswd\.path: required/);
    expect(() => parseConfig({ auth: { tokenTtl: '30s' } })).toThrow(/auth\.tokenTtl: at least 60s/);
  });
});

describe('server.tls settings', () => {
  it('takes cert and key together, and clientCa with them, from file, environment or flags', () => {
    expect(defaultConfig().server.tls).toEqual({ cert: null, key: null, clientCa: null });
    const config = loadConfig({
      env: { BERTH_SERVER_TLS_CLIENT_CA: '/etc/berth/clients.pem' },
      flags: { server: { tls: { cert: '/etc/berth/server.crt', key: '/etc/berth/server.key' } } },
    });
    expect(config.server.tls).toEqual({
      cert: '/etc/berth/server.crt',
      key: '/etc/berth/server.key',
      clientCa: '/etc/berth/clients.pem',
    });
  });

  it('refuses a cert without a key, a key without a cert, and clientCa without HTTPS', () => {
    expect(() => parseConfig({ server: { tls: { cert: '/a.crt' } } })).toThrow(
      /server\.tls\.key: cert and key go together/,
    );
    expect(() => parseConfig({ server: { tls: { key: '/a.key' } } })).toThrow(
      /server\.tls\.cert: cert and key go together/,
    );
    expect(() => parseConfig({ server: { tls: { clientCa: '/ca.pem' } } })).toThrow(
      /server\.tls\.clientCa: mutual TLS needs HTTPS/,
    );
  });
});

describe('durationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
  ])('reads %s', (value, ms) => {
    expect(durationMs(value)).toBe(ms);
  });
});

describe('settings for replicas', () => {
  it('refuses token mode on a shared PostgreSQL database without a shared signing key', () => {
    const raw = {
      metadata: { driver: 'postgres', postgres: { url: 'postgres://berth@db/berth' } },
      auth: { mode: 'token' },
    };
    expect(() => parseConfig(raw)).toThrow(
      /auth\.signingKey: required in token mode when metadata\.driver is postgres/,
    );
    expect(() =>
      parseConfig({ ...raw, auth: { mode: 'token', signingKey: '/etc/berth/key.pem' } }),
    ).not.toThrow();
    expect(() => parseConfig({ ...raw, auth: { mode: 'none' } })).not.toThrow();
  });
});

describe('config/examples', () => {
  it('holds only valid configurations', async () => {
    const dir = new URL('../../config/examples/', import.meta.url);
    const files = (await readdir(dir)).filter((name) => name.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      expect(() => loadConfig({ file: fileURLToPath(new URL(name, dir)), env: {} }), name).not.toThrow();
    }
  });
});

describe('docker compose files', () => {
  interface BerthService {
    command?: string[];
    environment: Record<string, string>;
    healthcheck?: { test?: string[] };
  }

  /** Each Berth service (built from docker/Dockerfile), with compose's ${VAR...} placeholders filled in. */
  async function berthServices(file: string): Promise<Array<[string, BerthService]>> {
    const text = await readFile(fileURLToPath(new URL(`../../docker/${file}`, import.meta.url)), 'utf8');
    const compose = parseYaml(text, { merge: true }) as {
      services: Record<string, Partial<BerthService> & { build?: unknown }>;
    };
    return Object.entries(compose.services)
      .filter(([, service]) => service.build !== undefined)
      .map(([name, service]) => [
        name,
        {
          ...service,
          environment: Object.fromEntries(
            Object.entries(service.environment ?? {}).map(([key, value]) => [
              key,
              String(value).replace(/\$\{[^}]+\}/g, 'placeholder'),
            ]),
          ),
        },
      ]);
  }

  /** The settings `berth serve` gets from a service: its environment and the flags of its command. */
  function serviceConfig({ command = ['serve'], environment }: BerthService) {
    expect(command[0]).toBe('serve');
    const flags: Record<string, string> = {};
    for (let i = 1; i < command.length; i += 2) {
      const [option, value] = [command[i] as string, command[i + 1]];
      expect(option, command.join(' ')).toMatch(/^--[a-z-]+$/);
      expect(value, `${option} needs a value`).toBeDefined();
      flags[option.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = value as string;
    }
    return loadConfig({ env: environment, flags: flagsToConfig(flags as CommonFlags) });
  }

  it.each(['compose.yaml', 'compose.mirror.yaml', 'compose.ha.yaml'])(
    "%s gives every Berth service valid settings and the image's readiness check",
    async (file) => {
      const services = await berthServices(file);
      expect(services.length).toBeGreaterThan(0);
      for (const [name, service] of services) {
        expect(() => serviceConfig(service), `${file}: ${name}`).not.toThrow();
        expect(service.healthcheck?.test, `${file}: ${name}`).toEqual([
          'CMD',
          'node',
          '/app/docker/healthcheck.mjs',
          '/readyz',
        ]);
      }
    },
  );

  it('compose.mirror.yaml makes Berth a mirror of Docker Hub at the root', async () => {
    const services = await berthServices('compose.mirror.yaml');
    expect(services.map(([name]) => name)).toEqual(['berth']);
    const config = serviceConfig(services[0]![1]);
    expect(config.mirror.upstreams).toMatchObject([
      { name: 'dockerhub', url: 'https://registry-1.docker.io', root: true },
    ]);
  });
});
