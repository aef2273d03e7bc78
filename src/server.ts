// Composition root: config -> storage driver -> stores (metadata, accounts) -> registry -> HTTP app ->
// listener (HTTP, or HTTPS when server.tls is set).
// Nothing here runs at import time; startServer() builds everything from the config it is given.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createFilesystemDriver } from '../storage-drivers/filesystem.js';
import { createMemoryDriver } from '../storage-drivers/memory.js';
import type { StorageDriver } from '../storage-drivers/types.js';
import { composeAuth, type AuthSecrets } from './auth-composition.js';
import { withoutPassword } from './config/redact.js';
import { durationMs, type BerthConfig } from './config/schema.js';
import { createEventBus } from './events/registry-event.js';
import { createGcParts, gcRunOptions, type GcParts } from './gc/compose.js';
import { createGcRuns } from './gc/runs.js';
import { startScheduledGc } from './gc/scheduled.js';
import { createApp } from './http/app.js';
import { uiUrl } from './http/ui.js';
import { createTlsReloader, httpsServerOptions, loadTls, logCertificate, tlsFilesOf } from './http/tls.js';
import { createLogger } from './log.js';
import { openStores } from './metadata/open.js';
import type { OpenedStores } from './metadata/open.js';
import type { MetricsListener } from './metrics/exposition.js';
import type { MirrorDeps } from './mirror/mirror.js';
import { createNamespacePolicies } from './policies/policies.js';
import { retentionEvent } from './policies/retention-events.js';
import { createRetention } from './policies/retention.js';
import type { Logger, PullCounter } from './registry/deps.js';
import { startExclusiveJob, type ExclusiveJob } from './registry/exclusive-job.js';
import { createPullTracker, type PullTracker } from './registry/pull-tracker.js';
import { createRegistry } from './registry/registry.js';
import type { UpstreamSource } from './registry/upstream-source.js';
import { repositoryRoutes } from './http/api/repositories.js';
import { searchRoutes } from './http/api/search.js';
import { policyRoutes } from './http/api/policies.js';
import { infoRoutes } from './http/api/info.js';

