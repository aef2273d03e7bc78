// Populating the data set of dataset.ts in-process, through Berth's own stores, storage driver and
// registry code, with no server running. Over HTTP, or through the registry's services in-process,
// 100,000 distinct manifests take about 5 minutes on a 2-CPU machine (about 300/s either way: the cost
// is the push path's storage and database work, not HTTP), so the bulk goes one level down:
// - manifests through storeManifest() (what a push runs once its checks pass: the bytes under their
//   digest, the record with what the catalog shows of it, the tag), without the push's content-guard
//   hold, presence check and push policy, and with the shared config (which storeManifest reads for
//   its `created` time) served from memory;
// - unreferenced blobs as a finished upload leaves them: the bytes under their key, then the blob's
//   record and the repository's link (MetadataStore.linkBlob), which queue it for review;
// - pull counts through the catalog store, as the pull tracker records them.
// The shared config and layer are uploaded and mounted through the registry's services. The modules
// come from the build the benchmark's servers run (its dist/, whose first server has migrated the
// database), never from src/, so that the two agree on the schema. Storage is written without fsync:
// durability is not what is measured.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type * as SchemaModule from '../../../src/config/schema.js';
import type * as ComposeModule from '../../../src/gc/compose.js';
import type * as OpenModule from '../../../src/metadata/open.js';
import type * as LayoutModule from '../../../src/registry/layout.js';
import type * as FormatModule from '../../../src/registry/manifest-format.js';
import type * as ManifestsModule from '../../../src/registry/manifests.js';
import type * as PushPolicyModule from '../../../src/registry/push-policy.js';
import type * as ReferencesModule from '../../../src/registry/references.js';
import type * as RegistryModule from '../../../src/registry/registry.js';
import type * as ServerModule from '../../../src/server.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, pool } from '../lib/http.js';
import {
  isPulledWhileSeeding,
  random,
  repositoryName,
  seedPulls,
  tagCounts,
  tagName,
  type DatasetSize,
} from './dataset.js';

export interface SharedBlobs {
  config: { digest: string; size: number };
  layer: { digest: string; size: number };
}

export interface PopulateTimes {
  mountSeconds: number;
  manifestSeconds: number;
  /** Manifest GETs recorded as pulls. */
  pulls: number;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** The one manifest of `repository:tag`: the shared blobs, and an annotation that makes it unique. */
export function manifestOf(blobs: SharedBlobs, repository: string, tag: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, ...blobs.config },
      layers: [{ mediaType: OCI_LAYER, ...blobs.layer }],
      annotations: { 'org.opencontainers.image.ref.name': tag, 'org.example.bench.repository': repository },
    }),
  );
}

/** Berth's modules from a build: `distSrc` is its dist/src directory. */
async function loadBuild(distSrc: string) {
  const load = <T>(path: string) => import(pathToFileURL(join(distSrc, path)).href) as Promise<T>;
  return {
    schema: await load<typeof SchemaModule>('config/schema.js'),
    server: await load<typeof ServerModule>('server.js'),
    open: await load<typeof OpenModule>('metadata/open.js'),
    compose: await load<typeof ComposeModule>('gc/compose.js'),
    registry: await load<typeof RegistryModule>('registry/registry.js'),
    pushPolicy: await load<typeof PushPolicyModule>('registry/push-policy.js'),
    references: await load<typeof ReferencesModule>('registry/references.js'),
    manifests: await load<typeof ManifestsModule>('registry/manifests.js'),
    format: await load<typeof FormatModule>('registry/manifest-format.js'),
    layout: await load<typeof LayoutModule>('registry/layout.js'),
  };
}

