// The metrics decorators on their own: storage driver and metadata store latency and errors by
// operation, token and denial counters, the mirror's usage hook and the outbox gauge.
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { StorageDriverError, type StorageDriver } from '../../storage-drivers/types.js';
import type { TokenRequest, TokenResponse } from '../../src/auth/token-service.js';
import { allowEverything, type Authorizer } from '../../src/http/access.js';
import { AuthChallengeError, basicChallenge, bearerChallenge } from '../../src/http/challenges.js';
import { openDatabase, type SqliteDatabase } from '../../src/metadata/db.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { FastCounter, FastHistogram } from '../../src/metrics/fast-metrics.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import type { MirrorStore } from '../../src/mirror/mirror-store.js';
import { createUsageRecorder } from '../../src/mirror/usage.js';
import type { Logger } from '../../src/registry/deps.js';
import { DeniedError, StoreUnavailableError, UnauthorizedError } from '../../src/registry/errors.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import type { Digest, RepoName } from '../../src/registry/references.js';
import { parsePrometheus, samplesOf, valueOf, type Sample } from '../support/prometheus.js';

const warnings: object[] = [];
const log: Logger = { debug() {}, info() {}, warn: (obj) => void warnings.push(obj), error() {} };

let metrics: Metrics;
beforeEach(() => {
  metrics = createMetrics({ log, processMetrics: false });
});

const scrape = async (): Promise<Sample[]> => parsePrometheus(await metrics.registry.metrics());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fast histograms and counters', () => {
  it('expose exactly what prom-client would for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const spec = { help: 'h', labelNames: ['route', 'method'], buckets: [0.001, 0.01, 0.1, 1, 60] };
    const fast = new FastHistogram(ours, { name: 'h', ...spec });
    const reference = new Histogram({ name: 'h', ...spec, registers: [theirs] });
    const fastCount = new FastCounter(ours, { name: 'c_total', help: 'c', labelNames: ['route'] });
    const referenceCount = new Counter({
      name: 'c_total',
      help: 'c',
      labelNames: ['route'],
      registers: [theirs],
    });
    for (const [route, method, value] of [
      ['/a', 'GET', 0.0005],
      ['/a', 'GET', 0.001],
      ['/a', 'GET', 0.5],
      ['/b', 'PUT', 120],
      ['/a', 'GET', 0.01],
    ] as const) {
      fast.series(route, method).observe(value);
      reference.observe({ route, method }, value);
      fastCount.series(route).inc(value);
      referenceCount.inc({ route }, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    const json = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).map(({ name, type, values }) => ({
        name,
        type,
        values: values.map((v) => ({
          labels: v.labels,
          value: v.value,
          metricName: (v as { metricName?: string }).metricName,
        })),
      }));
    expect(await json(ours)).toEqual(await json(theirs));
    ours.resetMetrics();
    expect(valueOf(parsePrometheus(await ours.metrics()), 'h_count')).toBe(0);
  });

  it('refuse the wrong number of label values', () => {
    const counter = new FastCounter(new Registry(), { name: 'c', help: 'c', labelNames: ['a', 'b'] });
    expect(() => counter.series('only-one')).toThrow(/expected 2 label values/);
  });
});

