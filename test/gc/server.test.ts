// Scheduled garbage collection in an in-process Berth (gc.enabled, gc.interval): a deleted image's
// storage goes on its own while pushes keep working, runs are counted in /metrics and recorded in the
// run history, and none runs in maintenance mode (server.readOnly).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pushImage(url: string, repo: string, tag: string) {
  const config = Buffer.from(JSON.stringify({ nonce: randomBytes(8).toString('hex') }));
  const layer = randomBytes(4096);
  for (const blob of [config, layer]) {
    const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
    });
    expect(res.status).toBe(201);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
    }),
  );
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  expect(res.status, await res.text()).toBe(201);
  return { manifest: sha256(manifest), layer: sha256(layer) };
}

/** With a delay of 0 a push racing a run may lose its blobs (MANIFEST_BLOB_UNKNOWN); pushed again it goes through. */
async function pushRetried(url: string, repo: string, tag: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pushImage(url, repo, tag);
    } catch (err) {
      if (attempt === 10) throw err;
    }
  }
}

const storedAt = (dataDir: string, digest: string) =>
  join(dataDir, 'storage', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await condition()); await sleep(100)) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
  }
}

describe('scheduled garbage collection', () => {
  let berth: RunningBerth | undefined;
  afterEach(async () => {
    await berth?.stop();
    berth = undefined;
  });

  it('frees a deleted image on its own, counts its runs, and keeps pushes working', async () => {
    berth = await startBerth({ gc: { interval: '500ms', delay: '0s' } });
    const { url, dataDir } = berth;
    const old = await pushRetried(url, 'team/app', 'v1');
    expect(existsSync(storedAt(dataDir, old.layer))).toBe(true);
    expect((await fetch(`${url}/v2/team/app/manifests/${old.manifest}`, { method: 'DELETE' })).status).toBe(
      202,
    );
    await waitUntil(
      () => !existsSync(storedAt(dataDir, old.layer)) && !existsSync(storedAt(dataDir, old.manifest)),
    );
    const kept = await pushRetried(url, 'team/app', 'v2');
    await sleep(1_200); // more runs
    expect((await fetch(`${url}/v2/team/app/blobs/${kept.layer}`)).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(Number(/^berth_gc_runs_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(1);
    expect(Number(/^berth_gc_blobs_deleted_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    const { runs } = (await (await fetch(`${url}/api/v1/gc/runs?limit=100`)).json()) as {
      runs: Array<{ trigger: string; status: string; counts: { blobsDeleted: number } | null }>;
    };
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.every((run) => run.trigger === 'scheduled')).toBe(true);
    const done = runs.filter((run) => run.status === 'succeeded');
    expect(done.reduce((sum, run) => sum + (run.counts?.blobsDeleted ?? 0), 0)).toBeGreaterThanOrEqual(3);
  });

  it('does not run in maintenance mode', async () => {
    berth = await startBerth({ gc: { interval: '200ms', delay: '0s' }, server: { readOnly: true } });
    await sleep(600);
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^berth_gc_runs_total/m);
  });
});