export interface InProcessRegistry {
  populate(size: DatasetSize, concurrency: number): Promise<{ blobs: SharedBlobs; times: PopulateTimes }>;
  /** `count` unique blobs of `bytes` random bytes, blob i in repository i (mod the repositories). */
  uploadGarbage(size: DatasetSize, count: number, bytes: number, concurrency: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Opens the stores and storage the benchmark's servers use (`env`: BERTH_METADATA_PATH and
 * BERTH_STORAGE_FILESYSTEM_ROOT) with the modules of the build at `distSrc`.
 */
export async function openInProcess(
  distSrc: string,
  dataDir: string,
  paths: { metadata: string; storage: string },
): Promise<InProcessRegistry> {
  const build = await loadBuild(distSrc);
  const config = build.schema.configSchema.parse({
    dataDir,
    metadata: { path: paths.metadata },
    storage: { filesystem: { root: paths.storage, fsync: false } },
  });
  const driver = await build.server.createDriver(config);
  const stores = await build.open.openStores(config, silent);
  const gc = build.compose.createGcParts({
    store: stores.gc,
    metadata: stores.metadata,
    driver,
    log: silent,
    clock: Date.now,
    newId: randomUUID,
  });
  const registry = build.registry.createRegistry({
    driver,
    metadata: stores.metadata,
    log: silent,
    limits: config.limits,
    deleteEnabled: true,
    blobRedirects: { enabled: false, expiresInSeconds: 1 },
    clock: Date.now,
    newId: randomUUID,
    guard: gc.guard,
    policy: build.pushPolicy.noPushPolicy,
    catalogStore: stores.catalog,
  });
  const { parseRepoName, parseTag, parseDigest } = build.references;

  const upload = async (repository: string, data: Buffer): Promise<string> => {
    const digest = sha256(data);
    await registry.uploads.uploadWhole(parseRepoName(repository), parseDigest(digest), Readable.from([data]));
    return digest;
  };

  return {
    async populate(size, concurrency) {
      const first = repositoryName(0);
      const configBytes = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '2026-01-01T00:00:00Z',
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      );
      const layerBytes = randomBytes(2048);
      const blobs: SharedBlobs = {
        config: { digest: await upload(first, configBytes), size: configBytes.length },
        layer: { digest: await upload(first, layerBytes), size: layerBytes.length },
      };

      const configKey = build.layout.blobKey(parseDigest(blobs.config.digest));
      const configInMemory: typeof driver = {
        ...driver,
        read: (key, options) =>
          key === configKey ? Promise.resolve(Readable.from([configBytes])) : driver.read(key, options),
      };

      let started = performance.now();
      const source = parseRepoName(first);
      await pool((size.repositories - 1) * 2, concurrency, async (i) => {
        const repository = parseRepoName(repositoryName(1 + Math.floor(i / 2)));
        const digest = parseDigest(i % 2 === 0 ? blobs.config.digest : blobs.layer.digest);
        if (!(await registry.blobs.mount(repository, digest, source))) {
          throw new Error(`mounting ${digest} from ${first} into ${repository} failed`);
        }
      });
      const mountSeconds = (performance.now() - started) / 1000;

      const pushes: [number, number][] = [];
      tagCounts(size).forEach((count, repository) => {
        for (let k = 0; k < count; k++) pushes.push([repository, k]);
      });
      const next = random(11);
      for (let i = pushes.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [pushes[i], pushes[j]] = [pushes[j]!, pushes[i]!];
      }
      started = performance.now();
      await pool(pushes.length, concurrency, async (i) => {
        const [index, k] = pushes[i]!;
        const repository = repositoryName(index);
        const tag = tagName(index, k);
        const bytes = manifestOf(blobs, repository, tag);
        await build.manifests.storeManifest(
          { driver: configInMemory, metadata: stores.metadata },
          parseRepoName(repository),
          {
            digest: parseDigest(sha256(bytes)),
            bytes,
            parsed: build.format.parseManifest(OCI_MANIFEST, bytes),
          },
          parseTag(tag),
        );
      });
      const manifestSeconds = (performance.now() - started) / 1000;

      // As the pull tracker would record them: one batch.
      const now = Date.now();
      const pulls = [];
      for (let i = 0; i < size.repositories; i++) {
        if (!isPulledWhileSeeding(i)) continue;
        const repository = repositoryName(i);
        const tag = tagName(i, 0);
        pulls.push({
          repository: parseRepoName(repository),
          digest: parseDigest(sha256(manifestOf(blobs, repository, tag))),
          tag: parseTag(tag),
          count: seedPulls(i),
          at: now - i * 1000,
        });
      }
      await stores.catalog.recordPulls(pulls);
      const pullCount = pulls.reduce((sum, pull) => sum + pull.count, 0);
      return { blobs, times: { mountSeconds, manifestSeconds, pulls: pullCount } };
    },

    async uploadGarbage(size, count, bytes, concurrency) {
      const digests = new Array<string>(count);
      await pool(count, concurrency, async (i) => {
        const data = randomBytes(bytes);
        const digest = parseDigest(sha256(data));
        await driver.write(build.layout.blobKey(digest), data);
        await stores.metadata.linkBlob(parseRepoName(repositoryName(i % size.repositories)), digest, bytes);
        digests[i] = digest;
      });
      return digests;
    },

    async close() {
      await stores.close();
      await driver.close?.();
    },
  };
}
