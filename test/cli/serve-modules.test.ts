// `berth serve` loads only what its configuration uses (issue 14, idle footprint): the AWS SDK with the
// S3 driver, pg with PostgreSQL, undici and tldts with a mirror, the X.509 library for `berth tls`, and
// so on. The built server runs with the shipped defaults (filesystem storage, SQLite), preloaded with a
// recorder of every module it loads; an eager import of any of these anywhere on the path fails here.
// (Memory itself is benchmarked, `BENCH_ONLY=footprint npm run bench`, not asserted.)
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ensureBuilt } from '../support/cli.js';
import { berthEntry, freePort, repoRoot, spawnManaged, waitForRegistry } from '../support/processes.js';

/** Packages a filesystem registry with SQLite, no mirror, no TLS and JSON logs must not load. */
const UNUSED_PACKAGES = [
  '@aws-sdk/client-s3',
  '@aws-sdk/lib-storage',
  '@aws-sdk/s3-request-presigner',
  '@smithy/smithy-client',
  'pg',
  'pg-pool',
  'undici',
  'tldts',
  '@peculiar/x509',
  'reflect-metadata',
  'jsonwebtoken',
  'pino-pretty',
  'yaml',
  'semver',
  'bcryptjs',
];

/** Packages it does load: they show that the recorder saw the server's modules at all. */
const USED_PACKAGES = ['koa', 'better-sqlite3', 'pino', 'zod'];

const recorder = pathToFileURL(join(repoRoot, 'test/cli/fixtures/record-modules.mjs')).href;

const tempDirs: string[] = [];

beforeAll(ensureBuilt, 180_000);

afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** The modules `berth serve` loaded from start-up through `requests` until it stopped, one a line. */
async function modulesOfServe(requests: string[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-serve-modules-'));
  tempDirs.push(dir);
  const list = join(dir, 'modules.txt');
  const host = `127.0.0.1:${await freePort()}`;
  const proc = spawnManaged(
    process.execPath,
    ['--import', recorder, berthEntry, 'serve', '--listen', host, '--data', join(dir, 'data')],
    { cwd: dir, env: cleanEnv({ RECORD_MODULES_TO: list }) },
  );
  try {
    await waitForRegistry(`http://${host}`, proc);
    for (const path of requests) {
      const response = await fetch(`http://${host}${path}`);
      await response.arrayBuffer();
      expect(response.status, path).toBe(200);
    }
  } finally {
    await proc.stop();
  }
  return (await readFile(list, 'utf8')).split('\n').filter((line) => line !== '');
}

const fromPackage = (modules: string[], name: string) =>
  modules.filter((module) => module.includes(`/node_modules/${name}/`));

describe('berth serve with the default configuration', () => {
  it('loads no library that only another configuration uses', async () => {
    const modules = await modulesOfServe(['/v2/', '/v2/_catalog', '/api/v1/info']);
    for (const name of USED_PACKAGES) expect(fromPackage(modules, name), name).not.toEqual([]);
    const unused = Object.fromEntries(UNUSED_PACKAGES.map((name) => [name, fromPackage(modules, name)]));
    expect(unused).toEqual(Object.fromEntries(UNUSED_PACKAGES.map((name) => [name, []])));
    expect(modules.filter((module) => module.endsWith('/storage-drivers/s3.js'))).toEqual([]);
  });
});
