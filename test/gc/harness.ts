// A registry with online garbage collection for the tests of test/gc: the domain services (blobs,
// uploads, manifests) with the real content guard over a real metadata database (in-memory SQLite,
// or a fresh PostgreSQL database), the memory driver, and a collector; plus pushes of OCI images,
// indexes and referrers, and the invariant that no record ever points at missing content.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import type { StorageDriver } from '../../storage-drivers/types.js';
import { createGcParts, type GcParts } from '../../src/gc/compose.js';
import type { Collector, GcRunOptions } from '../../src/gc/collector.js';
import type { GcStore } from '../../src/gc/gc-store.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createIndexChangeFlag } from '../../src/metadata/index-changes.js';
import { withReadCache } from '../../src/metadata/read-cache.js';
import { createSqliteGcStore } from '../../src/metadata/sqlite-gc-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { openPostgresMetadata } from '../../src/metadata/postgres/postgres-store.js';
import { createBlobService } from '../../src/registry/blobs.js';
import type { ContentGuard } from '../../src/registry/content-guard.js';
import type { RegistryDeps } from '../../src/registry/deps.js';
import { blobKey } from '../../src/registry/layout.js';
import { MEDIA_TYPES } from '../../src/registry/manifest-format.js';
import { createManifestService } from '../../src/registry/manifests.js';
import type { MetadataStore } from '../../src/registry/metadata-store.js';
import { noPushPolicy } from '../../src/registry/push-policy.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { createUploadService } from '../../src/registry/uploads.js';
import type { PostgresServer } from '../support/postgres.js';

export const silent = { debug() {}, info() {}, warn() {}, error() {} };
export const repo = (name: string) => name as RepoName;
export const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
const HOUR = 3_600_000;

/** A metadata database with its MetadataStore and GcStore; `close` removes it. */
export interface GcDatabase {
  metadata: MetadataStore;
  gc: GcStore;
  /** Both stores again, on another connection or pool (another process or replica). */
  sibling(): Promise<{ metadata: MetadataStore; gc: GcStore }>;
  close(): Promise<void>;
}

export async function sqliteDatabase(): Promise<GcDatabase> {
  const db = openDatabase(':memory:');
  const flag = createIndexChangeFlag();
  return {
    metadata: withReadCache(createSqliteMetadataStore(db), { changedElsewhere: () => flag.take() }),
    gc: createSqliteGcStore(db, { onIndexChange: () => flag.mark() }),
    sibling: () => Promise.reject(new Error('in-memory SQLite has one connection')),
    close: async () => void db.close(),
  };
}

/** A SQLite file (as `berth serve` and `berth gc` open it: <dataDir>/berth.db), on a connection of its own. */
export async function sqliteFileDatabase(path: string): Promise<GcDatabase> {
  const db = openDatabase(path);
  return {
    metadata: createSqliteMetadataStore(db),
    gc: createSqliteGcStore(db),
    sibling: () => Promise.reject(new Error('open the file again instead')),
    close: async () => void db.close(),
  };
}

export async function postgresDatabase(server: PostgresServer): Promise<GcDatabase> {
  const database = await server.createDatabase();
  const opened = [await openPostgresMetadata({ url: database.url, poolSize: 6 })];
  const [first] = opened as [Awaited<ReturnType<typeof openPostgresMetadata>>];
  return {
    metadata: first.store,
    gc: first.gc,
    async sibling() {
      const other = await openPostgresMetadata({ url: database.url, poolSize: 6 });
      opened.push(other);
      return { metadata: other.store, gc: other.gc };
    },
    async close() {
      await Promise.all(opened.map((metadata) => metadata.close()));
      await database.drop();
    },
  };
}

export interface Pushed {
  digest: Digest;
  size: number;
  bytes: Buffer;
}

export interface Image extends Pushed {
  config: Pushed;
  layers: Pushed[];
}

export interface HarnessOptions {
  driver?: StorageDriver;
  /** Wraps the stores the registry and the collector use (to pause them at chosen points). */
  wrap?: { metadata?: (m: MetadataStore) => MetadataStore; gc?: (g: GcStore) => GcStore };
  /** The collector's clock: its offset from the real one (queue times are the database's clock). */
  clockOffsetMs?: () => number;
}

