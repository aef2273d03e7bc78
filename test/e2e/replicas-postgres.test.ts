// Berth scaled out as config/examples/ha.yaml describes: two replicas, each with its own empty data
// directory, on one PostgreSQL database (a private cluster) and one bucket of a real Ceph RADOS
// Gateway, behind nginx (round robin). Real docker, skopeo and podman and the OCI conformance port go
// through the balancer; a chunked upload alternates between the replicas; a tag moved through one is
// served by the other at once; a second pair in token mode signs with one shared key; and PostgreSQL
// restarts, once under a push load. Tests run in order and share state; the restarts come last.
//
// The gateway has a state directory and ports of its own, so this file runs beside the other S3 suites.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOk, localImageId, removeAllImages } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { openRequest, type RawResponse } from '../support/http.js';
import {
  buildDockerImage,
  writeBuildContext,
  type BuildContext,
  type BuiltImage,
} from '../support/images.js';
import { createPodmanSandbox, type PodmanSandbox } from '../support/podman.js';
import {
  requirePostgres,
  startPostgres,
  type PostgresServer,
  type TestDatabase,
} from '../support/postgres.js';
import { E2E_TEST_TIMEOUT_MS, e2eTarget, settleAll, type RegistryProcess } from '../support/processes.js';
import { requireTools, runOk } from '../support/tools.js';
import { digestOf, MEDIA } from './fixtures/oci-layout.js';
import { fetchManifest } from './fixtures/registry-http.js';
import { runConformance, startReplicaSet, waitUntilReady, type ReplicaSet } from './fixtures/replica-set.js';
import {
  describeExchange,
  startProbes,
  startPushLoad,
  summarizeLoad,
  unreadable,
} from './fixtures/push-load.js';
import { KiB, MiB, RecordingClient, type RetryPolicy } from './fixtures/s3-faults-load.js';
import {
  createBucket,
  deleteBucket,
  requireCephTools,
  startS3Gateway,
  type S3Gateway,
} from './fixtures/s3-gateway.js';

const SUITE = 'replicas on PostgreSQL and S3 e2e';
const GATEWAY = {
  stateDir: '/tmp/berth-ceph-replicas',
  port: 7780,
  monPort: 7770,
  osdPorts: '7771-7779',
  storeBytes: 1024 * MiB,
};
const ADMIN_PASSWORD = 'replicas-e2e-admin-password';
const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));
const OCTET = { 'Content-Type': 'application/octet-stream' };
const PUSHERS = 6;
const LOAD_BEFORE_RESTART_MS = 2_000;
const LOAD_AFTER_RESTART_MS = 3_000;
const POLICY: RetryPolicy = { attempts: 4, chunkAttempts: 8, delayMs: 300, chunkBytes: 256 * KiB };

const hasClients = requireTools(SUITE, ['docker', 'dockerd', 'busybox', 'skopeo', 'podman', 'nginx']);
const hasPostgres = requirePostgres(SUITE);
const hasCeph = requireCephTools(SUITE);
if (e2eTarget !== 'berth') console.warn(`\n*** SKIPPING ${SUITE}: it tests Berth's replicas only ***\n`);
const ownPostgres = !process.env.PG_TEST_URL;
if (!ownPostgres) console.warn(`\n*** ${SUITE}: PG_TEST_URL is set, so the restart test is skipped ***\n`);

async function send(baseUrl: string, method: string, path: string, headers = {}, body?: Buffer) {
  const { req, response } = openRequest(baseUrl, method, path, {
    ...headers,
    'Content-Length': String(body?.length ?? 0),
  });
  req.end(body);
  return response;
}

function expectStatus(res: RawResponse, status: number): void {
  expect(res.status, `${res.status} ${res.text.slice(0, 300)}`).toBe(status);
}

