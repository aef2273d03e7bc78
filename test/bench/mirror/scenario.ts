// One round against one mirror (Berth or Distribution), freshly started on an empty data directory in
// front of the shared upstream: cold pulls at each concurrency, warm pulls, a cold blob from a slow
// upstream, and pulls of cached tags while the upstream is down. The upstream's request log (the
// fault proxy) says how often the mirror went upstream.
import type { FaultProxy, Fault } from '../../support/fault-proxy.js';
import type { BenchServer } from '../lib/context.js';
import { RegistryClient } from '../lib/http.js';
import type { TargetName } from '../lib/options.js';
import { median } from '../lib/report.js';
import { pushImage, type TestImage } from './images.js';
import { pullConcurrently, pullImage, timeBlobPull, type PullResult } from './pull-client.js';

export const MB = 1e6;

export interface MirrorSettings {
  /** Concurrent clients of the cold pulls, one image each. */
  concurrency: number[];
  layers: number;
  layerBytes: number;
  /** Clients of the warm pulls, and how many times they pull. */
  warmClients: number;
  warmRepeats: number;
  slowBlobBytes: number;
  slowBytesPerSecond: number;
  /** Pulls of a cached tag per fault while the upstream is down. */
  downPulls: number;
}

export interface BenchImages {
  warmup: TestImage;
  /** By number of clients. */
  cold: Map<number, TestImage>;
  slow: TestImage;
}

export interface MirrorBench {
  settings: MirrorSettings;
  proxy: FaultProxy;
  /** The upstream itself, not through the proxy (the reference for Distribution's local pulls). */
  upstreamUrl: string;
  images: BenchImages;
  /** The mirror under test on a fresh data directory (`berth serve --mirror` or Distribution's proxy). */
  startMirror(target: TargetName, label: string): Promise<BenchServer>;
  /** Berth from a config file whose upstream has `tagFreshness: 0s` (checks every pull upstream). */
  startEagerBerth(label: string): Promise<BenchServer>;
}

export type Values = Record<string, number>;

export interface RoundOutcome {
  values: Values;
  notes: string[];
}

export const DOWN_FAULTS: Array<{ key: string; label: string; fault: Fault }> = [
  { key: 'refuse', label: 'connections reset', fault: { kind: 'refuse' } },
  { key: '503', label: 'every request answered 503', fault: { kind: 'status', status: 503 } },
];

/** The image cold-pulled by `clients` clients. */
export function coldImage(images: BenchImages, clients: number): TestImage {
  const image = images.cold.get(clients);
  if (!image) throw new Error(`no cold image for ${clients} clients`);
  return image;
}

/** The image of the warm pulls: the one cold-pulled by that many clients, else the largest set's. */
export function warmImage(bench: MirrorBench): TestImage {
  const { concurrency, warmClients } = bench.settings;
  return coldImage(bench.images, concurrency.includes(warmClients) ? warmClients : Math.max(...concurrency));
}

function throwOnFailure(results: PullResult[], what: string): void {
  const failed = results.filter((r): r is Extract<PullResult, { ok: false }> => !r.ok);
  if (failed.length > 0) {
    throw new Error(
      `${what}: ${failed.length} of ${results.length} pulls failed; first: ${failed[0]?.error}`,
    );
  }
}

/** Waits until the upstream has seen no new request for `quietMs` (a mirror's background fetches). */
async function upstreamSettled(proxy: FaultProxy, quietMs = 500, maxMs = 10_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  let seen = proxy.requests.length;
  let since = performance.now();
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (proxy.requests.length !== seen) {
      seen = proxy.requests.length;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return;
    }
  }
}

/** "16 GET /v2/, 16 HEAD manifest, …": what reached the upstream, by kind. */
export function describeRequests(lines: readonly string[]): string {
  const kinds = new Map<string, number>();
  for (const line of lines) {
    const [method, path = ''] = line.split(' ');
    const kind = /\/manifests\//.test(path)
      ? `${method} manifest`
      : /\/blobs\//.test(path)
        ? `${method} blob`
        : path.replace(/\?.*$/, '') === '/v2/'
          ? `${method} /v2/`
          : `${method} other`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return (
    [...kinds.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, count]) => `${count} ${kind}`)
      .join(', ') || 'none'
  );
}