export function createHarness(database: GcDatabase, options: HarnessOptions = {}) {
  const driver = options.driver ?? createMemoryDriver();
  const metadata = options.wrap?.metadata?.(database.metadata) ?? database.metadata;
  const gc = options.wrap?.gc?.(database.gc) ?? database.gc;
  const clock = () => Date.now() + (options.clockOffsetMs?.() ?? 0);
  const parts: GcParts = createGcParts({
    store: gc,
    metadata,
    driver,
    log: silent,
    clock,
    newId: randomUUID,
  });
  const deps: RegistryDeps = {
    driver,
    metadata,
    log: silent,
    limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestCacheBytes: 0 },
    blobRedirects: { enabled: false, expiresInSeconds: 60 },
    deleteEnabled: true,
    clock,
    newId: randomUUID,
    guard: parts.guard,
    policy: noPushPolicy,
  };
  const blobs = createBlobService(deps);
  const uploads = createUploadService(deps);
  const manifests = createManifestService(deps);
  const collector: Collector = parts.collector((olderThan) => uploads.purgeStale(olderThan));

  async function pushBlob(repository: string, bytes: Buffer = randomBytes(1000)): Promise<Pushed> {
    const digest = sha256(bytes);
    await uploads.uploadWhole(repo(repository), digest, Readable.from([bytes]));
    return { digest, size: bytes.length, bytes };
  }

  async function putManifest(
    repository: string,
    reference: string | undefined,
    body: object,
  ): Promise<Pushed> {
    const bytes = Buffer.from(JSON.stringify(body));
    const digest = sha256(bytes);
    const mediaType = (body as { mediaType: string }).mediaType;
    await manifests.put(
      repo(repository),
      reference === undefined ? { kind: 'digest', digest } : { kind: 'tag', tag: reference as Tag },
      mediaType,
      bytes,
    );
    return { digest, size: bytes.length, bytes };
  }

  const descriptor = (mediaType: string, pushed: Pushed) => ({
    mediaType,
    digest: pushed.digest,
    size: pushed.size,
  });

  /** An OCI image: a config and the given layers (pushed unless `reuse` says they are there). */
  async function pushImage(
    repository: string,
    tag: string | undefined,
    spec: { layers?: Pushed[]; newLayers?: number; subject?: Pushed } = {},
  ): Promise<Image> {
    const config = await pushBlob(
      repository,
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() })),
    );
    const layers = [...(spec.layers ?? [])];
    for (const layer of spec.layers ?? []) await blobs.mount(repo(repository), layer.digest);
    for (let i = 0; i < (spec.newLayers ?? 1); i++)
      layers.push(await pushBlob(repository, randomBytes(2000 + i)));
    const manifest = await putManifest(repository, tag, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: descriptor('application/vnd.oci.image.config.v1+json', config),
      layers: layers.map((layer) => descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer)),
      ...(spec.subject ? { subject: descriptor(MEDIA_TYPES.ociManifest, spec.subject) } : {}),
    });
    return { ...manifest, config, layers };
  }

  async function pushIndex(repository: string, tag: string | undefined, children: Pushed[]): Promise<Pushed> {
    return putManifest(repository, tag, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map((child) => ({
        ...descriptor(MEDIA_TYPES.ociManifest, child),
        platform: { os: 'linux', architecture: 'amd64' },
      })),
    });
  }

  /** A run with a delay of 0 and orphans deleted at once, unless `options` says otherwise. */
  const collect = (runOptions: Partial<GcRunOptions> = {}) =>
    collector.run({ delayMs: 0, orphans: true, orphanGraceMs: 0, uploadMaxAgeMs: 24 * HOUR, ...runOptions });

  const stored = async (digest: Digest) => (await driver.stat(blobKey(digest)))?.size;

  return {
    driver,
    metadata,
    gc,
    guard: parts.guard as ContentGuard,
    sweeper: parts.sweeper,
    collector,
    blobs,
    uploads,
    manifests,
    pushBlob,
    pushImage,
    pushIndex,
    putManifest,
    collect,
    stored,
    deleteTag: (repository: string, tag: string) =>
      manifests.delete(repo(repository), { kind: 'tag', tag: tag as Tag }),
    deleteManifest: (repository: string, digest: Digest) =>
      manifests.delete(repo(repository), { kind: 'digest', digest }),
  };
}

export type Harness = ReturnType<typeof createHarness>;

/**
 * The invariant garbage collection must keep whatever the interleaving: every manifest a repository
 * holds has its bytes, and every blob it references is linked to the repository, recorded and stored.
 */
export async function expectNothingDangling(
  h: Harness,
  images: ReadonlyArray<{ repository: string; image: Image }>,
) {
  for (const { repository, image } of images) {
    const record = await h.metadata.findManifest(repo(repository), image.digest);
    if (!record) continue;
    expect(await h.stored(image.digest), `bytes of manifest ${image.digest}`).toBe(image.size);
    for (const blob of [image.config, ...image.layers]) {
      expect(
        await h.metadata.findRepositoryBlob(repo(repository), blob.digest),
        `link ${repository}@${blob.digest}`,
      ).toEqual({
        size: blob.size,
      });
      expect(await h.stored(blob.digest), `bytes of ${blob.digest}`).toBe(blob.size);
    }
  }
}