describe.skipIf(!hasClients || !hasPostgres || !hasCeph || e2eTarget !== 'berth')(
  'two Berth replicas on PostgreSQL and Ceph RGW behind nginx',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let work: string | undefined;
    let postgres: PostgresServer | undefined;
    const databases: TestDatabase[] = [];
    let gateway: S3Gateway | undefined;
    let bucketCreated = false;
    /** auth none; blob GETs answered by Berth, since the conformance client follows no redirects. */
    let open: ReplicaSet;
    /** Token mode, one signing key; blob GETs redirect to the gateway (the default). */
    let token: ReplicaSet;
    let daemon: DockerDaemon;
    let sandbox: PodmanSandbox;
    let image: BuiltImage;
    let context: BuildContext;
    let appRef: string;
    const bucket = `berth-replicas-${randomBytes(6).toString('hex')}`;
    const suffix = randomBytes(4).toString('hex');

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-replicas-pg-'));
      await settleAll([
        startPostgres().then((server) => (postgres = server)),
        startS3Gateway(GATEWAY).then((g) => (gateway = g)),
        startDockerDaemon().then((d) => (daemon = d)),
        createPodmanSandbox('/tmp/prp-').then((p) => (sandbox = p)),
      ]);
      const s3 = gateway as S3Gateway;
      const pg = postgres as PostgresServer;
      await createBucket(s3.client, bucket);
      bucketCreated = true;
      for (let i = 0; i < 2; i++) databases.push(await pg.createDatabase());
      const [openDb, tokenDb] = databases as [TestDatabase, TestDatabase];
      const signingKey = join(work, 'token-signing-key.pem');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(signingKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      await settleAll([
        startReplicaSet({
          databaseUrl: openDb.url,
          gateway: s3,
          bucket,
          prefix: `open-${suffix}`,
          env: { BERTH_STORAGE_S3_REDIRECT_ENABLED: 'false' },
        }).then((set) => (open = set)),
        startReplicaSet({
          databaseUrl: tokenDb.url,
          gateway: s3,
          bucket,
          prefix: `token-${suffix}`,
          env: {
            BERTH_AUTH_MODE: 'token',
            BERTH_AUTH_SIGNING_KEY: signingKey,
            BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
          },
        }).then((set) => (token = set)),
        buildDockerImage(daemon, 'local/replicas-pg:v1', { randomLayersMiB: [4] }).then((i) => (image = i)),
        writeBuildContext({ randomLayersMiB: [2] }).then((c) => (context = c)),
      ]);
      const build = ['build', '--quiet', '--signature-policy', policy, '--tag', 'local/replicas-pg:v1'];
      await sandbox.podmanOk(...build, context.dir);
      appRef = `${open.balancer.host}/replicas/app:v1`;
    }, 240_000);

    afterAll(async () => {
      await Promise.allSettled([
        open?.stop(),
        token?.stop(),
        daemon?.stop(),
        sandbox?.remove(),
        image?.remove(),
        context?.remove(),
      ]);
      await Promise.allSettled(databases.map((db) => db.drop()));
      const stopGateway = async (): Promise<void> => {
        // A cluster this suite started goes away whole; in one it found running, only the bucket does.
        if (gateway && bucketCreated && !gateway.started) await deleteBucket(gateway.client, bucket);
        await gateway?.stop();
      };
      const stopped = await Promise.allSettled([postgres?.stop(), stopGateway()]);
      for (const r of stopped) if (r.status === 'rejected') console.warn(`${SUITE}: cleanup: ${r.reason}`);
      if (work) await rm(work, { recursive: true, force: true });
    }, 240_000);

    it('pushes with docker through the balancer and pulls it back into an empty engine', async () => {
      await dockerOk(daemon, ['tag', image.tag, appRef]);
      const push = await dockerOk(daemon, ['push', appRef]);
      const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(digest, push.stdout).toBeDefined();
      const id = await localImageId(daemon, image.tag);
      await removeAllImages(daemon);
      const pull = await dockerOk(daemon, ['pull', appRef]);
      expect(pull.stdout).toContain(`Digest: ${digest}`);
      expect(await localImageId(daemon, appRef)).toBe(id);
      for (const replica of open.replicas) {
        expect((await fetchManifest(replica.url, 'replicas/app', 'v1', 'HEAD')).digest).toBe(digest);
      }
    });

    it('copies registry to registry and inspects with skopeo through the balancer', async () => {
      const skopeo = (...args: string[]) =>
        runOk('skopeo', ['--policy', policy, ...args], { env: sandbox.env, timeoutMs: 120_000 });
      const source = `docker://${appRef}`;
      const target = `docker://${open.balancer.host}/replicas/skopeo:v1`;
      await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', source, target);
      const raw = await skopeo('inspect', '--raw', '--tls-verify=false', target);
      const inspect = await skopeo('inspect', '--tls-verify=false', target);
      const { Digest } = JSON.parse(inspect.stdout) as { Digest: string };
      expect(Digest).toBe(digestOf(raw.stdout));
      expect(Digest).toBe((await fetchManifest(open.balancer.url, 'replicas/app', 'v1', 'HEAD')).digest);
    });

    it('pushes and pulls with podman through the balancer', async () => {
      const ref = `${open.balancer.host}/replicas/podman:v1`;
      const digestFile = join(sandbox.dir, 'digest');
      const tls = ['--tls-verify=false', '--signature-policy', policy];
      const push = ['push', ...tls, '--digestfile', digestFile];
      await sandbox.podmanOk(...push, 'local/replicas-pg:v1', `docker://${ref}`);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      await sandbox.podmanOk('rmi', '--all', '--force');
      expect((await sandbox.podmanOk('images', '--quiet')).stdout.trim()).toBe('');
      await sandbox.podmanOk('pull', ...tls, ref);
      const pulled = await sandbox.podmanOk('image', 'inspect', '--format', '{{.Digest}}', ref);
      expect(pulled.stdout.trim()).toBe(digest);
      for (const replica of open.replicas) {
        expect((await fetchManifest(replica.url, 'replicas/podman', 'v1')).digest).toBe(digest);
      }
    });

    it('passes the OCI conformance port through the balancer', async () => {
      const result = await runConformance(open.balancer.url);
      const output = `${result.stdout.slice(-8000)}\n${result.stderr.slice(-4000)}`;
      expect(result.code, output).toBe(0);
      expect(result.stdout, output).toMatch(/Tests\s+\d+ passed/);
    });

    it('assembles a chunked upload whose PATCHes alternate between the replicas', async () => {
      const [a, b] = open.replicas as [RegistryProcess, RegistryProcess];
      const data = randomBytes(3 * MiB + 123);
      const started = await send(a.url, 'POST', '/v2/replicas/chunked/blobs/uploads/');
      expectStatus(started, 202);
      let location = started.headers.location ?? '';
      const chunk = 512 * KiB;
      for (let offset = 0, i = 0; offset < data.length; offset += chunk, i += 1) {
        const part = data.subarray(offset, offset + chunk);
        const range = { 'Content-Range': `${offset}-${offset + part.length - 1}` };
        const res = await send((i % 2 === 0 ? b : a).url, 'PATCH', location, { ...OCTET, ...range }, part);
        expectStatus(res, 202);
        expect(res.headers.range).toBe(`0-${offset + part.length - 1}`);
        location = res.headers.location ?? location;
      }
      const digest = digestOf(data);
      expectStatus(await send(b.url, 'PUT', `${location}?digest=${digest}`, OCTET), 201);
      const got = await send(a.url, 'GET', `/v2/replicas/chunked/blobs/${digest}`);
      expectStatus(got, 200);
      expect(got.body.equals(data)).toBe(true);
    });

    it('serves a tag written through one replica from the other at once, also after it moves', async () => {
      const [a, b] = open.replicas as [RegistryProcess, RegistryProcess];
      const config = Buffer.from('{}');
      const configDigest = digestOf(config);
      const upload = `/v2/replicas/tags/blobs/uploads/?digest=${configDigest}`;
      expectStatus(await send(a.url, 'POST', upload, OCTET, config), 201);
      const path = '/v2/replicas/tags/manifests/latest';
      for (const [writer, reader] of [
        [a, b],
        [b, a],
        [a, b],
      ] as const) {
        // Read first, so a reader that caches would hold the old answer when the writer moves the tag.
        await send(reader.url, 'GET', path, { Accept: MEDIA.ociManifest });
        const manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA.ociManifest,
            config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: config.length },
            layers: [],
            annotations: { label: randomBytes(4).toString('hex') },
          }),
        );
        const put = await send(writer.url, 'PUT', path, { 'Content-Type': MEDIA.ociManifest }, manifest);
        expectStatus(put, 201);
        const res = await send(reader.url, 'GET', path, { Accept: MEDIA.ociManifest });
        expectStatus(res, 200);
        expect(res.headers['docker-content-digest']).toBe(digestOf(manifest));
      }
    });

    it('logs docker in and pushes and pulls in token mode, each replica accepting the other’s tokens', async () => {
      const host = token.balancer.host;
      const login = await daemon.docker(['login', '--username', 'admin', '--password-stdin', host], {
        input: `${ADMIN_PASSWORD}\n`,
        timeoutMs: 60_000,
      });
      expect(login.code, `${login.stdout}\n${login.stderr}`).toBe(0);
      const ref = `${host}/replicas/token:v1`;
      await dockerOk(daemon, ['tag', appRef, ref]);
      const push = await dockerOk(daemon, ['push', ref]);
      const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(digest, push.stdout).toBeDefined();
      await removeAllImages(daemon);
      expect((await dockerOk(daemon, ['pull', ref])).stdout).toContain(`Digest: ${digest}`);

      // Without a token: a challenge that sends clients to the balancer's token endpoint.
      const anonymous = await fetch(`${token.balancer.url}/v2/replicas/token/manifests/v1`, {
        method: 'HEAD',
        signal: AbortSignal.timeout(10_000),
      });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain(`realm="${token.balancer.url}/auth/token"`);
      // A token issued by each replica opens the manifest on each.
      const [a, b] = token.replicas as [RegistryProcess, RegistryProcess];
      const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
      const scope = new URLSearchParams({ service: 'berth', scope: 'repository:replicas/token:pull' });
      for (const [issuer, server] of [
        [a, b],
        [b, a],
      ] as const) {
        const issued = await fetch(`${issuer.url}/auth/token?${scope}`, {
          headers: { Authorization: basic },
          signal: AbortSignal.timeout(10_000),
        });
        expect(issued.status).toBe(200);
        const { token: bearer } = (await issued.json()) as { token: string };
        const res = await fetch(`${server.url}/v2/replicas/token/manifests/v1`, {
          method: 'HEAD',
          headers: { Authorization: `Bearer ${bearer}`, Accept: MEDIA.dockerManifest },
          signal: AbortSignal.timeout(10_000),
        });
        expect(res.status, `token of ${issuer.host} on ${server.host}`).toBe(200);
        expect(res.headers.get('docker-content-digest')).toBe(digest);
      }
    });

    // A request that held an upload's lease and ended while the database was down releases it as soon
    // as the database is back, so the client's retry is not refused as "another request is using this
    // upload session" (400, which docker and containerd do not retry) for the rest of the lease.
    it.skipIf(!ownPostgres)(
      'lets a client resume an upload at once after a request on it failed in a database outage',
      async () => {
        const [a] = open.replicas as [RegistryProcess];
        const started = await send(a.url, 'POST', '/v2/restart/lease/blobs/uploads/');
        expectStatus(started, 202);
        const location = started.headers.location ?? '';
        const data = randomBytes(64 * KiB);
        const headers = { ...OCTET, 'Content-Range': `0-${data.length - 1}` };
        // Half a PATCH body: Berth holds the session's lease; the rest arrives with the database down.
        const patch = openRequest(a.url, 'PATCH', location, { ...headers, 'Content-Length': data.length });
        patch.req.write(data.subarray(0, KiB));
        await sleep(300);
        const restart = (postgres as PostgresServer).restart({ downMs: 3_000 });
        await waitUntilReady(a.url, { status: 503 });
        patch.req.end(data.subarray(KiB));
        const during = await patch.response;
        expectStatus(during, 503);
        await restart;
        await waitUntilReady(a.url);
        // The session's offset, then the chunk from there: Berth may answer 416 with the offset it has.
        const status = await send(a.url, 'GET', location);
        expectStatus(status, 204);
        const last = /^0-(\d+)$/.exec(status.headers.range ?? '')?.[1] ?? '0';
        const rest = data.subarray(last === '0' ? 0 : Number(last) + 1); // "0-0": nothing yet
        const range = { 'Content-Range': `${data.length - rest.length}-${data.length - 1}` };
        const retry = await send(a.url, 'PATCH', location, { ...OCTET, ...range }, rest);
        expect([202, 416], retry.text).toContain(retry.status);
        expectStatus(await send(a.url, 'PUT', `${location}?digest=${digestOf(data)}`, OCTET), 201);
      },
    );

    it.skipIf(!ownPostgres)(
      'acknowledges only whole images while PostgreSQL restarts under a push load, and recovers',
      async () => {
        const epoch = performance.now();
        const client = new RecordingClient(open.balancer.url, epoch, 30_000);
        const probes = open.replicas.map((replica) => new RecordingClient(replica.url, epoch, 5_000));
        const load = startPushLoad(client, { workers: PUSHERS, policy: POLICY, repoPrefix: 'restart' });
        const probing = startProbes(probes, '/readyz');
        let restartedAt = Infinity;
        try {
          await sleep(LOAD_BEFORE_RESTART_MS);
          const restartStartedAt = client.now();
          await (postgres as PostgresServer).restart();
          restartedAt = client.now();
          console.info(`${SUITE}: PostgreSQL restarted in ${Math.round(restartedAt - restartStartedAt)} ms`);
          await sleep(LOAD_AFTER_RESTART_MS);
          const deadline = Date.now() + 20_000;
          while (
            !load.results.some((r) => r.acknowledged && r.start >= restartedAt) &&
            Date.now() < deadline
          ) {
            await sleep(200);
          }
        } finally {
          await Promise.all([load.stop(), probing.stop()]);
        }

        const acknowledged = load.results.filter((r) => r.acknowledged);
        const plans = acknowledged.map((r) => r.plan);
        const errors = client.exchanges.filter((e) => (e.status ?? 0) >= 400);
        const readiness = probes.flatMap((prober) => prober.exchanges);
        console.info(
          `${SUITE}: push load across a PostgreSQL restart\n${summarizeLoad(load, client, probes)}`,
        );

        // Nothing crashed, hung or was cut: every request through nginx got Berth's own answer.
        open.expectAlive();
        token.expectAlive();
        expect.soft(client.exchanges.filter((e) => e.status === undefined).map(describeExchange)).toEqual([]);
        expect
          .soft(readiness.filter((e) => e.status !== 200 && e.status !== 503).map(describeExchange))
          .toEqual([]);
        // The restart was seen, and answered 503 UNAVAILABLE with an OCI body; the only client error is
        // 416 (a chunk resent after a failed one, answered with the session's offset).
        expect(
          [...errors, ...readiness].filter((e) => e.status === 503).length,
          'restart unseen',
        ).toBeGreaterThan(0);
        const unexpected = errors.filter(
          (e) =>
            !(e.status === 503 && e.ociCodes?.includes('UNAVAILABLE')) && !(e.status === 416 && e.ociCodes),
        );
        expect.soft(unexpected.map(describeExchange)).toEqual([]);
        expect(load.results.flatMap((r) => r.anomalies)).toEqual([]);

        // The pools reconnected: every replica is ready again, and pushes after the restart succeeded.
        await Promise.all(
          [...open.replicas, ...token.replicas].map((replica) => waitUntilReady(replica.url)),
        );
        expect(acknowledged.some((r) => r.start >= restartedAt)).toBe(true);
        // Every acknowledged image is whole on each replica: the manifest by tag, every blob's bytes.
        for (const replica of open.replicas) {
          expect(await unreadable(replica.url, plans)).toEqual([]);
        }
      },
    );
  },
);