/** `clients` concurrent pulls of `image` (as `repo`) from `base`: MB/s of manifests and blobs. */
async function pullRate(base: string, image: TestImage, clients: number, repo = image.repo): Promise<number> {
  const started = performance.now();
  const results = await pullConcurrently(clients, base, repo, image.tag, image.manifestDigest);
  const seconds = (performance.now() - started) / 1000;
  throwOnFailure(results, `warm pull of ${repo}, ${clients} clients`);
  return (clients * image.bytes) / MB / seconds;
}

/** Pulls of a cached (small) image while the upstream has `fault`: share that succeeded, median time. */
async function pullsWhileDown(
  bench: MirrorBench,
  base: string,
  image: TestImage,
  fault: Fault,
): Promise<{ okPercent: number; medianMs: number; firstError?: string }> {
  const results: PullResult[] = [];
  bench.proxy.setFault(fault);
  try {
    for (let i = 0; i < bench.settings.downPulls; i++) {
      results.push(await pullImage(base, image.repo, image.tag, image.manifestDigest));
    }
  } finally {
    bench.proxy.setFault({ kind: 'none' });
  }
  const failed = results.find((r): r is Extract<PullResult, { ok: false }> => !r.ok);
  return {
    okPercent: (100 * results.filter((r) => r.ok).length) / results.length,
    medianMs: median(results.map((r) => r.seconds * 1000)),
    firstError: failed?.error,
  };
}

async function measureCold(bench: MirrorBench, server: BenchServer, target: TargetName, round: number) {
  const { proxy, settings } = bench;
  const values: Values = {};
  const notes: string[] = [];
  const cpuBefore = server.cpuSeconds();
  for (const clients of settings.concurrency) {
    const image = coldImage(bench.images, clients);
    const before = proxy.requests.length;
    const started = performance.now();
    const results = await pullConcurrently(clients, server.url, image.repo, image.tag, image.manifestDigest);
    const seconds = (performance.now() - started) / 1000;
    throwOnFailure(results, `cold pull, ${clients} clients`);
    await upstreamSettled(proxy);
    const seen = proxy.requests.slice(before);
    const blobGets = seen.filter((line) => line.startsWith(`GET /v2/${image.repo}/blobs/`)).length;
    values[`cold.n${clients}.s`] = seconds;
    values[`cold.n${clients}.gets`] = blobGets / image.blobs.length;
    if (clients === Math.max(...settings.concurrency)) {
      values['cold.requests'] = seen.length;
      if (round === 0) {
        notes.push(`${target}, ${clients} cold pulls (round 1): the upstream saw ${describeRequests(seen)}`);
      }
    }
  }
  values['cold.cpu'] = server.cpuSeconds() - cpuBefore;
  return { values, notes };
}

async function measureWarm(bench: MirrorBench, server: BenchServer, target: TargetName): Promise<Values> {
  const { proxy, settings } = bench;
  const image = warmImage(bench);
  // The reference: the same registry serving the same bytes as a local image. Berth from a local
  // repository of its own (pushes outside cached names are allowed); Distribution, whose proxy refuses
  // pushes, as the plain upstream.
  let local = { base: bench.upstreamUrl, repo: image.repo };
  if (target === 'berth') {
    local = { base: server.url, repo: 'local-bench/warm' };
    const client = new RegistryClient(server.url, 8);
    try {
      await pushImage(client, image, local.repo);
    } finally {
      client.close();
    }
    await pullRate(local.base, image, 1, local.repo); // page cache and statements warm
  }
  const mirrorRates: number[] = [];
  const localRates: number[] = [];
  let requests = 0;
  const fromMirror = async () => {
    const before = proxy.requests.length;
    mirrorRates.push(await pullRate(server.url, image, settings.warmClients));
    requests += proxy.requests.length - before;
  };
  const fromLocal = async () => {
    localRates.push(await pullRate(local.base, image, settings.warmClients, local.repo));
  };
  // Interleaved, each side first in turn, so that neither always runs on a warmer machine.
  for (let i = 0; i < settings.warmRepeats; i++) {
    for (const step of i % 2 === 0 ? [fromMirror, fromLocal] : [fromLocal, fromMirror]) await step();
  }
  return {
    'warm.mbps': median(mirrorRates),
    'warm.local': (100 * median(mirrorRates)) / median(localRates),
    'warm.requests': requests / (settings.warmClients * settings.warmRepeats),
  };
}

