// Online garbage collection against real docker pushes: a Berth process on the filesystem driver,
// 20 concurrent `docker push`es, and `berth gc --delay 0` run again and again meanwhile from another
// process (the CLI, on the same SQLite database and storage). Some of the pushed images are built
// FROM images deleted just before the pushes start, so the collector is sweeping the very layers
// those pushes reuse. Then:
// - every push docker acknowledged pulls into an empty engine and runs (`docker run --network none`),
//   printing the id written into it; a push that lost a race (MANIFEST_BLOB_UNKNOWN: the collector
//   took a layer docker had been told existed) is pushed again once the collector stops, as a CI job
//   would retry it, and must then succeed;
// - storage shrank by exactly the deleted images' unique content (manifests, configs, layers no new
//   image uses), measured on disk, and the collector's reports add up to the same bytes.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcReport } from '../../src/gc/report.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { dockerOk, removeAllImages, runBusybox } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { settleAll, startBerthProcess, type RegistryProcess } from '../support/processes.js';
import { requireTools } from '../support/tools.js';
import { fetchManifest } from './fixtures/registry-http.js';

const enabled = requireTools('garbage collection docker e2e', ['docker', 'dockerd', 'busybox']);
/** Deleted before the pushes; the new images of the same index are built FROM them. */
const REUSED = 5;
/** Deleted before the pushes and reused by nothing: their unique content must be freed. */
const DROPPED = 3;
const PUSHES = 20;

interface Pushed {
  ref: string;
  repo: string;
  image: BuiltImage;
  digest?: string;
  attempts: number;
}

/** Every file under storage's blobs/ with its size (what the filesystem driver stores). */
async function storedBlobs(dataDir: string): Promise<Map<string, number>> {
  const root = join(dataDir, 'storage', 'blobs');
  const files = new Map<string, number>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(root.length + 1), (await stat(path)).size);
  }
  return files;
}