describe('instrumentDriver', () => {
  const STORAGE = 'berth_storage_operation_duration_seconds';
  const ERRORS = 'berth_storage_operation_errors_total';

  it('observes the latency of each operation by name', async () => {
    const driver = metrics.instrumentDriver(createMemoryDriver());
    expect(driver.name).toBe('memory');
    await driver.write('a/b', Buffer.from('hello'));
    expect(await driver.stat('a/b')).toEqual({ key: 'a/b', size: 5 });
    const keys = [];
    for await (const info of driver.list('a/')) keys.push(info.key);
    expect(keys).toEqual(['a/b']);
    await driver.delete('a/b');
    const samples = await scrape();
    for (const operation of ['write', 'stat', 'list', 'delete']) {
      expect(valueOf(samples, `${STORAGE}_count`, { operation }), operation).toBe(1);
    }
    expect(valueOf(samples, `${STORAGE}_count`, { operation: 'read' })).toBe(0);
    expect(valueOf(samples, ERRORS)).toBe(0);
  });

  it('times an operation until it settles', async () => {
    const slow: StorageDriver = {
      ...createMemoryDriver(),
      stat: async () => {
        await sleep(60);
        return undefined;
      },
    };
    await metrics.instrumentDriver(slow).stat('k');
    const samples = await scrape();
    expect(valueOf(samples, `${STORAGE}_sum`, { operation: 'stat' })).toBeGreaterThanOrEqual(0.05);
    expect(valueOf(samples, `${STORAGE}_bucket`, { operation: 'stat', le: '0.025' })).toBe(0);
    expect(valueOf(samples, `${STORAGE}_bucket`, { operation: 'stat', le: '0.1' })).toBe(1);
  });

  it('times read() until the stream is returned, not until it is consumed', async () => {
    const memory = createMemoryDriver();
    await memory.write('blob', Buffer.alloc(10));
    const driver = metrics.instrumentDriver(memory);
    const stream = await driver.read('blob');
    await sleep(60);
    for await (const _ of stream) void _;
    const samples = await scrape();
    expect(valueOf(samples, `${STORAGE}_count`, { operation: 'read' })).toBe(1);
    expect(valueOf(samples, `${STORAGE}_sum`, { operation: 'read' })).toBeLessThan(0.05);
  });

  it('counts failures by operation, and rethrows them unchanged', async () => {
    const failure = new StorageDriverError('disk on fire');
    const broken: StorageDriver = {
      ...createMemoryDriver(),
      write: async () => {
        throw failure;
      },
      move: () => {
        throw failure; // a synchronous throw is counted as well
      },
      async *list() {
        yield { key: 'x', size: 1 };
        throw failure;
      },
    };
    const driver = metrics.instrumentDriver(broken);
    await expect(driver.write('k', Buffer.from('x'))).rejects.toBe(failure);
    await expect(driver.write('k', Readable.from([Buffer.from('x')]))).rejects.toBe(failure);
    expect(() => driver.move('a', 'b')).toThrow(failure);
    await expect(async () => {
      for await (const _ of driver.list('')) void _;
    }).rejects.toBe(failure);
    const samples = await scrape();
    expect(valueOf(samples, ERRORS, { operation: 'write' })).toBe(2);
    expect(valueOf(samples, ERRORS, { operation: 'move' })).toBe(1);
    expect(valueOf(samples, ERRORS, { operation: 'list' })).toBe(1);
    expect(valueOf(samples, `${STORAGE}_count`, { operation: 'write' })).toBe(2);
  });

  it('does not count a missing object or an aborted call as a failure', async () => {
    const driver = metrics.instrumentDriver(createMemoryDriver());
    await expect(driver.read('absent')).rejects.toThrow(/no object/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      driver.write('k', Readable.from([Buffer.from('x')]), { signal: aborted.signal }),
    ).rejects.toThrow();
    const samples = await scrape();
    expect(valueOf(samples, ERRORS)).toBe(0);
    expect(valueOf(samples, `${STORAGE}_count`, { operation: 'read' })).toBe(1);
  });

  it('keeps readUrl and close only when the driver has them', async () => {
    const plain = metrics.instrumentDriver(createMemoryDriver());
    expect(plain.readUrl).toBeUndefined();
    let closed = false;
    const s3ish = metrics.instrumentDriver({
      ...createMemoryDriver(),
      readUrl: async (key) => `https://store.example/${key}`,
      close: async () => void (closed = true),
    });
    expect(await s3ish.readUrl?.('k', { expiresInSeconds: 60 })).toBe('https://store.example/k');
    await s3ish.close?.();
    expect(closed).toBe(true);
    expect(valueOf(await scrape(), `${STORAGE}_count`, { operation: 'readUrl' })).toBe(1);
  });
});