async function measureSlow(bench: MirrorBench, server: BenchServer): Promise<Values> {
  const { proxy, settings } = bench;
  const image = bench.images.slow;
  const layer = image.blobs[1];
  if (!layer) throw new Error('the slow image has no layer');
  const before = proxy.requests.length;
  proxy.setFault({ kind: 'slow', bytesPerSecond: settings.slowBytesPerSecond, paths: /\/blobs\// });
  let timing;
  try {
    timing = await timeBlobPull(server.url, image.repo, image.tag, image.manifestDigest, layer);
  } finally {
    proxy.setFault({ kind: 'none' });
  }
  await upstreamSettled(proxy);
  const gets = proxy.requests
    .slice(before)
    .filter((line) => line === `GET /v2/${image.repo}/blobs/${layer.digest}`).length;
  return { 'slow.ttfb': timing.firstByteMs, 'slow.s': timing.seconds, 'slow.gets': gets };
}

async function measureDown(bench: MirrorBench, base: string, prefix: string, target: TargetName) {
  const values: Values = {};
  const notes: string[] = [];
  const image = bench.images.warmup;
  for (const { key, label, fault } of DOWN_FAULTS) {
    const outcome = await pullsWhileDown(bench, base, image, fault);
    values[`${prefix}.${key}.ok`] = outcome.okPercent;
    values[`${prefix}.${key}.ms`] = outcome.medianMs;
    if (outcome.firstError) notes.push(`${target}, upstream ${label}: ${outcome.firstError}`);
  }
  return { values, notes };
}

/**
 * Berth with `tagFreshness: 0s`, which asks the upstream about the tag on every pull as Distribution
 * does: a fresh instance per fault (so the circuit breaker opened by one fault does not serve the
 * next), primed with one pull while the upstream is up.
 */
async function measureEagerBerth(bench: MirrorBench, round: number) {
  const values: Values = {};
  const notes: string[] = [];
  const image = bench.images.warmup;
  for (const { key, label, fault } of DOWN_FAULTS) {
    const server = await bench.startEagerBerth(`eager-${key}-r${round}`);
    try {
      const primed = await pullImage(server.url, image.repo, image.tag, image.manifestDigest);
      throwOnFailure([primed], 'priming pull (tagFreshness 0s)');
      const outcome = await pullsWhileDown(bench, server.url, image, fault);
      values[`eager.${key}.ok`] = outcome.okPercent;
      values[`eager.${key}.ms`] = outcome.medianMs;
      if (outcome.firstError) notes.push(`berth (tagFreshness 0s), upstream ${label}: ${outcome.firstError}`);
    } catch (err) {
      const tail = server.output().trim().split('\n').slice(-5).join('\n');
      throw new Error(`${(err as Error).message}${tail ? `\n  server output tail:\n${tail}` : ''}`);
    } finally {
      await server.stop();
    }
  }
  return { values, notes };
}

/** One round against `target`; throws (with the server's last output lines) when a step fails. */
export async function measureMirror(
  bench: MirrorBench,
  target: TargetName,
  round: number,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { values: {}, notes: [] };
  const add = (part: { values: Values; notes?: string[] }) => {
    Object.assign(outcome.values, part.values);
    outcome.notes.push(...(part.notes ?? []));
  };
  const server = await bench.startMirror(target, `r${round}`);
  try {
    const warmup = bench.images.warmup;
    throwOnFailure([await pullImage(server.url, warmup.repo, warmup.tag, warmup.manifestDigest)], 'warm-up');
    await upstreamSettled(bench.proxy);
    add(await measureCold(bench, server, target, round));
    add({ values: await measureWarm(bench, server, target) });
    add({ values: await measureSlow(bench, server) });
    const down = await measureDown(bench, server.url, 'down', target);
    add(down);
    // Distribution always asks the upstream about a tag: its own figures are the comparison for
    // Berth with tagFreshness 0s.
    if (target === 'distribution') {
      add({
        values: Object.fromEntries(
          Object.entries(down.values).map(([key, value]) => [key.replace(/^down\./, 'eager.'), value]),
        ),
      });
    }
  } catch (err) {
    const tail = server.output().trim().split('\n').slice(-5).join('\n');
    throw new Error(`${(err as Error).message}${tail ? `\n  server output tail:\n${tail}` : ''}`);
  } finally {
    bench.proxy.setFault({ kind: 'none' });
    await server.stop();
  }
  if (target === 'berth') add(await measureEagerBerth(bench, round));
  return outcome;
}