export interface RunningServer {
  /** host:port actually listened on. */
  address: string;
  /** 'https' when server.tls is set. */
  scheme: 'http' | 'https';
  /**
   * HTTPS only: reads server.tls's files again and uses them for new connections; open connections keep
   * going. Resolves false, keeping the certificate in use, when the files do not load (logged).
   * `berth serve` calls it on SIGHUP.
   */
  reloadTls?: () => Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The configured storage driver. The S3 driver (and the AWS SDK, about 25 MiB of memory) is loaded only
 * when configured, so a filesystem registry does not carry it.
 */
export async function createDriver(config: BerthConfig): Promise<StorageDriver> {
  switch (config.storage.driver) {
    case 'memory':
      return createMemoryDriver();
    case 's3': {
      const { createS3Driver } = await import('../storage-drivers/s3.js');
      const s3 = config.storage.s3;
      return createS3Driver({
        bucket: s3.bucket ?? '', // the schema requires it when the driver is s3
        prefix: s3.prefix,
        region: s3.region,
        endpoint: s3.endpoint ?? undefined,
        forcePathStyle: s3.forcePathStyle,
        credentials:
          s3.accessKeyId && s3.secretAccessKey
            ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
            : undefined,
        partSize: s3.partSize,
        queueSize: s3.queueSize,
        maxAttempts: s3.maxAttempts,
        requestTimeoutMs: durationMs(s3.requestTimeout),
        publicEndpoint: s3.redirect.endpoint ?? undefined,
      });
    }
    case 'filesystem':
      return createFilesystemDriver({
        root: resolve(config.storage.filesystem.root ?? `${config.dataDir}/storage`),
        fsync: config.storage.filesystem.fsync,
      });
  }
}

/**
 * The registry domain on opened storage and stores: what `berth serve` serves, and what the `berth
 * repo` and `berth tag` commands change, with the same garbage collection guard and the same
 * namespace rules (quotas and immutable tags, asked before each change).
 */
export function composeRegistry(
  config: BerthConfig,
  parts: {
    driver: StorageDriver;
    stores: OpenedStores;
    log: Logger;
    guard: GcParts['guard'];
    upstream?: UpstreamSource;
    pulls?: PullCounter;
  },
) {
  const { driver, stores, log } = parts;
  const policies = createNamespacePolicies({ store: stores.policies, metadata: stores.metadata });
  const registry = createRegistry({
    driver,
    metadata: stores.metadata,
    log,
    limits: config.limits,
    deleteEnabled: config.storage.delete.enabled,
    blobRedirects: {
      enabled: config.storage.driver === 's3' && config.storage.s3.redirect.enabled,
      expiresInSeconds: Math.max(1, Math.round(durationMs(config.storage.s3.redirect.expiry) / 1000)),
    },
    clock: Date.now,
    newId: randomUUID,
    upstream: parts.upstream,
    pulls: parts.pulls,
    guard: parts.guard,
    policy: policies.push,
    isImmutable: policies.immutability.isImmutable,
    catalogStore: stores.catalog,
  });
  return { registry, policies };
}

/**
 * The pull-through mirror and its eviction job, when upstreams are configured. Loaded only then, so a
 * registry without a mirror does not carry the HTTP client.
 */
async function openMirror(
  config: BerthConfig,
  driver: StorageDriver,
  stores: OpenedStores,
  log: Logger,
  gc: Pick<GcParts, 'guard' | 'sweeper'>,
  onCount?: MirrorDeps['onCount'],
) {
  if (config.mirror.upstreams.length === 0) return undefined;
  const { createMirror } = await import('./mirror/mirror.js');
  const { createEviction } = await import('./mirror/eviction.js');
  const mirror = await createMirror({
    upstreams: config.mirror.upstreams,
    driver,
    metadata: stores.metadata,
    store: stores.mirror,
    log,
    clock: Date.now,
    newId: randomUUID,
    manifestMaxBytes: config.limits.manifestMaxBytes,
    spoolDir: resolve(config.mirror.spoolDir ?? `${config.dataDir}/mirror-spool`),
    userAgent: 'berth-mirror',
    onCount,
    guard: gc.guard,
  });
  const eviction = createEviction({
    upstreams: config.mirror.upstreams,
    metadata: stores.metadata,
    store: stores.mirror,
    sweeper: gc.sweeper,
    log,
    clock: Date.now,
    filling: (digest) => mirror.filling(digest),
  });
  let job: ExclusiveJob | undefined;
  if (config.mirror.upstreams.some((u) => u.eviction.maxBytes !== null || u.eviction.unusedFor !== null)) {
    job = startExclusiveJob({
      name: 'mirror-eviction',
      intervalMs: durationMs(config.mirror.evictionInterval),
      metadata: stores.metadata,
      holder: randomUUID(),
      clock: Date.now,
      log,
      work: async () => void (await eviction.runOnce()),
    });
  }
  return {
    mirror,
    close: async () => {
      await job?.stop();
      await mirror.close();
    },
  };
}

/**
 * Prometheus metrics, when metrics.enabled. prom-client is loaded only then, so a registry without
 * metrics does not carry it.
 */
async function openMetrics(config: BerthConfig, log: Logger) {
  if (!config.metrics.enabled) return undefined;
  const { createMetrics } = await import('./metrics/metrics.js');
  return createMetrics({ log });
}

/**
 * Webhooks, when notifications.endpoints are configured: the event bus listener that records events in
 * the outbox, and the worker that delivers them (started once the server listens). Loaded only then.
 */
async function openNotifications(config: BerthConfig, stores: OpenedStores, log: Logger) {
  if (config.notifications.endpoints.length === 0) return undefined;
  const { createNotifications } = await import('./notifications/notifications.js');
  return createNotifications({
    config: config.notifications,
    store: stores.outbox,
    leases: stores.metadata,
    holder: randomUUID(),
    clock: Date.now,
    log,
  });
}

function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(listen.slice(at + 1)) };
}

function listen(server: HttpServer | HttpsServer, host: string, port: number): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