describe('instrumentMetadata', () => {
  const METADATA = 'berth_metadata_operation_duration_seconds';
  const ERRORS = 'berth_metadata_operation_errors_total';
  let db: SqliteDatabase;
  beforeEach(() => {
    db = openDatabase(':memory:');
  });
  afterEach(() => {
    db.close();
  });

  it('passes every call through and observes its latency by operation', async () => {
    const store = metrics.instrumentMetadata(createSqliteMetadataStore(db));
    const repo = 'team/app' as RepoName;
    const digest = `sha256:${'a'.repeat(64)}` as Digest;
    await store.linkBlob(repo, digest, 42);
    expect(await store.findRepositoryBlob(repo, digest)).toEqual({ size: 42 });
    expect(await store.listRepositories({})).toEqual([]);
    await store.ping();
    const samples = await scrape();
    for (const operation of ['linkBlob', 'findRepositoryBlob', 'listRepositories', 'ping']) {
      expect(valueOf(samples, `${METADATA}_count`, { operation }), operation).toBe(1);
    }
    expect(samplesOf(samples, `${METADATA}_bucket`, { operation: 'ping', le: '0.0001' })).toHaveLength(1);
    expect(valueOf(samples, ERRORS)).toBe(0);
  });

  it('counts a rejected call as an error of its operation', async () => {
    const real = createSqliteMetadataStore(db);
    const down = new StoreUnavailableError('connection refused');
    const failing: MetadataStore = {
      ...real,
      ping: real.ping.bind(real),
      findBlob: async () => {
        throw down;
      },
    };
    const store = metrics.instrumentMetadata(failing);
    await expect(store.findBlob(`sha256:${'b'.repeat(64)}` as Digest)).rejects.toBe(down);
    await expect(store.findBlob(`sha256:${'c'.repeat(64)}` as Digest)).rejects.toBe(down);
    const samples = await scrape();
    expect(valueOf(samples, ERRORS, { operation: 'findBlob' })).toBe(2);
    expect(valueOf(samples, `${METADATA}_count`, { operation: 'findBlob' })).toBe(2);
    // Never a repository or digest in a label.
    expect(JSON.stringify(samples)).not.toMatch(/sha256|bbbb/);
  });
});

describe('token and denial counters', () => {
  const request = (grant: TokenRequest['grant']): TokenRequest => ({
    grant,
    service: 'berth',
    scopes: [],
    offline: false,
    source: '127.0.0.1',
  });
  const issued: TokenResponse = { token: 't', expiresIn: 300, issuedAt: 'now', access: [] };

  it('counts issued and refused tokens by grant and outcome', async () => {
    const tokens = metrics.instrumentTokens({
      issue: async (r: TokenRequest) => {
        if (r.grant.kind === 'password' && r.grant.password !== 'right') {
          throw new UnauthorizedError('invalid username or password');
        }
        if (r.grant.kind === 'refresh') throw new Error('database gone');
        return issued;
      },
    });
    await tokens.issue(request({ kind: 'anonymous' }));
    await tokens.issue(request({ kind: 'password', username: 'ann', password: 'right' }));
    await expect(
      tokens.issue(request({ kind: 'password', username: 'ann', password: 'wrong' })),
    ).rejects.toThrow(UnauthorizedError);
    await expect(tokens.issue(request({ kind: 'refresh', refreshToken: 'r' }))).rejects.toThrow();
    const samples = await scrape();
    const count = (grant: string, outcome: string) =>
      valueOf(samples, 'berth_token_requests_total', { grant, outcome });
    expect(count('anonymous', 'issued')).toBe(1);
    expect(count('password', 'issued')).toBe(1);
    expect(count('password', 'unauthorized')).toBe(1);
    expect(count('refresh', 'error')).toBe(1);
    expect(JSON.stringify(samples)).not.toMatch(/ann|right|wrong/);
  });

  it('counts denials by status and reason, and lets other errors pass uncounted', async () => {
    const challenge = bearerChallenge({ realm: 'https://r/auth/token', service: 'berth' });
    const failures: unknown[] = [
      new AuthChallengeError('no token', challenge),
      new AuthChallengeError(
        'bad token',
        bearerChallenge({ realm: 'r', service: 's', error: 'invalid_token' }),
      ),
      new AuthChallengeError(
        'scope',
        bearerChallenge({ realm: 'r', service: 's', error: 'insufficient_scope' }),
      ),
      new AuthChallengeError('wrong password', basicChallenge('berth')),
      new DeniedError('not allowed: repository:team/app:push'),
      new StoreUnavailableError('down'),
    ];
    let next = 0;
    const inner: Authorizer = {
      async authorize() {
        throw failures[next++];
      },
    };
    const authorizer = metrics.instrumentAuthorizer(inner);
    const ctx = (authorization: string) => ({ get: () => authorization }) as unknown as Context;
    for (const [i, failure] of failures.entries()) {
      await expect(authorizer.authorize(ctx(i === 3 ? 'Basic eDp5' : ''), [])).rejects.toBe(failure);
    }
    const samples = await scrape();
    const count = (status: string, reason: string) =>
      valueOf(samples, 'berth_auth_denials_total', { status, reason });
    expect(count('401', 'credentials_required')).toBe(1);
    expect(count('401', 'invalid_token')).toBe(1);
    expect(count('401', 'insufficient_scope')).toBe(1);
    expect(count('401', 'invalid_credentials')).toBe(1);
    expect(count('403', 'denied')).toBe(1);
    expect(valueOf(samples, 'berth_auth_denials_total')).toBe(5);
    expect(JSON.stringify(samples)).not.toContain('team/app');
  });

  it('leaves auth.mode none untouched', () => {
    expect(metrics.instrumentAuthorizer(allowEverything)).toBe(allowEverything);
  });
});

