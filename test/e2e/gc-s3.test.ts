// Online garbage collection on S3 (a real Ceph RADOS Gateway, scripts/s3-test-server.sh): a Berth
// process whose scheduled collector runs every second (delay 5 s) while 12 clients push images over
// HTTP in rounds, each round beside a `berth gc --delay 0` from another process; some images reuse
// the layers of images deleted just before, and objects that no record knows (a crash's leftovers)
// are in the bucket too. A push that loses its race with the collector (MANIFEST_BLOB_UNKNOWN) goes
// again. Then `berth gc` runs once more, and the bucket itself is checked with a plain S3 client: the
// deleted images' own objects and the orphans are gone, every acknowledged image's objects are there
// with the right bytes, and every image reads back whole over HTTP. Objects and bytes freed are
// measured in the bucket.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcReport } from '../../src/gc/report.js';
import { ensureBuilt, runBerth } from '../support/cli.js';
import { startBerthProcess, type RegistryProcess } from '../support/processes.js';
import {
  createBucket,
  deleteBucket,
  listObjects,
  objectSha256,
  requireCephTools,
  startS3Gateway,
  type S3Gateway,
} from './fixtures/s3-gateway.js';

const SUITE = 'garbage collection S3 e2e';
const MiB = 1024 * 1024;
/** A gateway of this suite's own: vitest runs the S3 suites side by side. */
const GATEWAY = {
  stateDir: '/tmp/berth-ceph-gc',
  port: 7880,
  monPort: 7870,
  osdPorts: '7871-7879',
  storeBytes: 512 * MiB,
};
const OLD = 6;
/** New images reusing the unique layer of the deleted image of the same index. */
const REUSED = 4;
const PUSHES = 12;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Blob {
  digest: string;
  bytes: Buffer;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
  }
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const blobOf = (bytes: Buffer): Blob => ({ digest: sha256(bytes), bytes });
const keyOf = (digest: string) => `blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;

function imageOf(config: Blob, layers: Blob[]): Blob {
  const descriptor = (mediaType: string, blob: Blob) => ({
    mediaType,
    digest: blob.digest,
    size: blob.bytes.length,
  });
  return blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor('application/vnd.oci.image.config.v1+json', config),
        layers: layers.map((layer) => descriptor('application/vnd.oci.image.layer.v1.tar', layer)),
      }),
    ),
  );
}

describe.skipIf(!requireCephTools(SUITE))(
  'garbage collection on S3 during pushes',
  { timeout: 240_000 },
  () => {
    let gateway: S3Gateway | undefined;
    let registry: RegistryProcess;
    const bucket = `berth-gc-${randomBytes(6).toString('hex')}`;
    const prefix = `gc-${randomBytes(4).toString('hex')}/`;
    let env: Record<string, string>;
    const scheduledRuns: GcReport[] = [];

    beforeAll(async () => {
      await ensureBuilt();
      gateway = await startS3Gateway(GATEWAY);
      await createBucket(gateway.client, bucket);
      env = {
        BERTH_STORAGE_DRIVER: 's3',
        BERTH_STORAGE_S3_BUCKET: bucket,
        BERTH_STORAGE_S3_ENDPOINT: gateway.endpoint,
        BERTH_STORAGE_S3_REGION: gateway.region,
        BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
        BERTH_STORAGE_S3_ACCESS_KEY_ID: gateway.accessKeyId,
        BERTH_STORAGE_S3_SECRET_ACCESS_KEY: gateway.secretAccessKey,
        BERTH_STORAGE_S3_PREFIX: prefix.slice(0, -1),
        BERTH_GC_ENABLED: 'true',
        BERTH_GC_INTERVAL: '1s',
        // Long enough for a push to link its blobs and put its manifest; `berth gc --delay 0` runs
        // during the pushes too.
        BERTH_GC_DELAY: '5s',
        BERTH_GC_ORPHANS: 'false',
        BERTH_LOG_REQUESTS: 'false',
      };
      let pending = '';
      registry = await startBerthProcess({
        env,
        onStdout(chunk) {
          pending += chunk.toString();
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            const entry = JSON.parse(line) as { gc?: GcReport };
            if (entry.gc) scheduledRuns.push(entry.gc);
          }
        },
      });
    }, 240_000);

    afterAll(async () => {
      await registry?.stop();
      if (gateway) {
        if (!gateway.started) await deleteBucket(gateway.client, bucket).catch(() => undefined);
        await gateway.stop();
      }
    }, 120_000);

    const http = (path: string, init: RequestInit = {}) =>
      fetch(`${registry.url}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });

    /** A push as a client does it: HEAD each blob, upload what is missing, PUT the manifest. */
    async function push(repo: string, tag: string, blobs: Blob[], manifest: Blob): Promise<boolean> {
      for (const blob of blobs) {
        if ((await http(`/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' })).status === 200) continue;
        const res = await http(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
          method: 'POST',
          body: blob.bytes,
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(res.status, await res.text()).toBe(201);
      }
      const res = await http(`/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest.bytes,
        headers: { 'content-type': OCI_MANIFEST },
      });
      const text = await res.text();
      if (res.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN')) return false;
      expect(res.status, text).toBe(201);
      return true;
    }

    /** Pushes again while the manifest PUT says a blob is unknown (the collector took it); the attempts. */
    async function pushUntilAcknowledged(repo: string, blobs: Blob[], manifest: Blob): Promise<number> {
      for (let attempt = 1; attempt <= 20; attempt++) {
        if (await push(repo, 'v1', blobs, manifest)) return attempt;
      }
      throw new Error(`${repo}: 20 pushes lost their race with the collector`);
    }

    const stored = async () =>
      new Map(
        (await listObjects(gateway!.client, bucket, prefix)).map((object) => [object.key, object.size]),
      );

    it('frees the deleted images and the orphans, and keeps every acknowledged image whole', async () => {
      const s3 = gateway!.client;
      const base = Array.from({ length: 3 }, () => blobOf(randomBytes(MiB)));
      const old = Array.from({ length: OLD }, (_, i) => {
        const config = blobOf(Buffer.from(JSON.stringify({ old: i, nonce: randomUUID() })));
        const layers = [base[i % 3]!, blobOf(randomBytes(512 * 1024))];
        return { repo: `gc/old-${i}`, config, layers, manifest: imageOf(config, layers) };
      });
      // The collector already runs with a delay of 0: a push may lose a race and go again.
      for (const image of old)
        await pushUntilAcknowledged(image.repo, [image.config, ...image.layers], image.manifest);
      // Left by a crash: a blob object without a record, and an upload session's bytes without one.
      const orphan = blobOf(randomBytes(4096));
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: prefix + keyOf(orphan.digest), Body: orphan.bytes }),
      );
      const orphanUpload = `uploads/${randomUUID()}/data`;
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: prefix + orphanUpload, Body: randomBytes(2048) }),
      );
      const before = await stored();

      for (const image of old) {
        const res = await http(`/v2/${image.repo}/manifests/${image.manifest.digest}`, { method: 'DELETE' });
        expect(res.status).toBe(202);
      }
      // New images, pushed concurrently while the scheduled collector runs every second: the first ones
      // reuse the unique layer of a deleted image (half in the same repository, half elsewhere).
      const images = Array.from({ length: PUSHES }, (_, i) => {
        const config = blobOf(Buffer.from(JSON.stringify({ image: i, nonce: randomUUID() })));
        const reused = i < REUSED ? [old[i]!.layers[1]!] : [];
        const layers = [base[i % 3]!, ...reused, blobOf(randomBytes(256 * 1024))];
        const repo = i < REUSED / 2 ? old[i]!.repo : `gc/new-${i}`;
        return { repo, config, layers, manifest: imageOf(config, layers), attempts: 0 };
      });
      // In rounds of 4 concurrent pushes, each round starting once a new scheduled run has ended, and
      // run beside `berth gc --delay 0` from another process: a push that loses its race with that run
      // goes again once it has ended (the scheduled runs leave new links alone for 5 s).
      const cliRuns: GcReport[] = [];
      const collectNow = async () => {
        const run = await runBerth(
          ['gc', '--data', registry.dataDir, '--delay', '0', '--no-orphans', '--json'],
          {
            env,
          },
        );
        expect(run.code, run.stderr).toBe(0);
        cliRuns.push(JSON.parse(run.stdout) as GcReport);
      };
      const pushStarted = Date.now();
      for (let round = 0; round < PUSHES / 4; round++) {
        const seen = scheduledRuns.length;
        await waitUntil(() => scheduledRuns.length > seen, 30_000);
        const batch = images.slice(round * 4, round * 4 + 4);
        const pushed = new Set<number>();
        const attempt = async (image: (typeof images)[number], index: number) => {
          image.attempts += 1;
          if (await push(image.repo, 'v1', [image.config, ...image.layers], image.manifest))
            pushed.add(index);
        };
        await Promise.all([collectNow(), ...batch.map(attempt)]);
        for (const [index, image] of batch.entries()) {
          while (!pushed.has(index)) {
            expect(image.attempts, image.repo).toBeLessThan(5);
            await attempt(image, index);
          }
        }
      }
      const pushEnded = Date.now();

      const final = await runBerth(
        ['gc', '--data', registry.dataDir, '--delay', '0', '--orphans', '--orphan-grace', '0', '--json'],
        { env },
      );
      expect(final.code, final.stderr).toBe(0);
      const report = JSON.parse(final.stdout) as GcReport;

      const after = await stored();
      const used = new Set(
        images.flatMap((image) => [image.manifest, image.config, ...image.layers].map((b) => b.digest)),
      );
      const own = old
        .flatMap((image) => [image.manifest, image.config, ...image.layers])
        .map((blob) => blob.digest)
        .filter((digest) => !used.has(digest));
      const freed = [...before.keys()].filter((key) => !after.has(key));
      expect(freed.sort()).toEqual([...new Set(own.map(keyOf)), keyOf(orphan.digest), orphanUpload].sort());
      for (const digest of used) {
        expect(await objectSha256(s3, bucket, prefix + keyOf(digest)), digest).toBe(digest.slice(7));
      }
      expect([...after.keys()].filter((key) => key.startsWith('uploads/'))).toEqual([]);

      // Every image reads back whole (blob GETs redirect to the gateway).
      for (const image of images) {
        const manifest = await http(`/v2/${image.repo}/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
        expect(manifest.headers.get('docker-content-digest')).toBe(image.manifest.digest);
        for (const blob of [image.config, ...image.layers]) {
          const res = await http(`/v2/${image.repo}/blobs/${blob.digest}`);
          expect(res.status).toBe(200);
          expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
        }
      }

      const runsDuring = scheduledRuns.filter(
        (run) => run.startedAt < pushEnded && run.startedAt + run.durationMs > pushStarted,
      ).length;
      const freedBytes = freed.reduce((sum, key) => sum + (before.get(key) ?? 0), 0);
      const runs = [...scheduledRuns, ...cliRuns, report];
      console.log(
        `gc e2e (S3): ${PUSHES} pushes, ${images.reduce((s, i) => s + i.attempts - 1, 0)} retried after a lost race; ` +
          `${runsDuring} scheduled and ${cliRuns.length} berth gc runs during the pushes (${pushEnded - pushStarted} ms), ` +
          `${runs.length} runs in all ` +
          `(${Math.round(runs.reduce((s, r) => s + r.durationMs, 0) / runs.length)} ms on average, ` +
          `longest ${Math.max(...runs.map((r) => r.durationMs))} ms); freed ${freed.length} of ${before.size} objects, ` +
          `${freedBytes} bytes (${(freedBytes / MiB).toFixed(1)} MiB), orphans included`,
      );
      expect(runsDuring).toBeGreaterThanOrEqual(PUSHES / 4 - 1);
    });
  },
);
