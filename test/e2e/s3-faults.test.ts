// Berth on S3 while the S3 server goes away: the RADOS Gateway of scripts/s3-test-server.sh is killed
// under a push load and started again, and later stopped in the middle of large downloads. Berth must
// answer what fails with an OCI error (never hang, never crash), acknowledge only images that are whole
// in the bucket, report as present only blobs whose bytes are complete, and work again afterwards.
//
// Only the gateway is stopped: the monitor and the memstore OSD keep running, so what was stored before
// the outage is still there after it. The cluster has its own state directory and ports (other suites
// use the script's defaults and storage-drivers/s3.test.ts stops that cluster when it is done).
import { createHash, randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eTarget, startBerthProcess, type RegistryProcess } from '../support/processes.js';
import {
  createBucket,
  deleteBucket,
  listObjects,
  objectSha256,
  requireCephTools,
  startS3Gateway,
  type S3Gateway,
} from './fixtures/s3-gateway.js';
import {
  gatewayControl,
  KiB,
  MiB,
  planImage,
  pushImage,
  RecordingClient,
  sha256Digest,
  type Exchange,
  type PushResult,
  type RetryPolicy,
} from './fixtures/s3-faults-load.js';

const SUITE = 'S3 gateway faults e2e';
const GATEWAY = {
  stateDir: '/tmp/berth-ceph-faults',
  port: 7680,
  monPort: 7670,
  osdPorts: '7671-7679',
  storeBytes: 1024 * MiB,
};
/** Berth's S3 client: a short request timeout and few attempts, so an outage shows quickly. */
const S3_REQUEST_TIMEOUT = '3s';
const S3_MAX_ATTEMPTS = 2;
/** No request to Berth may take longer than this (its S3 calls are bounded far below it). */
const REQUEST_BOUND_MS = 30_000;
const PUSHERS = 8;
const READERS = 2;
const LOAD_BEFORE_STOP_MS = 2_000;
const OUTAGE_MS = 4_000;
const LOAD_AFTER_START_MS = 3_000;
const POLICY: RetryPolicy = { attempts: 3, chunkAttempts: 8, delayMs: 500, chunkBytes: 256 * KiB };
const BLOB_KEY = /^blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\/data$/;

const hasCeph = requireCephTools(SUITE);
if (e2eTarget !== 'berth') console.warn(`\n*** SKIPPING ${SUITE}: it tests Berth's S3 driver only ***\n`);

