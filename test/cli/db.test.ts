// `berth db migrate` and `berth db copy`: moving a one-machine Berth (SQLite) to replicas
// (PostgreSQL), through the built command as users run it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.js';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

describe('berth db migrate (SQLite)', () => {
  let data: string;
  beforeAll(async () => {
    await ensureBuilt();
    data = await mkdtemp(join(tmpdir(), 'berth-db-cli-'));
  }, 180_000);
  afterAll(() => rm(data, { recursive: true, force: true }));

  it('creates or updates the configured database and says where it is', async () => {
    const run = await runBerth(['db', 'migrate', '--data', data]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`sqlite database at ${join(data, 'berth.db')} is up to date`);
  });

  it('refuses db copy without a SQLite database, and without a postgres URL', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'berth-db-cli-empty-'));
    try {
      const none = await runBerth(['db', 'copy', '--to', 'postgres://x@127.0.0.1/none', '--data', empty]);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('berth: no SQLite database at');
      const bad = await runBerth(['db', 'copy', '--to', 'mysql://x', '--data', data]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('berth: --to must be a postgres:// URL');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!requirePostgres('berth db copy CLI tests'))('berth db copy (SQLite to PostgreSQL)', () => {
  let server: PostgresServer;
  let data: string;
  beforeAll(async () => {
    await ensureBuilt();
    server = await startPostgres();
    data = await mkdtemp(join(tmpdir(), 'berth-db-copy-'));
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await rm(data, { recursive: true, force: true });
  });

  it('copies repositories, tags and accounts; Berth on PostgreSQL then sees them', async () => {
    const add = await runBerth(['user', 'add', 'alice', '--password-stdin', '--data', data], {
      stdin: 'alice-password',
    });
    expect(add.code, add.stderr).toBe(0);
    expect((await runBerth(['namespace', 'add', 'team', '--data', data])).code).toBe(0);
    expect((await runBerth(['namespace', 'grant', 'team', 'alice', 'write', '--data', data])).code).toBe(0);
    const sqlite = openDatabase(join(data, 'berth.db'));
    const store = createSqliteMetadataStore(sqlite);
    await store.linkBlob('team/app' as RepoName, digest('1'), 10);
    await store.putManifest(
      'team/app' as RepoName,
      {
        digest: digest('a'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 99,
        artifactType: null,
        subject: null,
        annotations: null,
      },
      { blobs: [digest('1')], manifests: [] },
      'v1' as Tag,
    );
    sqlite.close();

    const database = await server.createDatabase();
    try {
      const copy = await runBerth(['db', 'copy', '--to', database.url, '--data', data]);
      expect(copy.code, copy.stderr).toBe(0);
      expect(copy.stdout).toMatch(/^repositories\t1$/m);
      expect(copy.stdout).toMatch(/^tags\t1$/m);
      expect(copy.stdout).toMatch(/^accounts\t1$/m); // alice: no admin is made outside token mode
      const onPostgres = { BERTH_METADATA_DRIVER: 'postgres', BERTH_METADATA_POSTGRES_URL: database.url };
      const members = await runBerth(['namespace', 'members', 'team', '--json'], { env: onPostgres });
      expect(members.code, members.stderr).toBe(0);
      expect(JSON.parse(members.stdout)).toEqual([
        expect.objectContaining({ account: 'alice', role: 'write' }),
      ]);
      const again = await runBerth(['db', 'copy', '--to', database.url, '--data', data]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('copy into an empty one');
    } finally {
      await database.drop();
    }
  });
});