describe('mirror counters', () => {
  it('counts what the usage recorder counts, as it counts it', async () => {
    const written: unknown[] = [];
    const store = {
      addCounters: async (...args: unknown[]) => void written.push(args),
      touchCached: async () => {},
    } as unknown as MirrorStore;
    const usage = createUsageRecorder(store, Date.now, log, 60_000, metrics.countMirror);
    usage.count('hub', { hits: 1, bytesFromCache: 1000 });
    usage.count('hub', { misses: 1, bytesFromUpstream: 500 });
    usage.count('ghcr', { staleHits: 2, bytesFromCache: 10 });
    const samples = await scrape();
    expect(valueOf(samples, 'berth_mirror_requests_total', { upstream: 'hub', result: 'hit' })).toBe(1);
    expect(valueOf(samples, 'berth_mirror_requests_total', { upstream: 'hub', result: 'miss' })).toBe(1);
    expect(valueOf(samples, 'berth_mirror_requests_total', { upstream: 'ghcr', result: 'stale_hit' })).toBe(
      2,
    );
    expect(valueOf(samples, 'berth_mirror_bytes_total', { upstream: 'hub', source: 'cache' })).toBe(1000);
    expect(valueOf(samples, 'berth_mirror_bytes_total', { upstream: 'hub', source: 'upstream' })).toBe(500);
    // The store still gets its batched counters.
    await usage.stop();
    expect(written).toHaveLength(2);
  });
});

describe('outbox depth', () => {
  it('is exported only once the outbox gives its depth, read at each scrape', async () => {
    expect(await metrics.registry.metrics()).not.toContain('berth_webhook_outbox_depth');
    let depth = 3;
    metrics.setOutboxDepth(async () => depth);
    expect(valueOf(await scrape(), 'berth_webhook_outbox_depth')).toBe(3);
    depth = 7;
    expect(valueOf(await scrape(), 'berth_webhook_outbox_depth')).toBe(7);
  });

  it('keeps answering the scrape when the depth cannot be read', async () => {
    metrics.setOutboxDepth(async () => 5);
    await scrape();
    metrics.setOutboxDepth(async () => {
      throw new Error('database gone');
    });
    warnings.length = 0;
    expect(valueOf(await scrape(), 'berth_webhook_outbox_depth')).toBe(5);
    expect(warnings).toHaveLength(1);
  });
});
