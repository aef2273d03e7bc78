// `berth repo` and `berth tag`, run as the built CLI on the data directory of a running Berth that
// images were pushed to over HTTP: their exact output, and what the server answers afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { send, sha256 } from '../support/fuzz.js';
import { waitFor } from '../support/http.js';
import { getManifest, pushIndex, pushLayers, randomishBlob, type PushedManifest } from '../support/mirror.js';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let berth: RunningBerth;
const run = (args: string[], env?: Record<string, string>) =>
  runBerth([...args, '--data', berth.dataDir], { env });

/** A table's rows (header included) split into cells. */
const cells = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/ {2,}/));
const column = (stdout: string, index: number) => cells(stdout).map((row) => row[index]);

const manifestBytes = (image: PushedManifest) => Buffer.byteLength(image.manifest);
const imageSize = (image: PushedManifest) =>
  manifestBytes(image) + image.config.length + image.layers.reduce((sum, l) => sum + l.length, 0);

async function tagsOf(repository: string): Promise<{ status: number; tags?: string[] }> {
  const res = await send(berth.url, 'GET', `/v2/${repository}/tags/list`);
  return {
    status: res.status,
    ...(res.status === 200 && { tags: (JSON.parse(res.text) as { tags: string[] }).tags }),
  };
}

async function digestOf(repository: string, reference: string): Promise<string | undefined> {
  const res = await getManifest(berth.url, repository, reference);
  return res.status === 200 ? (res.headers['docker-content-digest'] as string) : undefined;
}

async function setImmutableRules(namespace: string, rules: Array<{ tags: string }>) {
  const res = await send(berth.url, 'PUT', `/api/v1/namespaces/${namespace}/immutable-tags`, {
    headers: { 'Content-Type': 'application/json' },
    body: Buffer.from(JSON.stringify({ rules })),
  });
  expect(res.status, res.text).toBe(200);
}

const images: Record<string, PushedManifest> = {};
let multi: { digest: string; children: PushedManifest[] };

beforeAll(async () => {
  await ensureBuilt();
  berth = await startBerth({ pulls: { flushInterval: '100ms' } });
  const shared = randomishBlob(3000, 'shared base layer');
  for (const [tag, seed] of [
    ['v1.2.0', 'a'],
    ['v1.10.0', 'b'],
    ['v1.2.0-rc.1', 'c'],
    ['v2', 'd'],
    ['latest', 'd'],
  ] as const) {
    images[`app:${tag}`] = await pushLayers(berth.url, 'team/app', tag, [
      shared,
      randomishBlob(100, `app ${seed}`),
    ]);
  }
  images.db = await pushLayers(berth.url, 'team/db', 'v1', [randomishBlob(2_500_000, 'db')]);
  const children = [
    await pushLayers(berth.url, 'other/tools', 'amd64', [randomishBlob(200, 'tools amd64')]),
    await pushLayers(berth.url, 'other/tools', 'arm64', [randomishBlob(200, 'tools arm64')], {
      platform: { architecture: 'arm64', os: 'linux' },
    }),
  ];
  const index = await pushIndex(berth.url, 'other/tools', 'multi', [
    { manifest: children[0] as PushedManifest, platform: { architecture: 'amd64', os: 'linux' } },
    { manifest: children[1] as PushedManifest, platform: { architecture: 'arm64', os: 'linux' } },
  ]);
  multi = { digest: index.digest, children };
}, 180_000);

afterAll(async () => {
  await berth?.stop();
});