export async function startServer(
  config: BerthConfig,
  log = createLogger(config.log),
  secrets: AuthSecrets = {},
): Promise<RunningServer> {
  // Certificate files first: a missing one stops start-up before anything is opened.
  const tlsFiles = tlsFilesOf(config);
  const tls = tlsFiles && (await loadTls(tlsFiles));
  // What start-up opened, released in reverse order: by close(), or at once when start-up fails.
  const opened: Array<() => Promise<void> | void> = [];
  const releaseAll = async () => {
    for (let release = opened.pop(); release; release = opened.pop()) await release();
  };
  try {
    const metrics = await openMetrics(config, log);
    const rawDriver = await createDriver(config);
    opened.push(() => rawDriver.close?.());
    const driver = metrics ? metrics.instrumentDriver(rawDriver) : rawDriver;
    const openedStores = await openStores(config, log);
    opened.push(() => openedStores.close());
    const stores = metrics
      ? { ...openedStores, metadata: metrics.instrumentMetadata(openedStores.metadata) }
      : openedStores;
    let auth = await composeAuth(config, stores, log, secrets);
    if (metrics) {
      const { authorizer, tokens } = auth;
      auth = {
        ...auth,
        authorizer: metrics.instrumentAuthorizer(authorizer),
        tokens: tokens && metrics.instrumentTokens(tokens),
      };
    }
    const { metadata } = stores;
    // Online garbage collection (src/gc): the guard that every change holds, and the sweeper through
    // which the collector and mirror eviction delete bytes. Always on: `berth gc` may run any time.
    const gc = createGcParts({ store: stores.gc, metadata, driver, log, clock: Date.now, newId: randomUUID });
    const mirror = await openMirror(config, driver, stores, log, gc, metrics?.countMirror);
    if (mirror) opened.push(() => mirror.close());
    // Manifest GETs (mirror pulls included) counted in memory and written in batches; a read-only
    // registry (maintenance, `berth db copy`) writes nothing.
    let pulls: PullTracker | undefined;
    if (config.pulls.track && !config.server.readOnly) {
      const tracker = createPullTracker({
        store: stores.catalog,
        clock: Date.now,
        log,
        intervalMs: durationMs(config.pulls.flushInterval),
      });
      opened.push(() => tracker.close());
      pulls = tracker;
    }
    const { registry, policies } = composeRegistry(config, {
      driver,
      stores,
      log,
      guard: gc.guard,
      upstream: mirror?.mirror.source,
      pulls,
    });
    const routing = mirror?.mirror.routing;
    // Every collection run (scheduled, or started through the API) is recorded (src/gc/runs.ts).
    const gcRuns = createGcRuns({
      store: stores.gc,
      collector: gc.collector((olderThan) => registry.uploads.purgeStale(olderThan)),
      host: hostname(),
      clock: Date.now,
      log,
      onReport: metrics?.countGc,
    });
    opened.push(() => gcRuns.stop());
    const events = createEventBus((err) => log.error({ err }, 'a registry event listener failed'));
    // Retention deletes through the registry, and tells webhooks as a DELETE request would.
    const retention = createRetention({
      store: stores.policies,
      manifests: registry.manifests,
      immutability: policies.immutability,
      clock: Date.now,
      log,
      onDeleted: (deletion) =>
        events.active
          ? events.publish(retentionEvent(deletion, Date.now(), randomUUID(), hostname()))
          : undefined,
    });
    const notifications = await openNotifications(config, stores, log);
    if (notifications) {
      // No request makes events once the server is closed: record the last ones, finish the sends.
      opened.push(() => notifications.close());
      events.subscribe(notifications.listener);
      metrics?.setOutboxDepth(async () =>
        (await notifications.status()).reduce((sum, endpoint) => sum + endpoint.pending, 0),
      );
    }
    const app = createApp({
      registry,
      authorizer: auth.authorizer,
      tokens: auth.tokens,
      trustProxy: config.server.trustProxy,
      readOnly: config.server.readOnly,
      service: config.auth.service,
      apiAuthorizer: auth.apiAuthorizer,
      // The management API's repository, tag and namespace-rule routes (more specific paths first).
      apiRoutes: [
        ...repositoryRoutes(registry),
        ...searchRoutes(registry),
        ...policyRoutes({ store: stores.policies, retention, clock: Date.now }),
        ...infoRoutes({
          authMode: config.auth.mode,
          service: config.auth.service,
          readOnly: config.server.readOnly,
          deleteEnabled: config.storage.delete.enabled,
        }),
      ],
      management: auth.management,
      gc: { store: stores.gc, runs: gcRuns, options: gcRunOptions(config) },
      operations: {
        ...(mirror && { mirrorStatus: mirror.mirror.status }),
        ...(notifications && { notificationsStatus: () => notifications.status() }),
      },
      events,
      log,
      logRequests: config.log.requests,
      manifestMaxBytes: config.limits.manifestMaxBytes,
      localNameForNamespace: routing && ((name, ns) => routing.localNameForNamespace(name, ns)),
      httpMetrics: metrics?.httpMiddleware,
      // The web UI at / (server.ui); its files come from dist/ui.
      ui: config.server.ui && {},
      // metrics.listen: /metrics only there, and 404 here.
      metricsEndpoint: config.metrics.listen ? undefined : metrics?.endpoint,
    });
    let metricsListener: MetricsListener | undefined;
    if (metrics && config.metrics.listen) {
      const listener = await metrics.listen(splitListen(config.metrics.listen));
      opened.push(() => listener.close());
      metricsListener = listener;
    }

    const https = tlsFiles && tls && createHttpsServer(httpsServerOptions(tlsFiles, tls), app.callback());
    const server = https || createHttpServer(app.callback());
    // Large blobs stream for a long time; the defaults would cut slow uploads.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
    const { host, port } = splitListen(config.server.listen);
    await listen(server, host, port);

    const bound = server.address() as AddressInfo;
    const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    notifications?.start({ addr: `${hostname()}:${bound.port}`, instanceID: randomUUID() });

    const maxAge = durationMs(config.uploads.maxAge);
    const purge = startExclusiveJob({
      name: 'upload-purge',
      intervalMs: durationMs(config.uploads.purgeInterval),
      metadata,
      holder: randomUUID(),
      clock: Date.now,
      log,
      work: async () => void (await registry.uploads.purgeStale(Date.now() - maxAge)),
    });
    // Not in maintenance (server.readOnly): a database being copied or storage being moved stays still.
    if (config.gc.enabled && !config.server.readOnly) {
      const scheduledGc = startScheduledGc({
        collector: gcRuns.recorded('scheduled'),
        metadata,
        intervalMs: durationMs(config.gc.interval),
        options: gcRunOptions(config),
        holder: randomUUID(),
        clock: Date.now,
        log,
        onReport: metrics?.countGc,
      });
      opened.push(() => scheduledGc.stop());
    }
    // Retention policies (README "Retention"), one replica at a time; its deletions need deletes enabled.
    const retentionMs = durationMs(config.retention.interval);
    if (retentionMs > 0 && config.storage.delete.enabled) {
      const retentionJob = startExclusiveJob({
        name: 'retention',
        intervalMs: retentionMs,
        metadata,
        holder: randomUUID(),
        clock: Date.now,
        log,
        work: async () => void (await retention.runAll({ dryRun: false })),
      });
      opened.push(() => retentionJob.stop());
    }

    log.info(
      {
        address,
        scheme: tls ? 'https' : 'http',
        ...(tlsFiles?.clientCa ? { clientCertificates: 'required' } : {}),
        storage: driver.name,
        metadata: `${config.metadata.driver} ${stores.location}`,
        auth: config.auth.mode,
        ...(mirror
          ? { mirror: config.mirror.upstreams.map((u) => `${u.name} ${withoutPassword(u.url)}`) }
          : {}),
        ...(notifications ? { webhooks: config.notifications.endpoints.map((e) => e.name) } : {}),
        dataDir: resolve(config.dataDir),
      },
      'berth listening',
    );
    if (config.server.ui) {
      const url = uiUrl(tls ? 'https' : 'http', address);
      log.info({ url }, `web UI: open ${url} in a browser`);
    }
    if (metricsListener) log.info({ address: metricsListener.address }, 'metrics listening');
    if (tls) logCertificate(log, tls.certificate, 'TLS certificate loaded');

    let closing: Promise<void> | undefined;
    async function close(): Promise<void> {
      const purgeStopped = purge.stop();
      // Stop accepting, let in-flight requests finish (bounded), then cut what remains.
      const drained = new Promise<void>((done) => server.close(() => done()));
      // A keep-alive connection turns idle only once its in-flight response is done: sweep until drained.
      server.closeIdleConnections();
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      const deadline = setTimeout(
        () => server.closeAllConnections(),
        durationMs(config.server.shutdownTimeout),
      );
      await drained;
      clearInterval(sweeper);
      clearTimeout(deadline);
      await purgeStopped;
      await releaseAll();
      log.info({}, 'berth stopped');
    }
    return {
      address,
      scheme: tls ? 'https' : 'http',
      ...(https && tlsFiles && { reloadTls: createTlsReloader(https, tlsFiles, log) }),
      close: () => (closing ??= close()),
    };
  } catch (err) {
    await releaseAll();
    throw err;
  }
}
