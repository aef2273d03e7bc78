// The pull-through mirror: the registry's UpstreamSource. Cached content lives in the ordinary index
// and storage under local names (see routing.ts); this module decides when to ask the upstream:
// - manifests by digest and blobs: immutable, fetched once and served from the cache until evicted;
// - tags: confirmed with a HEAD (which Docker Hub does not count against its pull limit) at most once
//   per `tagFreshness`; when the upstream fails, the cached tag is served for up to `staleFor`;
// - one download per blob and upstream however many clients ask (blob-fill.ts), one manifest fetch
//   per name and reference;
// - a circuit breaker per upstream answers quickly while it keeps failing.
import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageDriver } from '../../storage-drivers/types.js';
import type { UpstreamConfig } from '../config/schema.js';
import type { ContentGuard } from '../registry/content-guard.js';
import { durationMs } from '../config/schema.js';
import { resolveRange, type BlobStream, type RequestedRange } from '../registry/blobs.js';
import type { Logger } from '../registry/deps.js';
import {
  BlobUnknownError,
  DeniedError,
  DigestInvalidError,
  RegistryError,
  ManifestTooLargeError,
  ManifestUnknownError,
  UpstreamUnavailableError,
} from '../registry/errors.js';
import { newHash } from '../registry/hashing.js';
import { blobKey } from '../registry/layout.js';
import { MEDIA_TYPES, parseManifest } from '../registry/manifest-format.js';
import type { ManifestRecord, MetadataStore } from '../registry/metadata-store.js';
import {
  digestAlgorithm,
  formatDigest,
  parseDigest,
  type Digest,
  type Reference,
  type RepoName,
  type Tag,
} from '../registry/references.js';
import { storeManifest } from '../registry/manifests.js';
import type { UpstreamSource } from '../registry/upstream-source.js';
import { BlobFill, BlobFillError } from './blob-fill.js';
import { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.js';
import {
  emptyStatus,
  type MirrorCounters,
  type MirrorStore,
  type MirrorUpstreamStatus,
} from './mirror-store.js';
import { createMirrorRouting, defaultHosts, isDockerHubUrl, type RoutedUpstream } from './routing.js';
import {
  createUpstreamClient,
  header,
  UpstreamFailure,
  type UpstreamClient,
  type UpstreamResponse,
} from './upstream-client.js';
import { createUsageRecorder } from './usage.js';

export interface MirrorDeps {
  upstreams: readonly UpstreamConfig[];
  driver: StorageDriver;
  metadata: MetadataStore;
  store: MirrorStore;
  log: Logger;
  clock: () => number;
  newId: () => string;
  manifestMaxBytes: number;
  /** A local directory for blobs being downloaded (emptied at start). */
  spoolDir: string;
  userAgent: string;
  /** Sees every hit, miss and byte count as it is made (metrics). */
  onCount?: (upstream: string, delta: Partial<MirrorCounters>) => void;
  /** Cached bytes and their records are written holding their digest against the collector (src/gc). */
  guard: ContentGuard;
}

interface Upstream extends RoutedUpstream {
  url: string;
  client: UpstreamClient;
  breaker: CircuitBreaker;
  tagFreshnessMs: number;
  staleForMs: number;
}

interface Route {
  upstream: Upstream;
  remoteName: string;
}

/** A blob whose bytes were stored already, linked to `repository` once its upstream confirmed it. */
interface StoredBlob {
  storedSize: number;
  repository: RepoName;
}

interface FillEntry {
  fill: BlobFill;
  /** Local repositories the blob is linked to once verified. */
  repositories: Set<RepoName>;
  published: boolean;
  /** Over, its spool removed: readers must come from storage or a new download. */
  settled: boolean;
}

/** Everything Berth can store, most capable first: the upstream picks (an index for multi-arch). */
const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
].join(', ');
const USAGE_FLUSH_MS = 5_000;
/**
 * Names of the root upstream remembered as cached (not local), so serving them needs no query: at most
 * this many, each for this long (eviction may empty a repository, which may then be pushed to).
 */