describe('berth repo', () => {
  it('lists repositories as a table sorted by name, with human sizes and times', async () => {
    const list = await run(['repo', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toBe('');
    const rows = cells(list.stdout);
    expect(rows[0]).toEqual(['NAME', 'TAGS', 'SIZE', 'PUSHED', 'PULLED', 'PULLS']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['other/tools', 'team/app', 'team/db']);
    const db = rows.find((r) => r[0] === 'team/db') ?? [];
    expect(db[1]).toBe('1');
    expect(db[2]).toBe('2.5 MB');
    expect(db[3]).toMatch(TIME);
    expect(db.slice(4)).toEqual(['-', '0']);
  });

  it('sorts, reverses, searches and limits, saying on stderr what the limit left out', async () => {
    expect(column((await run(['repo', 'list', '--sort', 'size', '--desc'])).stdout, 0)).toEqual([
      'NAME',
      'team/db',
      'team/app',
      'other/tools',
    ]);
    expect(column((await run(['repo', 'list', '--sort', 'tags'])).stdout, 0)).toEqual([
      'NAME',
      'team/db',
      'other/tools',
      'team/app',
    ]);
    expect(column((await run(['repo', 'list', '--search', 'TEAM'])).stdout, 0)).toEqual([
      'NAME',
      'team/app',
      'team/db',
    ]);
    const limited = await run(['repo', 'list', '--sort', 'name', '--desc', '--limit', '2']);
    expect(limited.code).toBe(0);
    expect(column(limited.stdout, 0)).toEqual(['NAME', 'team/db', 'team/app']);
    expect(limited.stderr).toBe('2 of 3 repositories shown (--limit 2)\n');
  });

  it('prints JSON as the management API does', async () => {
    const json = await run(['repo', 'list', '--search', 'db', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        name: 'team/db',
        description: null,
        size: imageSize(images.db as PushedManifest),
        tagCount: 1,
        manifestCount: 1,
        createdAt: expect.stringMatching(ISO_TIME),
        lastPushAt: expect.stringMatching(ISO_TIME),
        lastPullAt: null,
        pullCount: 0,
      },
    ]);
  });

  it('shows a repository, with the pulls the server counted', async () => {
    await getManifest(berth.url, 'team/db', 'v1');
    await waitFor('the pull to be counted', async () => {
      const shown = await run(['repo', 'show', 'team/db', '--json']);
      return (JSON.parse(shown.stdout) as { pullCount: number }).pullCount === 1;
    });
    const shown = await run(['repo', 'show', 'team/db']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stderr).toBe('');
    const size = imageSize(images.db as PushedManifest);
    const lines = shown.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.split(/ {2,}/)[0])).toEqual([
      'name',
      'description',
      'size',
      'tags',
      'manifests',
      'created',
      'last push',
      'last pull',
      'pulls',
    ]);
    expect(lines[0]).toBe('name         team/db');
    expect(lines[1]).toBe('description  -');
    expect(lines[2]).toBe(`size         2.5 MB (${size} bytes, each blob counted once)`);
    expect(lines[3]).toBe('tags         1');
    expect(lines[7]).toMatch(/^last pull {4}\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(lines[8]).toBe('pulls        1');
  });

  it('refuses unknown and invalid names with berth: and exit 2', async () => {
    expect(await run(['repo', 'show', 'nope/x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: repository name not known to registry: nope/x\n',
    });
    const invalid = await run(['repo', 'show', 'Bad..Name']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^berth: .*invalid repository name: Bad\.\.Name/);
    expect(await run(['repo', 'rm', 'nope/x'])).toMatchObject({
      code: 2,
      stderr: 'berth: repository name not known to registry: nope/x\n',
    });
    for (const args of [
      ['repo', 'list', '--limit', '0'],
      ['repo', 'list', '--sort', 'popular'],
      ['repo', 'show'],
    ]) {
      const refused = await run(args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr, args.join(' ')).toMatch(/^berth: /);
      expect(refused.stdout).toBe('');
    }
  });
});

describe('berth tag', () => {
  it('lists tags as a table, sorted by name numerically', async () => {
    const list = await run(['tag', 'list', 'team/app']);
    expect(list.code, list.stderr).toBe(0);
    const rows = cells(list.stdout);
    expect(rows[0]).toEqual([
      'TAG',
      'DIGEST',
      'SIZE',
      'PLATFORMS',
      'CREATED',
      'PUSHED',
      'PULLED',
      'IMMUTABLE',
    ]);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['latest', 'v1.2.0', 'v1.2.0-rc.1', 'v1.10.0', 'v2']);
    const v2 = rows.find((r) => r[0] === 'v2') ?? [];
    const digest = images['app:v2']?.digest ?? '';
    expect(v2[1]).toBe(digest.slice(0, 'sha256:'.length + 12));
    expect(v2[2]).toMatch(/^\d\.\d kB$/);
    expect(v2[3]).toBe('-');
    expect(v2[4]).toBe('-'); // the test images' configs name no created time
    expect(v2[5]).toMatch(TIME);
    expect(v2.slice(6)).toEqual(['-', 'no']);

    const index = cells((await run(['tag', 'list', 'other/tools', '--pattern', 'multi'])).stdout)[1];
    expect(index?.[0]).toBe('multi');
    expect(index?.[3]).toBe('linux/amd64,linux/arm64');
  });

  it('filters by pattern, sorts by semver and limits', async () => {
    const semver = await run(['tag', 'list', 'team/app', '--pattern', 'v*', '--sort', 'semver']);
    expect(column(semver.stdout, 0)).toEqual(['TAG', 'v1.2.0-rc.1', 'v1.2.0', 'v1.10.0', 'v2']);
    const desc = await run(['tag', 'list', 'team/app', '--sort', 'semver', '--desc', '--limit', '2']);
    expect(column(desc.stdout, 0)).toEqual(['TAG', 'latest', 'v2']);
    expect(desc.stderr).toBe('2 of 5 tags shown (--limit 2)\n');
    const pushed = await run(['tag', 'list', 'team/app', '--sort', 'pushed', '--pattern', 'v1.*']);
    expect(column(pushed.stdout, 0)).toEqual(['TAG', 'v1.2.0', 'v1.10.0', 'v1.2.0-rc.1']);
    const bad = await run(['tag', 'list', 'team/app', '--pattern', 'v1%']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^berth: .*tag characters and \* only/);
  });

  it('prints tags as JSON, as the management API does', async () => {
    const json = await run(['tag', 'list', 'other/tools', '--pattern', 'multi', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        name: 'multi',
        digest: multi.digest,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        artifactType: null,
        size: expect.any(Number),
        platforms: ['linux/amd64', 'linux/arm64'],
        created: null,
        pushedAt: expect.stringMatching(ISO_TIME),
        lastPulledAt: null,
        annotations: null,
        referrers: 0,
        immutable: false,
      },
    ]);
    expect(await run(['tag', 'list', 'nope/x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: repository name not known to registry: nope/x\n',
    });
  });

  it('copies a tag within a repository', async () => {
    const copied = await run(['tag', 'cp', 'team/app:v2', 'team/app:stable']);
    const digest = images['app:v2']?.digest;
    expect(copied).toEqual({
      code: 0,
      stdout: '',
      stderr: `copied team/app:v2 to team/app:stable (${digest})\n`,
    });
    expect(await digestOf('team/app', 'stable')).toBe(digest);
  });

  it('copies across repositories by mounting the blobs, the target tag defaulting to the source tag', async () => {
    const image = images['app:v1.2.0'] as PushedManifest;
    const copied = await run(['tag', 'cp', 'team/app:v1.2.0', 'copies/app']);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stderr).toBe(`copied team/app:v1.2.0 to copies/app:v1.2.0 (${image.digest})\n`);
    expect(await digestOf('copies/app', 'v1.2.0')).toBe(image.digest);
    for (const blob of [image.config, ...image.layers]) {
      const head = await send(berth.url, 'HEAD', `/v2/copies/app/blobs/${sha256(blob)}`);
      expect(head.status).toBe(200);
    }

    const byDigest = await run(['tag', 'cp', `team/app@${image.digest}`, 'copies/app:pinned']);
    expect(byDigest.code, byDigest.stderr).toBe(0);
    expect(await digestOf('copies/app', 'pinned')).toBe(image.digest);
    const noTag = await run(['tag', 'cp', `team/app@${image.digest}`, 'copies/app']);
    expect(noTag).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: target needs a tag when the source is a digest: NAME:TAG\n',
    });
  });

  it('copies an index across repositories with its children', async () => {
    const copied = await run(['tag', 'cp', 'other/tools:multi', 'copies/tools:multi']);
    expect(copied.code, copied.stderr).toBe(0);
    expect(await digestOf('copies/tools', 'multi')).toBe(multi.digest);
    for (const child of multi.children)
      expect(await digestOf('copies/tools', child.digest)).toBe(child.digest);
  });

  it('refuses copies of what is unknown, and bad references', async () => {
    expect(await run(['tag', 'cp', 'team/app:nope', 'team/app:x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: manifest unknown to registry: team/app:nope\n',
    });
    const badDigest = await run(['tag', 'cp', 'team/app@sha256:abc', 'team/app:x']);
    expect(badDigest.code).toBe(2);
    expect(badDigest.stderr).toMatch(/^berth: .*not a digest: sha256:abc/);
    const noTag = await run(['tag', 'rm', 'team/app']);
    expect(noTag.code).toBe(2);
    expect(noTag.stderr).toMatch(/^berth: .*expected NAME:TAG/);
  });

  it('deletes a tag, which the server then no longer lists', async () => {
    expect(await run(['tag', 'rm', 'team/app:stable'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'removed tag team/app:stable\n',
    });
    expect((await tagsOf('team/app')).tags).not.toContain('stable');
    expect(await digestOf('team/app', 'v2')).toBe(images['app:v2']?.digest);
    expect(await run(['tag', 'rm', 'team/app:stable'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'berth: manifest unknown to registry: team/app:stable\n',
    });
  });

  it('refuses to delete, overwrite by copy, or delete the repository of an immutable tag', async () => {
    await setImmutableRules('team', [{ tags: 'v1.*' }]);
    try {
      expect(await run(['tag', 'rm', 'team/app:v1.2.0'])).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'berth: tag team/app:v1.2.0 is immutable (rule "v1.*" of namespace "team"): it cannot be deleted\n',
      });
      const overwrite = await run(['tag', 'cp', 'team/app:v2', 'team/app:v1.10.0']);
      expect(overwrite.code).toBe(2);
      expect(overwrite.stderr).toBe(
        'berth: tag team/app:v1.10.0 is immutable (rule "v1.*" of namespace "team"): push a new tag instead\n',
      );
      const repo = await run(['repo', 'rm', 'team/app']);
      expect(repo.code).toBe(2);
      expect(repo.stderr).toMatch(/^berth: tag team\/app:v1\.\S+ is immutable/);
      expect(await digestOf('team/app', 'v1.2.0')).toBe(images['app:v1.2.0']?.digest);
      expect(await digestOf('team/app', 'v1.10.0')).toBe(images['app:v1.10.0']?.digest);
      const flags = cells((await run(['tag', 'list', 'team/app'])).stdout).map((r) => `${r[0]} ${r[7]}`);
      expect(flags).toEqual([
        'TAG IMMUTABLE',
        'latest no',
        'v1.2.0 yes',
        'v1.2.0-rc.1 yes',
        'v1.10.0 yes',
        'v2 no',
      ]);
    } finally {
      await setImmutableRules('team', []);
    }
  });

  it('deletes a repository: the server then knows it no more', async () => {
    expect(await run(['repo', 'rm', 'copies/app'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'removed repository copies/app: 2 tags, 1 manifest, 3 blob links (berth gc frees the bytes)\n',
    });
    expect(await tagsOf('copies/app')).toEqual({ status: 404 });
    expect(await digestOf('copies/app', 'v1.2.0')).toBeUndefined();
    expect(column((await run(['repo', 'list'])).stdout, 0)).not.toContain('copies/app');
    expect(await run(['repo', 'show', 'copies/app'])).toMatchObject({ code: 2 });
    // The source keeps its content.
    expect(await digestOf('team/app', 'v1.2.0')).toBe(images['app:v1.2.0']?.digest);
  });

  it('changes nothing in maintenance (server.readOnly)', async () => {
    const readOnly = { BERTH_SERVER_READ_ONLY: 'true' };
    for (const args of [
      ['repo', 'rm', 'team/db'],
      ['tag', 'rm', 'team/db:v1'],
      ['tag', 'cp', 'team/db:v1', 'team/db:v2'],
    ]) {
      expect(await run(args, readOnly), args.join(' ')).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'berth: the registry is read-only for maintenance: pulls work, pushes and deletes are refused (server.readOnly is on)\n',
      });
    }
    expect((await run(['tag', 'list', 'team/db'], readOnly)).code).toBe(0);
    expect((await tagsOf('team/db')).tags).toEqual(['v1']);
  });
});