describe.skipIf(!hasCeph || e2eTarget !== 'berth')(
  'Berth on S3 while the RADOS Gateway goes away',
  { timeout: 90_000 },
  () => {
    let gateway: S3Gateway | undefined;
    const control = gatewayControl(GATEWAY);
    /** True between a gateway stop and its start: afterAll starts it again if a test failed between. */
    let gatewayStopped = false;
    let bucketCreated = false;
    let registry: RegistryProcess;
    const bucket = `berth-faults-${randomBytes(6).toString('hex')}`;
    const prefix = `faults-${randomBytes(6).toString('hex')}`;

    const stopGateway = async (how: 'term' | 'kill'): Promise<void> => {
      gatewayStopped = true;
      await control.stop(how);
    };
    const startGateway = async (): Promise<void> => {
      await control.start();
      gatewayStopped = false;
    };
    /** Fails with Berth's log tail when the process is gone. */
    const expectBerthAlive = (): void => {
      let alive = true;
      try {
        process.kill(registry.pid, 0);
      } catch {
        alive = false;
      }
      expect(alive, `Berth (pid ${registry.pid}) exited; output tail:\n${registry.output()}`).toBe(true);
    };

    beforeAll(async () => {
      gateway = await startS3Gateway(GATEWAY);
      await createBucket(gateway.client, bucket);
      bucketCreated = true;
      registry = await startBerthProcess({
        env: {
          BERTH_STORAGE_DRIVER: 's3',
          BERTH_STORAGE_S3_BUCKET: bucket,
          BERTH_STORAGE_S3_ENDPOINT: gateway.endpoint,
          BERTH_STORAGE_S3_REGION: gateway.region,
          BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
          BERTH_STORAGE_S3_ACCESS_KEY_ID: gateway.accessKeyId,
          BERTH_STORAGE_S3_SECRET_ACCESS_KEY: gateway.secretAccessKey,
          BERTH_STORAGE_S3_PREFIX: prefix,
          BERTH_STORAGE_S3_MAX_ATTEMPTS: String(S3_MAX_ATTEMPTS),
          BERTH_STORAGE_S3_REQUEST_TIMEOUT: S3_REQUEST_TIMEOUT,
          // Blob GETs go through Berth, not to presigned gateway URLs.
          BERTH_STORAGE_S3_REDIRECT_ENABLED: 'false',
          BERTH_LOG_LEVEL: 'warn',
          BERTH_LOG_REQUESTS: 'false',
        },
      });
    }, 180_000);

    afterAll(async () => {
      if (gatewayStopped) await control.start().catch((err: unknown) => console.warn(SUITE, err));
      await registry?.stop();
      if (gateway) {
        // A cluster this suite started goes away whole; in one it found running, only the bucket does.
        if (bucketCreated && !gateway.started) {
          await deleteBucket(gateway.client, bucket).catch((err: unknown) =>
            console.warn(`${SUITE}: could not delete bucket ${bucket}: ${(err as Error).message}`),
          );
        }
        await gateway.stop();
      }
    }, 120_000);

    it('acknowledges only whole images while the gateway is killed and restarted under a push load', async () => {
      const epoch = performance.now();
      const client = new RecordingClient(registry.url, epoch, REQUEST_BOUND_MS);
      const prober = new RecordingClient(registry.url, epoch, 3_000);
      const results: PushResult[] = [];
      const reads: BlobRead[] = [];
      let loadStopped = false;

      const pushers = Array.from({ length: PUSHERS }, async (_, worker) => {
        for (let n = 0; !loadStopped; n++) {
          const plan = planImage(`faults/w${worker}`, `i${n}`, {
            layerCount: 1 + (n % 2),
            minLayer: 64 * KiB,
            maxLayer: 2 * MiB,
            chunked: (n + worker) % 3 === 0,
          });
          results.push(await pushImage(client, plan, POLICY));
        }
      });
      // Readers download blobs of acknowledged images throughout, so some GETs are cut mid-stream.
      const readers = Array.from({ length: READERS }, async () => {
        while (!loadStopped) {
          const done = results.filter((result) => result.acknowledged);
          const image = done[Math.floor(Math.random() * done.length)];
          const blob = image?.plan.blobs[Math.floor(Math.random() * image.plan.blobs.length)];
          if (image && blob) reads.push(await readBlob(client, image.plan.repo, blob.digest));
          await sleep(50);
        }
      });
      const probes = (async () => {
        while (!loadStopped) {
          await prober.send('GET /v2/', 'GET', '/v2/');
          await sleep(200);
        }
      })();

      let stoppedAt = Infinity;
      let restartRequestedAt = Infinity;
      let restartedAt = Infinity;
      try {
        // At least LOAD_BEFORE_STOP_MS, and until a few images are in (so readers have blobs to read).
        await sleep(LOAD_BEFORE_STOP_MS);
        await waitUntil(
          () => results.filter((r) => r.acknowledged).length >= 4,
          20_000,
          'images before the stop',
        );
        stoppedAt = client.now();
        await stopGateway('kill');
        await sleep(OUTAGE_MS);
        restartRequestedAt = client.now();
        await startGateway();
        restartedAt = client.now();
        await sleep(LOAD_AFTER_START_MS);
        await waitUntil(
          () => results.some((r) => r.acknowledged && r.start >= restartedAt),
          20_000,
          'an image pushed after the restart',
        );
      } finally {
        loadStopped = true;
      }
      const loadStoppedAt = client.now();
      await withDeadline(Promise.all([...pushers, ...readers, probes]), 60_000, 'the load to drain');
      const drainedAt = client.now();

      // Berth is alive and answers.
      expectBerthAlive();
      expect((await fetch(`${registry.url}/v2/`, { signal: AbortSignal.timeout(3_000) })).status).toBe(200);

      const acknowledged = results.filter((result) => result.acknowledged);
      const s3Backed = new Set(['POST blob', 'PATCH chunk', 'PUT upload', 'PUT manifest', 'GET blob']);
      const failedInOutage = client.exchanges.filter(
        (e) => s3Backed.has(e.label) && e.end >= stoppedAt && e.start <= restartedAt && !isSuccess(e),
      );
      const firstRecovered = client.exchanges
        .filter(
          (e) => e.start >= restartedAt && e.label !== 'GET blob' && s3Backed.has(e.label) && isSuccess(e),
        )
        .sort((a, b) => a.end - b.end)[0];
      const summary = {
        timeline: {
          stoppedAt: ms(stoppedAt),
          restartRequestedAt: ms(restartRequestedAt),
          restartedAt: ms(restartedAt),
          loadStoppedAt: ms(loadStoppedAt),
          drainedAt: ms(drainedAt),
          firstWriteSuccessAfterRestart: firstRecovered ? ms(firstRecovered.end - restartedAt) : null,
        },
        pushes: {
          attempted: results.length,
          acknowledged: acknowledged.length,
          acknowledgedAfterRestart: acknowledged.filter((r) => r.start >= restartedAt).length,
          chunked: results.filter((r) => r.plan.chunked).length,
          chunkResumes: results.reduce((sum, r) => sum + r.resumed, 0),
          failures: tally(results.filter((r) => !r.acknowledged).map((r) => shorten(r.failure ?? ''))),
        },
        exchanges: {
          endedBeforeStop: tally(client.exchanges.filter((e) => e.end < stoppedAt).map(describeOutcome)),
          overlappingOutage: tally(
            client.exchanges.filter((e) => e.end >= stoppedAt && e.start < restartedAt).map(describeOutcome),
          ),
          startedAfterRestart: tally(
            client.exchanges.filter((e) => e.start >= restartedAt).map(describeOutcome),
          ),
          slowestMs: Math.round(Math.max(...client.exchanges.map((e) => e.end - e.start))),
        },
        reads: tally(reads.map((read) => read.outcome)),
        probes: {
          count: prober.exchanges.length,
          slowestMs: Math.round(Math.max(...prober.exchanges.map((e) => e.end - e.start))),
        },
        anomalies: results.flatMap((r) => r.anomalies),
      };
      console.info(
        `${SUITE}: push load across a gateway kill and restart\n${JSON.stringify(summary, null, 2)}`,
      );

      // (a) Failures are answered, not hung: every error status carries an OCI error body, nothing hits
      // the client's bound, and GET /v2/ answered 200 (within 3 s) all along. Soft assertions: the
      // integrity checks below run (and report) even when an answer is wrong.
      expect.soft(client.exchanges.filter((e) => e.timedOut).map(describeExchange)).toEqual([]);
      expect.soft(prober.exchanges.filter((e) => e.status !== 200).map(describeExchange)).toEqual([]);
      const errorStatuses = client.exchanges.filter((e) => e.status !== undefined && e.status >= 400);
      expect
        .soft(
          errorStatuses
            .filter((e) => e.ociCodes === undefined || !e.contentType?.startsWith('application/json'))
            .map(describeExchange),
        )
        .toEqual([]);
      // A gateway failure is the server's: 5xx, which clients retry. Of the client errors only 416 (a
      // chunk that assumed another offset after a failed one) belongs here; a 4xx such as
      // 400 BLOB_UPLOAD_INVALID makes docker and containerd give up on the push.
      const clientErrors = errorStatuses.filter((e) => !(e.status === 416 || (e.status ?? 0) >= 500));
      expect
        .soft(
          tally(clientErrors.map((e) => `${describeOutcome(e)} ${e.errorBody ?? ''}`)),
          `gateway failures answered with a client error, e.g. ${clientErrors.slice(0, 3).map(describeExchange).join('; ')}`,
        )
        .toEqual({});
      // The outage was seen (a sanity check of the fault), and answered with 5xx, not only cut connections.
      expect(failedInOutage.length).toBeGreaterThan(0);
      expect.soft(failedInOutage.some((e) => (e.status ?? 0) >= 500)).toBe(true);
      // A GET that answered 200 either delivered the blob's exact bytes or was visibly cut short.
      expect(reads.filter((read) => read.outcome === 'wrong bytes').map((read) => read.detail)).toEqual([]);
      expect(summary.anomalies).toEqual([]);

      // (b) Every acknowledged image reads back whole: the manifest by tag, then every blob it names.
      expect(summary.pushes.acknowledgedAfterRestart).toBeGreaterThan(0);
      for (const { plan } of acknowledged) {
        const manifest = await fetchOk(registry.url, `/v2/${plan.repo}/manifests/${plan.tag}`);
        expect(manifest.status, `${plan.repo}:${plan.tag}`).toBe(200);
        expect(manifest.headers.get('docker-content-digest')).toBe(plan.manifestDigest);
        expect(manifest.body.equals(plan.manifest), `${plan.repo}:${plan.tag} manifest bytes`).toBe(true);
        for (const { digest, data } of plan.blobs) {
          const blob = await fetchOk(registry.url, `/v2/${plan.repo}/blobs/${digest}`);
          expect(blob.status, `${plan.repo}@${digest}`).toBe(200);
          expect(blob.body.length, `${plan.repo}@${digest}`).toBe(data.length);
          expect(sha256Digest(blob.body), `${plan.repo}@${digest}`).toBe(digest);
        }
      }

      // (c) Whatever Berth reports present is complete, including blobs and manifests of pushes that
      // failed (their request may have failed after the blob was stored).
      let presentWithoutAck = 0;
      for (const { plan, acknowledged: ok } of results) {
        for (const { digest, data } of plan.blobs) {
          const head = await fetch(`${registry.url}/v2/${plan.repo}/blobs/${digest}`, {
            method: 'HEAD',
            signal: AbortSignal.timeout(10_000),
          });
          if (head.status === 404) continue;
          expect(head.status, `HEAD ${plan.repo}@${digest}`).toBe(200);
          expect(Number(head.headers.get('content-length')), `HEAD ${plan.repo}@${digest}`).toBe(data.length);
          const blob = await fetchOk(registry.url, `/v2/${plan.repo}/blobs/${digest}`);
          expect(blob.status, `GET ${plan.repo}@${digest}`).toBe(200);
          expect(sha256Digest(blob.body), `GET ${plan.repo}@${digest}`).toBe(digest);
          if (!ok) presentWithoutAck++;
        }
        if (!ok) {
          const manifest = await fetchOk(registry.url, `/v2/${plan.repo}/manifests/${plan.tag}`);
          if (manifest.status === 200) {
            expect(manifest.body.equals(plan.manifest), `${plan.repo}:${plan.tag} manifest bytes`).toBe(true);
          } else {
            expect(manifest.status, `${plan.repo}:${plan.tag}`).toBe(404);
          }
        }
      }
      // The bucket agrees: every object under blobs/ holds exactly the bytes its name is the hash of.
      const s3 = gatewayClient();
      const stored = await listObjects(s3, bucket, `${prefix}/`);
      const blobObjects = stored.filter(({ key }) => key.startsWith('blobs/'));
      expect(blobObjects.filter(({ key }) => !BLOB_KEY.test(key)).map(({ key }) => key)).toEqual([]);
      for (const { key } of blobObjects) {
        const [, , hex] = BLOB_KEY.exec(key) ?? [];
        expect(await objectSha256(s3, bucket, `${prefix}/${key}`), key).toBe(hex);
      }
      // Bytes of failed uploads may stay under uploads/ (for the stale-upload purge). Not asserted, but
      // reported: a session Berth no longer knows is never purged.
      const sessions = new Set(
        stored.filter(({ key }) => key.startsWith('uploads/')).map(({ key }) => key.split('/')[1] ?? ''),
      );
      const repos = [...new Set(results.map((r) => r.plan.repo))];
      let unknownSessions = 0;
      for (const id of sessions) {
        const statuses = await Promise.all(
          repos.map(async (repo) => {
            const res = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/${id}`, {
              signal: AbortSignal.timeout(10_000),
            });
            await res.arrayBuffer();
            return res.status;
          }),
        );
        if (!statuses.includes(204)) unknownSessions++;
      }
      console.info(
        `${SUITE}: ${presentWithoutAck} blobs of failed pushes are present (and whole); the bucket holds ` +
          `${blobObjects.length} blobs, and objects of ${sessions.size} upload sessions under uploads/, ` +
          `${unknownSessions} of them unknown to Berth (so never purged)`,
      );

      // (d) Pushes work again: monolithic and chunked, on the first attempt.
      const after = new RecordingClient(registry.url, epoch, REQUEST_BOUND_MS);
      const fresh = await Promise.all(
        [false, true, false, true].map((chunked, i) =>
          pushImage(
            after,
            planImage('faults/after', `t${i}`, {
              layerCount: 2,
              minLayer: 64 * KiB,
              maxLayer: 2 * MiB,
              chunked,
            }),
            { ...POLICY, attempts: 1, chunkAttempts: 1 },
          ),
        ),
      );
      expect(fresh.filter((r) => !r.acknowledged).map((r) => r.failure)).toEqual([]);
      for (const { plan } of fresh) {
        for (const { digest } of plan.blobs) {
          const blob = await fetchOk(registry.url, `/v2/${plan.repo}/blobs/${digest}`);
          expect(sha256Digest(blob.body)).toBe(digest);
        }
      }
      expectBerthAlive();
    });

    it('cuts downloads short when the gateway stops mid-stream, and serves them again after', async () => {
      // Larger than what can be in flight between the gateway and the reader, so no download can be
      // whole before the stop: loopback sockets autotune their receive buffers up to tcp_rmem's maximum
      // (32 MiB here), on both hops (gateway to Berth, Berth to the reader).
      const size = 128 * MiB;
      const data = randomBytes(size);
      const digest = sha256Digest(data);
      const path = `/v2/faults/big/blobs/${digest}`;
      const pushed = await fetch(`${registry.url}/v2/faults/big/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        body: data,
        headers: { 'content-type': 'application/octet-stream' },
        signal: AbortSignal.timeout(60_000),
      });
      expect(pushed.status, await pushed.text()).toBe(201);

      // Three slow readers (8 MiB/s: 16 s for the whole blob), the gateway stopped once each has 4 MiB.
      const downloads = Array.from({ length: 3 }, () => slowGet(`${registry.url}${path}`, 8 * MiB, 40_000));
      await waitUntil(
        () => downloads.every((d) => d.progress.received >= 4 * MiB || d.progress.finished),
        20_000,
        'the downloads to start',
      );
      const stoppedAt = performance.now();
      await stopGateway('term');
      const outcomes = await Promise.all(downloads.map((d) => d.done));
      const cutAfterMs = outcomes.map((o) => Math.round(o.finishedAt - stoppedAt));

      // During the outage: metadata answers, bytes do not (an OCI error, promptly), and Berth stays up.
      const probe = await fetch(`${registry.url}/v2/`, { signal: AbortSignal.timeout(3_000) });
      expect(probe.status).toBe(200);
      const head = await fetch(`${registry.url}${path}`, {
        method: 'HEAD',
        signal: AbortSignal.timeout(3_000),
      });
      expect(head.status).toBe(200);
      const outageStarted = performance.now();
      const during = await fetch(`${registry.url}${path}`, { signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
      const duringBody = Buffer.from(await during.arrayBuffer());
      const duringMs = Math.round(performance.now() - outageStarted);
      expectBerthAlive();

      await startGateway();
      const restartedAt = performance.now();
      // The first GET after the restart may meet the S3 client's dead pooled connections: bounded retries.
      let whole: { status: number; body: Buffer } | undefined;
      let attempts = 0;
      while (performance.now() - restartedAt < 15_000) {
        attempts++;
        whole = await fetchOk(registry.url, path).catch(() => undefined);
        if (whole?.status === 200 && whole.body.length === size) break;
        await sleep(250);
      }
      const recoveredMs = Math.round(performance.now() - restartedAt);
      console.info(
        `${SUITE}: downloads cut by the gateway stop: ${JSON.stringify(
          outcomes.map(({ status, contentLength, received, error }, i) => ({
            status,
            contentLength,
            received,
            error,
            endedMsAfterStop: cutAfterMs[i],
          })),
        )}; GET during the outage: ${during.status} in ${duringMs} ms ${duringBody.subarray(0, 200).toString()}; ` +
          `whole again ${recoveredMs} ms after the restart (${attempts} GETs)`,
      );

      for (const outcome of outcomes) {
        expect(outcome.timedOut).toBe(false);
        expect(outcome.status).toBe(200);
        expect(outcome.contentLength).toBe(size);
        // Cut visibly: an error or fewer bytes than announced; never a complete-looking body.
        expect(outcome.error !== undefined || outcome.received < size).toBe(true);
        expect(outcome.received).toBeLessThan(size);
      }
      expect(Math.max(...cutAfterMs)).toBeLessThan(REQUEST_BOUND_MS);
      expect(during.status).toBeGreaterThanOrEqual(500);
      expect(during.headers.get('content-type')).toMatch(/^application\/json/);
      expect(duringBody.toString()).toMatch(/"errors"/);
      expect(duringMs).toBeLessThan(REQUEST_BOUND_MS);

      expect(whole?.status).toBe(200);
      expect(whole?.body.length).toBe(size);
      expect(sha256Digest(whole?.body ?? Buffer.alloc(0))).toBe(digest);
      expectBerthAlive();
    });

    function gatewayClient(): S3Gateway['client'] {
      if (!gateway) throw new Error('the S3 gateway is not running');
      return gateway.client;
    }
  },
);

interface BlobRead {
  outcome: 'whole' | 'cut short' | 'error status' | 'no response' | 'wrong bytes';
  detail: string;
}

/** GET of a blob, classified: whole and right, visibly cut, refused, or (a bug) wrong bytes. */
async function readBlob(client: RecordingClient, repo: string, digest: string): Promise<BlobRead> {
  const reply = await client.send('GET blob', 'GET', `/v2/${repo}/blobs/${digest}`);
  const detail = describeExchange(reply.exchange);
  if (reply.status === undefined) return { outcome: 'no response', detail };
  if (reply.status >= 400) return { outcome: 'error status', detail };
  if (!reply.body) return { outcome: 'cut short', detail };
  return sha256Digest(reply.body) === digest
    ? { outcome: 'whole', detail }
    : { outcome: 'wrong bytes', detail };
}

async function fetchOk(
  baseUrl: string,
  path: string,
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(`${baseUrl}${path}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    signal: AbortSignal.timeout(REQUEST_BOUND_MS),
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

interface SlowDownload {
  progress: { received: number; finished: boolean };
  done: Promise<{
    status?: number;
    contentLength?: number;
    received: number;
    error?: string;
    timedOut: boolean;
    finishedAt: number;
  }>;
}

/** A GET read at `bytesPerSecond` at most (node:http, paused between chunks), bounded by `boundMs`. */
function slowGet(url: string, bytesPerSecond: number, boundMs: number): SlowDownload {
  const progress = { received: 0, finished: false };
  const hash = createHash('sha256');
  let status: number | undefined;
  let contentLength: number | undefined;
  let error: string | undefined;
  let timedOut = false;
  const done = new Promise<Awaited<SlowDownload['done']>>((resolve) => {
    const finish = () => {
      if (progress.finished) return;
      progress.finished = true;
      clearTimeout(timer);
      resolve({
        status,
        contentLength,
        received: progress.received,
        error,
        timedOut,
        finishedAt: performance.now(),
      });
    };
    const req = httpGet(url, { agent: false }, (res) => {
      status = res.statusCode;
      contentLength = Number(res.headers['content-length']);
      const started = performance.now();
      res.on('data', (chunk: Buffer) => {
        progress.received += chunk.length;
        hash.update(chunk);
        const wait = started + (progress.received / bytesPerSecond) * 1000 - performance.now();
        if (wait > 0) {
          res.pause();
          setTimeout(() => res.resume(), wait);
        }
      });
      res.on('error', (err) => (error ??= `${err.name}: ${err.message}`));
      res.on('close', finish);
    });
    req.on('error', (err) => {
      error ??= `${err.name}: ${err.message}`;
      finish();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error(`no end within ${boundMs} ms`));
    }, boundMs);
  });
  return { progress, done };
}

/** Polls `condition` every 50 ms; throws when it is still false after `ms`. */
async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting ${ms} ms for ${what}`);
    await sleep(50);
  }
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function isSuccess(e: Exchange): boolean {
  return e.status !== undefined && e.status < 300 && e.error === undefined;
}

function describeOutcome(e: Exchange): string {
  if (e.timedOut) return `${e.label} TIMED OUT`;
  if (e.status === undefined) return `${e.label} no response (${shorten(e.error ?? '')})`;
  if (e.error) return `${e.label} ${e.status} cut short`;
  return `${e.label} ${e.status}${e.ociCodes ? ` ${e.ociCodes.join(',')}` : ''}`;
}

function describeExchange(e: Exchange): string {
  return `${e.method} ${e.path} at ${ms(e.start)} for ${ms(e.end - e.start)}: ${describeOutcome(e)} ${e.errorBody ?? ''}`;
}

function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function shorten(text: string): string {
  return text
    .replace(/[0-9a-f]{64}/g, '…')
    .replace(/\/v2\/\S+/g, '…')
    .slice(0, 160);
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}
