// `berth mirror status` (issue 10, "Seeing it work"): hits, misses and bytes per upstream, read by
// the CLI from the database once the mirror has written its counters (every 5 s and on close).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { sha256 } from '../support/fuzz.js';
import {
  getManifest,
  pushLayers,
  randomishBlob,
  startBerthIn,
  streamGet,
  tempDir,
  type PushedManifest,
  type UpstreamInput,
  waitUntilLinked,
} from '../support/mirror.js';

interface StatusRow {
  upstream: string;
  hits: number;
  misses: number;
  staleHits: number;
  bytesFromCache: number;
  bytesFromUpstream: number;
  cachedBytes: number;
  cachedItems: number;
  url: string;
  route: string;
}

describe('berth mirror status', () => {
  let upstream: RunningBerth;
  let proxy: FaultProxy;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let configFile: string;
  let image: PushedManifest;
  beforeAll(async () => {
    await ensureBuilt();
    upstream = await startBerth();
    proxy = await startFaultProxy(upstream.url);
    dir = await tempDir();
    const upstreams: UpstreamInput[] = [
      { name: 'up', url: proxy.url, prefix: 'up', tagFreshness: '1h' },
      { name: 'idle', url: 'http://127.0.0.1:9', prefix: 'idle' },
    ];
    // The same configuration for the server and the CLI, as an operator would have it.
    configFile = join(dir.path, 'berth.yaml');
    await writeFile(configFile, JSON.stringify({ dataDir: dir.path, mirror: { upstreams } }));

    image = await pushLayers(upstream.url, 'status/app', 'v1', [randomishBlob(300_000, 'status')]);
    const mirror = await startBerthIn(dir.path, { mirror: { upstreams } });
    try {
      for (let pull = 0; pull < 2; pull++) {
        expect((await getManifest(mirror.url, 'up/status/app', 'v1')).text).toBe(image.manifest);
        for (const blob of [image.config, ...image.layers]) {
          const got = await streamGet(mirror.url, `/v2/up/status/app/blobs/${sha256(blob)}`);
          expect(sha256(got.body)).toBe(sha256(blob));
          await waitUntilLinked(mirror.url, proxy, 'up/status/app', sha256(blob));
        }
      }
    } finally {
      // Closing writes the counters not yet written.
      await mirror.stop();
    }
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.stop();
    await dir?.remove();
  });

  it('prints hits, misses and bytes per upstream as JSON', async () => {
    const run = await runBerth(['mirror', 'status', '--config', configFile, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as StatusRow[];
    const total =
      Buffer.byteLength(image.manifest) + image.config.length + (image.layers[0] as Buffer).length;
    expect(rows).toEqual([
      {
        upstream: 'up',
        url: proxy.url,
        route: 'up/',
        // First pull: the manifest and both blobs from the upstream; second: all from the cache.
        misses: 3,
        hits: 3,
        staleHits: 0,
        bytesFromUpstream: total,
        bytesFromCache: total,
        cachedBytes: total,
        cachedItems: 3,
      },
      {
        upstream: 'idle',
        url: 'http://127.0.0.1:9',
        route: 'idle/',
        misses: 0,
        hits: 0,
        staleHits: 0,
        bytesFromUpstream: 0,
        bytesFromCache: 0,
        cachedBytes: 0,
        cachedItems: 0,
      },
    ]);
  });

  it('prints a table with one line per upstream', async () => {
    const run = await runBerth(['mirror', 'status', '--data', dir.path, '--config', configFile]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^upstream\s+route\s+hits\s+stale\s+misses\s+hit ratio/);
    expect((lines[1] as string).split(/\s+/).slice(0, 6)).toEqual(['up', 'up/', '3', '0', '3', '50%']);
    expect((lines[2] as string).split(/\s+/).slice(0, 6)).toEqual(['idle', 'idle/', '0', '0', '0', '-']);
  });
});