/** The digests a pushed manifest consists of: itself, its config, its layers. */
async function contentOf(
  url: string,
  repo: string,
  reference: string,
): Promise<{ digest: string; parts: string[] }> {
  const manifest = await fetchManifest(url, repo, reference);
  expect(manifest.status, `${repo}:${reference}`).toBe(200);
  const body = JSON.parse(manifest.body.toString()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  return {
    digest: manifest.digest,
    parts: [manifest.digest, body.config.digest, ...body.layers.map((l) => l.digest)],
  };
}

const keyOf = (digest: string) => `sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;

async function inBatches<T>(items: T[], size: number, work: (item: T, index: number) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map((item, j) => work(item, i + j)));
  }
}

describe.skipIf(!enabled)('garbage collection during concurrent docker pushes', { timeout: 300_000 }, () => {
  let berth: RegistryProcess;
  let daemon: DockerDaemon;
  const old: BuiltImage[] = [];
  const pushes: Pushed[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    await settleAll([
      // Scheduled runs off: this test runs the collector itself, from another process.
      startBerthProcess({ env: { BERTH_GC_ENABLED: 'false', BERTH_LOG_REQUESTS: 'false' } }).then(
        (r) => (berth = r),
      ),
      startDockerDaemon().then((d) => (daemon = d)),
    ]);
    await inBatches(
      Array.from({ length: REUSED + DROPPED }, (_, i) => i),
      4,
      async (i) =>
        void old.push(await buildDockerImage(daemon, `local/gc-old-${i}:v1`, { randomLayersMiB: [2] })),
    );
    old.sort((a, b) => a.tag.localeCompare(b.tag));
    await inBatches(
      Array.from({ length: PUSHES }, (_, i) => i),
      4,
      async (i) => {
        const image =
          i < REUSED
            ? await buildDockerImage(daemon, `local/gc-new-${i}:v1`, {
                from: old[i]!.tag,
                smallFiles: 1,
                randomLayersMiB: [1],
              })
            : await buildDockerImage(daemon, `local/gc-new-${i}:v1`, { randomLayersMiB: [1] });
        // The first new images go to their old image's repository (docker: "Layer already exists"),
        // the others of those FROM an old image to another one (docker tries a cross-repository mount).
        const repo = i < 3 ? `gc/app-${i}` : `gc/new-${i}`;
        pushes.push({ ref: `${berth.host}/${repo}:v1`, repo, image, attempts: 0 });
      },
    );
    pushes.sort((a, b) => a.repo.localeCompare(b.repo));
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled([
      daemon?.stop(),
      berth?.stop(),
      ...old.map((image) => image.remove()),
      ...pushes.map((p) => p.image.remove()),
    ]);
  });

  it('keeps every acknowledged image whole and frees exactly what the deleted images alone used', async () => {
    // The old images, pushed and then deleted (by digest: manifest and tags).
    const oldContent: Array<{ repo: string; digest: string; parts: string[] }> = [];
    for (const [i, image] of old.entries()) {
      const repo = `gc/app-${i}`;
      await dockerOk(daemon, ['tag', image.tag, `${berth.host}/${repo}:v1`]);
      await dockerOk(daemon, ['push', `${berth.host}/${repo}:v1`]);
      oldContent.push({ repo, ...(await contentOf(berth.url, repo, 'v1')) });
    }
    const before = await storedBlobs(berth.dataDir);
    for (const { repo, digest } of oldContent) {
      const res = await fetch(`${berth.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
      expect(res.status).toBe(202);
    }

    // The collector, again and again with a delay of 0, while the pushes run.
    const reports: GcReport[] = [];
    let pushing = true;
    const collecting = (async () => {
      while (pushing) {
        const run = await runBerth(['gc', '--data', berth.dataDir, '--delay', '0', '--json']);
        expect(run.code, run.stderr).toBe(0);
        reports.push(JSON.parse(run.stdout) as GcReport);
      }
    })();
    const push = async (p: Pushed) => {
      p.attempts += 1;
      const result = await daemon.docker(['push', p.ref], { timeoutMs: 180_000 });
      if (result.code === 0) p.digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(result.stdout)?.[1];
      else expect(result.stderr + result.stdout, p.ref).toMatch(/unknown blob|blob unknown/i);
    };
    for (const p of pushes) await dockerOk(daemon, ['tag', p.image.tag, p.ref]);
    const started = Date.now();
    await Promise.all(pushes.map(push));
    const pushMs = Date.now() - started;
    pushing = false;
    await collecting;
    const lostRaces = pushes.filter((p) => p.digest === undefined).length;
    // Pushed again with the collector stopped, as a CI job retries a failed push.
    for (const p of pushes.filter((candidate) => candidate.digest === undefined)) await push(p);
    expect(pushes.filter((p) => p.digest === undefined).map((p) => p.ref)).toEqual([]);

    const final = await runBerth(['gc', '--data', berth.dataDir, '--delay', '0', '--json']);
    expect(final.code, final.stderr).toBe(0);
    reports.push(JSON.parse(final.stdout) as GcReport);

    // Storage: exactly the deleted images' own content is gone.
    const newContent = await Promise.all(pushes.map((p) => contentOf(berth.url, p.repo, 'v1')));
    const used = new Set(newContent.flatMap((c) => c.parts));
    const unique = new Set(oldContent.flatMap((c) => c.parts).filter((digest) => !used.has(digest)));
    const after = await storedBlobs(berth.dataDir);
    const freed = [...before.keys()].filter((key) => !after.has(key));
    expect(freed.sort()).toEqual([...unique].map(keyOf).sort());
    const freedBytes = freed.reduce((sum, key) => sum + (before.get(key) ?? 0), 0);
    // The reports count these, plus whatever a lost race swept and its retry stored again.
    const reported = reports.reduce((sum, r) => sum + r.bytesFreed + r.orphanBytes, 0);
    expect(reported).toBeGreaterThanOrEqual(freedBytes);
    // Every dropped image's layers were its own (random content): at least 2 MiB each went.
    expect(freedBytes).toBeGreaterThan(DROPPED * 2 * 1024 * 1024);
    for (const digest of used) expect(after.has(keyOf(digest)), digest).toBe(true);

    // Every acknowledged image pulls into an empty engine and runs.
    await removeAllImages(daemon);
    await inBatches(pushes, 5, async (p) => {
      const pull = await dockerOk(daemon, ['pull', p.ref]);
      expect(pull.stdout).toContain(`Digest: ${p.digest}`);
      expect(await runBusybox(daemon, p.ref, 'cat', '/data/id')).toBe(`${p.image.id}\n`);
    });

    const runs = reports.length;
    const gcMs = reports.reduce((sum, r) => sum + r.durationMs, 0);
    console.log(
      `gc e2e (filesystem): ${PUSHES} pushes in ${pushMs} ms, ${lostRaces} lost a race and were pushed again; ` +
        `${runs} gc runs (${Math.round(gcMs / runs)} ms each on average, longest ${Math.max(...reports.map((r) => r.durationMs))} ms); ` +
        `freed ${freed.length} objects, ${freedBytes} bytes (reports: ${reported}) (${(freedBytes / 1048576).toFixed(1)} MiB) of ` +
        `${[...before.values()].reduce((a, b) => a + b, 0)} bytes stored before; ` +
        `${reports.reduce((s, r) => s + r.manifestsDeleted, 0)} manifests, ${reports.reduce((s, r) => s + r.linksRemoved, 0)} links, ` +
        `${reports.reduce((s, r) => s + r.held, 0)} candidates held by pushes`,
    );
  });
});