const KNOWN_CACHED_MAX = 10_000;
const KNOWN_CACHED_MS = 60_000;

const scopeOf = (remoteName: string) => `repository:${remoteName}:pull`;

function isVerifiableDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** A failure of the connection to the upstream mid-body (reset, timeout), as undici reports them. */
function isNetworkError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return code.startsWith('UND_ERR') || ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED'].includes(code);
}

export async function createMirror(deps: MirrorDeps) {
  const { driver, metadata, store, log, clock } = deps;
  // Spool files of a previous run belong to no fill.
  await rm(deps.spoolDir, { recursive: true, force: true });
  await mkdir(deps.spoolDir, { recursive: true });

  const upstreams: Upstream[] = deps.upstreams.map((u) => ({
    name: u.name,
    url: u.url,
    prefix: u.prefix,
    root: u.root,
    hosts: u.hosts ?? defaultHosts(u.url),
    dockerHub: isDockerHubUrl(u.url) || (u.hosts ?? []).includes('docker.io'),
    tagFreshnessMs: durationMs(u.tagFreshness),
    staleForMs: durationMs(u.staleFor),
    client: createUpstreamClient({
      url: u.url,
      username: u.username,
      password: u.password,
      caFile: u.ca,
      connectTimeoutMs: durationMs(u.connectTimeout),
      responseTimeoutMs: durationMs(u.responseTimeout),
      idleTimeoutMs: durationMs(u.idleTimeout),
      userAgent: deps.userAgent,
      clock,
    }),
    breaker: createCircuitBreaker({
      threshold: u.failureThreshold,
      cooldownMs: durationMs(u.failureCooldown),
      clock,
    }),
  }));
  const routing = createMirrorRouting(upstreams);
  const usage = createUsageRecorder(store, clock, log, USAGE_FLUSH_MS, deps.onCount);
  const fills = new Map<string, FillEntry>();
  const manifestFetches = new Map<string, Promise<ManifestRecord>>();
  const tagChecks = new Map<string, Promise<ManifestRecord>>();
  /** Blob downloads being decided (cached elsewhere, or a new fill), by upstream and digest. */
  const starting = new Map<string, Promise<FillEntry | StoredBlob>>();
  const knownCachedUntil = new Map<RepoName, number>();
  const knownCached = {
    has: (repository: RepoName) => (knownCachedUntil.get(repository) ?? 0) > clock(),
    add(repository: RepoName) {
      if (knownCachedUntil.size >= KNOWN_CACHED_MAX) knownCachedUntil.clear();
      knownCachedUntil.set(repository, clock() + KNOWN_CACHED_MS);
    },
  };
  const closing = new AbortController();
  setMaxListeners(0, closing.signal); // one listener per upstream request in flight

  /** The route of a proxied name; names of the root upstream that are local repositories are not. */
  async function proxied(repository: RepoName): Promise<Route | undefined> {
    const route = routing.route(repository);
    if (!route?.viaRoot || knownCached.has(repository)) return route;
    const local =
      (await metadata.repositoryExists(repository)) && !(await store.isCachedRepository(repository));
    return local ? undefined : route;
  }

  /** Runs one exchange with the upstream under its circuit breaker. */
  async function call<T>(upstream: Upstream, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (!upstream.breaker.allow()) {
      throw new UpstreamUnavailableError(
        upstream.name,
        'it failed repeatedly and is left alone for a while',
        Math.max(1, upstream.breaker.retryAfterSeconds()),
      );
    }
    try {
      const result = await work(closing.signal);
      upstream.breaker.succeeded();
      return result;
    } catch (err) {
      if (!(err instanceof UpstreamFailure)) {
        upstream.breaker.succeeded(); // it answered: 404, 401 and the like are answers
        throw err;
      }
      upstream.breaker.failed();
      log.warn({ upstream: upstream.name, reason: err.message }, 'upstream request failed');
      throw new UpstreamUnavailableError(upstream.name, err.message);
    }
  }

  /** Turns a non-200 answer into the error the client should see (the body is consumed). */
  async function expectOk(
    upstream: Upstream,
    response: UpstreamResponse,
    notFound: () => Error,
  ): Promise<void> {
    if (response.status === 200) return;
    await response.body.dump();
    if (response.status === 404) throw notFound();
    if (response.status === 401 || response.status === 403) {
      throw new DeniedError(`upstream "${upstream.name}" refused access (HTTP ${response.status})`);
    }
    throw new UpstreamFailure(`${upstream.name} answered HTTP ${response.status}`, response.status);
  }

  function hit(upstream: Upstream, repository: RepoName, digest: Digest, bytes: number): void {
    usage.count(upstream.name, { hits: 1, bytesFromCache: bytes });
    usage.pulled(repository, digest);
  }

  async function readCapped(response: UpstreamResponse): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += (chunk as Buffer).length;
      if (total > deps.manifestMaxBytes) {
        response.body.destroy();
        throw new ManifestTooLargeError(deps.manifestMaxBytes);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Records a manifest whose bytes are stored, pointing `tag` at it when given. */
  async function record(
    repository: RepoName,
    upstream: Upstream,
    bytes: Buffer,
    mediaType: string,
    digest: Digest,
    tag?: Tag,
  ) {
    const parsed = parseManifest(mediaType, bytes);
    const manifest = await deps.guard.hold([digest], () =>
      storeManifest({ driver, metadata }, repository, { digest, bytes, parsed }, tag),
    );
    const at = clock();
    await store.recordCached({
      upstream: upstream.name,
      repository,
      digest,
      kind: 'manifest',
      size: bytes.length,
      at,
    });
    if (tag) await store.markTagChecked(repository, tag, digest, at);
    knownCached.add(repository);
    return manifest;
  }

  /** GETs a manifest from the upstream and caches it; concurrent requests share one fetch. */
  function fetchManifest(route: Route, repository: RepoName, reference: Reference, tag?: Tag) {
    const ref = reference.kind === 'tag' ? reference.tag : reference.digest;
    const key = `${repository}@${ref}@${tag ?? ''}`;
    const inFlight = manifestFetches.get(key);
    if (inFlight) return inFlight;
    const { upstream, remoteName } = route;
    const fetching = (async () => {
      const { bytes, contentType, announced } = await call(upstream, async (signal) => {
        const response = await upstream.client.fetch(
          'GET',
          `/v2/${remoteName}/manifests/${ref}`,
          scopeOf(remoteName),
          { accept: MANIFEST_ACCEPT },
          signal,
        );
        await expectOk(upstream, response, () => new ManifestUnknownError(ref));
        try {
          return {
            bytes: await readCapped(response),
            contentType: header(response.headers, 'content-type') ?? '',
            announced: header(response.headers, 'docker-content-digest'),
          };
        } catch (err) {
          if (err instanceof ManifestTooLargeError) throw err;
          throw new UpstreamFailure(`${upstream.name} broke off a manifest: ${(err as Error).message}`);
        }
      });
      const algorithm = reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256';
      const digest = formatDigest(algorithm, newHash(algorithm).update(bytes).digest('hex'));
      const expected = reference.kind === 'digest' ? reference.digest : announced;
      if (expected && expected.startsWith(`${algorithm}:`) && expected !== digest) {
        upstream.breaker.failed();
        throw new UpstreamUnavailableError(
          upstream.name,
          `its manifest ${ref} does not match digest ${expected}`,
        );
      }
      usage.count(upstream.name, { misses: 1, bytesFromUpstream: bytes.length });
      return record(repository, upstream, bytes, contentType, digest, tag);
    })();
    manifestFetches.set(key, fetching);
    void fetching.finally(() => manifestFetches.delete(key)).catch(() => {});
    return fetching;
  }

  /** The digest the upstream gives for a tag (a HEAD), or undefined when it does not say. */
  async function headTag(route: Route, tag: Tag): Promise<Digest | undefined> {
    const { upstream, remoteName } = route;
    return call(upstream, async (signal) => {
      const response = await upstream.client.fetch(
        'HEAD',
        `/v2/${remoteName}/manifests/${tag}`,
        scopeOf(remoteName),
        { accept: MANIFEST_ACCEPT },
        signal,
      );
      await expectOk(upstream, response, () => new ManifestUnknownError(tag));
      await response.body.dump();
      // An upstream's header is data: one that is not a digest Berth verifies is ignored (GET by tag).
      const announced = header(response.headers, 'docker-content-digest');
      return announced !== undefined && isVerifiableDigest(announced) ? (announced as Digest) : undefined;
    });
  }

  /** Points `tag` at a manifest the repository already holds (its references re-read from storage). */
  async function retag(repository: RepoName, upstream: Upstream, manifest: ManifestRecord, tag: Tag) {
    const chunks: Buffer[] = [];
    for await (const chunk of await driver.read(blobKey(manifest.digest))) chunks.push(chunk as Buffer);
    return record(repository, upstream, Buffer.concat(chunks), manifest.mediaType, manifest.digest, tag);
  }

  /** A tag by name: from the cache while fresh, else checked upstream once for all who ask meanwhile. */
  async function manifestByTag(route: Route, repository: RepoName, tag: Tag): Promise<ManifestRecord> {
    const key = `${repository}:${tag}`;
    const inFlight = tagChecks.get(key);
    if (inFlight) return inFlight;
    const checking = resolveTag(route, repository, tag);
    tagChecks.set(key, checking);
    try {
      return await checking;
    } finally {
      tagChecks.delete(key);
    }
  }

  async function resolveTag(route: Route, repository: RepoName, tag: Tag): Promise<ManifestRecord> {
    const { upstream } = route;
    const [checked, local] = await Promise.all([
      store.findCachedTag(repository, tag),
      metadata.resolveTag(repository, tag),
    ]);
    const now = clock();
    if (checked && local?.digest === checked.digest && now - checked.checkedAt < upstream.tagFreshnessMs) {
      hit(upstream, repository, local.digest, local.size);
      return local;
    }
    try {
      const digest = await headTag(route, tag);
      if (digest && local?.digest === digest) {
        await store.markTagChecked(repository, tag, digest, now);
        hit(upstream, repository, digest, local.size);
        return local;
      }
      if (digest) {
        const known = await metadata.findManifest(repository, digest);
        if (known) {
          hit(upstream, repository, digest, known.size);
          return await retag(repository, upstream, known, tag);
        }
        return await fetchManifest(route, repository, { kind: 'digest', digest }, tag);
      }
      return await fetchManifest(route, repository, { kind: 'tag', tag }, tag);
    } catch (err) {
      // Serve stale: the upstream failed, the tag was confirmed recently enough.
      if (
        err instanceof UpstreamUnavailableError &&
        local &&
        checked &&
        now - checked.checkedAt <= upstream.staleForMs
      ) {
        usage.count(upstream.name, { staleHits: 1, bytesFromCache: local.size });
        usage.pulled(repository, local.digest);
        log.warn(
          { upstream: upstream.name, repository, tag, checkedAt: new Date(checked.checkedAt).toISOString() },
          'upstream unavailable: serving the cached tag',
        );
        return local;
      }
      throw err;
    }
  }

  async function upstreamBlobSize(route: Route, digest: Digest): Promise<number> {
    const { upstream, remoteName } = route;
    return call(upstream, async (signal) => {
      const response = await upstream.client.fetch(
        'HEAD',
        `/v2/${remoteName}/blobs/${digest}`,
        scopeOf(remoteName),
        {},
        signal,
      );
      await expectOk(upstream, response, () => new BlobUnknownError(digest));
      await response.body.dump();
      const size = Number(header(response.headers, 'content-length'));
      if (!Number.isSafeInteger(size) || size < 0)
        throw new UpstreamFailure(`${upstream.name} gave no blob length`);
      return size;
    });
  }

  async function link(upstream: Upstream, repository: RepoName, digest: Digest, size: number): Promise<void> {
    await metadata.linkBlob(repository, digest, size);
    await store.recordCached({
      upstream: upstream.name,
      repository,
      digest,
      kind: 'blob',
      size,
      at: clock(),
    });
    knownCached.add(repository);
  }

  /**
   * Where a blob that the index lacks for `repository` comes from: bytes already stored (for another
   * repository) that the upstream confirms, or the one download of it, started here when none runs.
   * Every request for the same upstream and digest that arrives meanwhile gets the same answer;
   * undefined when that answer was a refusal of the repository that asked first.
   */
  async function blobSource(
    route: Route,
    repository: RepoName,
    digest: Digest,
  ): Promise<FillEntry | StoredBlob | undefined> {
    const key = `${route.upstream.name}|${digest}`;
    const active = fills.get(key);
    // A download that failed is over, even while its spool is being removed: start another.
    if (active && !active.fill.failed()) return active;
    const pending = starting.get(key);
    if (pending) {
      // Decided for another request, maybe of another repository: its refusal is not this one's.
      try {
        return await pending;
      } catch (err) {
        if (err instanceof DeniedError || err instanceof BlobUnknownError) return undefined;
        throw err;
      }
    }
    const deciding = (async () => {
      const stored = await driver.stat(blobKey(digest));
      if (stored && (await upstreamBlobSize(route, digest)) === stored.size) {
        // Linked only if the bytes are still there once held (the collector may have swept them).
        const linked = await deps.guard.hold([digest], async () => {
          if ((await driver.stat(blobKey(digest)))?.size !== stored.size) return false;
          await link(route.upstream, repository, digest, stored.size);
          return true;
        });
        if (linked) return { storedSize: stored.size, repository };
      }
      return startFill(route, repository, digest);
    })();
    starting.set(key, deciding);
    try {
      return await deciding;
    } finally {
      starting.delete(key);
    }
  }

  function startFill(route: Route, repository: RepoName, digest: Digest): FillEntry {
    const { upstream, remoteName } = route;
    const key = `${upstream.name}|${digest}`;
    const started = clock();
    const entry = { repositories: new Set([repository]), published: false, settled: false } as FillEntry;
    entry.fill = new BlobFill(
      digest,
      join(deps.spoolDir, deps.newId()),
      () =>
        call(upstream, async (signal) => {
          const response = await upstream.client.fetch(
            'GET',
            `/v2/${remoteName}/blobs/${digest}`,
            scopeOf(remoteName),
            {},
            signal,
          );
          await expectOk(upstream, response, () => new BlobUnknownError(digest));
          const size = Number(header(response.headers, 'content-length'));
          if (!Number.isSafeInteger(size) || size < 0) {
            response.body.destroy();
            throw new UpstreamFailure(`${upstream.name} sent a blob without a length`);
          }
          return { size, body: response.body };
        }),
      async (spoolPath, size) => {
        try {
          await deps.guard.hold([digest], async () => {
            if (!(await driver.stat(blobKey(digest)))) {
              await driver.write(blobKey(digest), createReadStream(spoolPath));
            }
            for (const linked of entry.repositories) await link(upstream, linked, digest, size);
          });
          entry.published = true;
          usage.count(upstream.name, { bytesFromUpstream: size });
          log.info(
            { upstream: upstream.name, repository, digest, bytes: size, ms: clock() - started },
            'mirror cached a blob',
          );
        } catch (err) {
          log.error({ err, upstream: upstream.name, digest }, 'mirror could not store a verified blob');
        }
      },
    );
    fills.set(key, entry);
    void entry.fill.settled
      .then(() => {
        entry.settled = true;
        if (fills.get(key) === entry) fills.delete(key);
        const failure = entry.fill.failed();
        if (!failure || failure instanceof RegistryError) {
          // Answers (404, 401/403, UNAVAILABLE already counted by call()) are not the body's failures.
          if (failure instanceof DigestInvalidError) upstream.breaker.failed();
          return;
        }
        // Broke off mid-body or timed out (counted against the upstream), or a local failure (disk).
        if (failure instanceof BlobFillError || isNetworkError(failure)) upstream.breaker.failed();
        log.warn({ upstream: upstream.name, digest, reason: failure.message }, 'mirror download failed');
      })
      .catch((err: unknown) => log.error({ err, digest }, 'mirror download cleanup failed'));
    return entry;
  }

  const source: UpstreamSource = {
    async assertWritable(repository) {
      const route = routing.route(repository);
      if (!route) return;
      if (route.viaRoot && !(await store.isCachedRepository(repository))) return;
      const reason = `${repository} is a cache of upstream registry "${route.upstream.name}"`;
      throw new DeniedError(reason, `${reason}: pushes go to names outside the mirror's prefixes`);
    },

    async manifest(repository, reference) {
      const route = await proxied(repository);
      if (!route) return undefined;
      if (reference.kind === 'tag') return manifestByTag(route, repository, reference.tag);
      const local = await metadata.findManifest(repository, reference.digest);
      if (local) {
        hit(route.upstream, repository, local.digest, local.size);
        return local;
      }
      return fetchManifest(route, repository, reference);
    },

    async blobSize(repository, digest) {
      const route = await proxied(repository);
      return route && upstreamBlobSize(route, digest);
    },

    async openBlob(repository, digest, requested?: RequestedRange): Promise<BlobStream | undefined> {
      const route = await proxied(repository);
      if (!route) return undefined;
      const { upstream } = route;
      // Another repository's answer (refused there, gone, or a download that ended while this
      // repository was being confirmed) does not decide this one's: try again, once, on its own.
      for (let attempt = 1; ; attempt++) {
        let found = await blobSource(route, repository, digest);
        if (found === undefined) {
          if (attempt === 1) continue;
          throw new UpstreamUnavailableError(upstream.name, 'the download of this blob could not start');
        }
        const serves =
          'storedSize' in found ? found.repository === repository : found.repositories.has(repository);
        if (!serves) {
          // Another repository's bytes or download: this one shares them once the upstream says it has
          // the blob too (a client learns nothing of blobs its repository does not hold).
          await upstreamBlobSize(route, digest);
          if ('storedSize' in found || found.published) {
            const size = 'storedSize' in found ? found.storedSize : found.fill.size;
            await link(upstream, repository, digest, size);
            found = { storedSize: size, repository };
          } else if (found.settled) {
            if (attempt === 1) continue;
            throw new UpstreamUnavailableError(upstream.name, 'the download of this blob failed');
          } else {
            found.repositories.add(repository);
          }
        }
        if ('storedSize' in found) {
          const size = found.storedSize;
          const range = requested ? resolveRange(requested, size) : undefined;
          hit(upstream, repository, digest, size);
          return { size, range, stream: await driver.read(blobKey(digest), { range }) };
        }
        const entry = found;
        try {
          await entry.fill.started;
        } catch (err) {
          const ownStart = [...entry.repositories][0] === repository;
          if (!ownStart && attempt === 1 && (err instanceof DeniedError || err instanceof BlobUnknownError)) {
            continue;
          }
          throw err;
        }
        const size = entry.fill.size;
        const range = requested ? resolveRange(requested, size) : undefined;
        usage.count(upstream.name, { misses: 1 });
        return { size, range, stream: entry.fill.reader(range) };
      }
    },

    servedBlob(repository, digest, bytes) {
      const route = routing.route(repository);
      if (!route || (route.viaRoot && !knownCached.has(repository))) return;
      hit(route.upstream, repository, digest, bytes);
    },
  };

  return {
    source,
    routing,

    /** Counters and cache sizes per configured upstream, including what is not yet written. */
    async status(): Promise<MirrorUpstreamStatus[]> {
      await usage.flush();
      const stored = new Map((await store.listStatus()).map((s) => [s.upstream, s]));
      return upstreams.map((u) => stored.get(u.name) ?? emptyStatus(u.name));
    },

    /** Whether a blob download is in progress (eviction leaves its digest alone). */
    filling(digest: Digest): boolean {
      for (const entry of fills.values()) if (entry.fill.digest === digest) return true;
      return false;
    },

    async close(): Promise<void> {
      closing.abort();
      await Promise.all([...fills.values()].map((entry) => entry.fill.settled));
      await usage.stop();
      await Promise.all(upstreams.map((u) => u.client.close()));
    },
  };
}

export type Mirror = Awaited<ReturnType<typeof createMirror>>;
