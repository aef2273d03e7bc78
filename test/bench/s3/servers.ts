// The two registries of the S3 benchmark, both on the same Ceph RADOS Gateway (one bucket each):
// Berth with BERTH_STORAGE_DRIVER=s3, and CNCF Distribution 2.8 with its `s3` storage driver.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import {
  berthEntry,
  distributionBinary,
  freePort,
  repoRoot,
  spawnManaged,
  waitForRegistry,
  type SpawnedProcess,
} from '../../support/processes.js';
import { track } from '../lib/cleanup.js';

export type S3Target = 'berth' | 'distribution';

export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3RegistryOptions {
  target: S3Target;
  s3: S3Endpoint;
  bucket: string;
  /** Redirect blob GETs to a presigned S3 URL (307) instead of streaming them through the registry. */
  redirect: boolean;
  /** Berth's --data directory, or the directory of Distribution's config.yml (the caller removes it). */
  dir: string;
  /** Extra environment variables for Berth (e.g. BERTH_STORAGE_S3_QUEUE_SIZE), over the ones set here. */
  berthEnv?: Record<string, string>;
}

export interface S3Registry {
  target: S3Target;
  pid: number;
  url: string;
  output(): string;
  /** SIGTERM to this PID, bounded wait, SIGKILL. Idempotent; also run by the benchmark's Ctrl-C handler. */
  stop(): Promise<void>;
}

/**
 * The caller's environment without the variables that would change how a registry or its S3 client is
 * configured: BERTH_* (Berth rejects unknown ones), REGISTRY_* (Distribution's config overrides) and
 * AWS_* (both S3 SDKs read them; e.g. AWS_CA_BUNDLE makes Distribution 2.8 panic on a plain-HTTP endpoint).
 */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(BERTH|REGISTRY|AWS)_/.test(key)) env[key] = value;
  }
  return env;
}

/** Berth's own settings as environment variables. */
export function berthS3Env(opts: S3RegistryOptions): Record<string, string> {
  return {
    ...cleanEnv(),
    BERTH_STORAGE_DRIVER: 's3',
    BERTH_STORAGE_S3_BUCKET: opts.bucket,
    BERTH_STORAGE_S3_ENDPOINT: opts.s3.endpoint,
    BERTH_STORAGE_S3_REGION: opts.s3.region,
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    BERTH_STORAGE_S3_ACCESS_KEY_ID: opts.s3.accessKeyId,
    BERTH_STORAGE_S3_SECRET_ACCESS_KEY: opts.s3.secretAccessKey,
    BERTH_STORAGE_S3_REDIRECT_ENABLED: String(opts.redirect),
    BERTH_LOG_LEVEL: 'warn',
    BERTH_LOG_REQUESTS: 'false',
    ...opts.berthEnv,
  };
}

/** Distribution's config.yml: s3 driver on the same gateway, level warn, no access log, no debug server. */
export function distributionS3Config(opts: S3RegistryOptions, port: number): object {
  return {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      s3: {
        accesskey: opts.s3.accessKeyId,
        secretkey: opts.s3.secretAccessKey,
        region: opts.s3.region,
        regionendpoint: opts.s3.endpoint,
        bucket: opts.bucket,
        secure: false,
        v4auth: true,
        chunksize: 16 * 1024 * 1024,
        rootdirectory: '/',
      },
      redirect: { disable: !opts.redirect },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}` },
  };
}

async function launch(opts: S3RegistryOptions, port: number): Promise<SpawnedProcess> {
  if (opts.target === 'berth') {
    if (!existsSync(berthEntry)) throw new Error(`${berthEntry} is missing: run \`npm run build\` first`);
    const args = [berthEntry, 'serve', '--listen', `127.0.0.1:${port}`, '--data', opts.dir];
    return spawnManaged(process.execPath, args, { cwd: repoRoot, env: berthS3Env(opts) });
  }
  if (!existsSync(distributionBinary)) {
    throw new Error(`${distributionBinary} is missing: apt-get install -y docker-registry`);
  }
  const configPath = join(opts.dir, 'config.yml');
  await writeFile(configPath, toYaml(distributionS3Config(opts, port)));
  return spawnManaged(distributionBinary, ['serve', configPath], { cwd: opts.dir, env: cleanEnv() });
}

/** Starts the registry and resolves once it answers GET /v2/ (retrying on a port taken meanwhile). */
export async function startS3Registry(opts: S3RegistryOptions): Promise<S3Registry> {
  await mkdir(opts.dir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = await launch(opts, port);
    const stop = track(() => proc.stop());
    try {
      await waitForRegistry(url, proc);
      return { target: opts.target, pid: proc.pid, url, output: proc.output, stop };
    } catch (err) {
      await stop();
      lastError = err;
      if (!/EADDRINUSE|address already in use/i.test(proc.output())) break;
    }
  }
  throw new Error(`${opts.target} on S3 failed to start: ${(lastError as Error).message}`);
}
