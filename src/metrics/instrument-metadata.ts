// A MetadataStore that measures the store it wraps: latency and failures (any rejection: the database
// unreachable, a statement timing out) by operation. Every method of the interface is wrapped; the
// table below makes the compiler name a method added to MetadataStore and not measured here.
import type { Registry } from 'prom-client';
import type { MetadataStore } from '../registry/metadata-store.js';
import { createOperationMetrics } from './operation-metrics.js';

/** Seconds: a cached SQLite read takes microseconds, a PostgreSQL write a few milliseconds. */
export const METADATA_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const OPERATIONS = {
  ping: true,
  findRepositoryBlob: true,
  findBlob: true,
  linkBlob: true,
  unlinkBlob: true,
  listRepositoriesWithBlob: true,
  repositoryBlobSizes: true,
  findManifest: true,
  resolveTag: true,
  repositoryManifestSizes: true,
  putManifest: true,
  deleteManifest: true,
  deleteTag: true,
  repositoryExists: true,
  listTags: true,
  listRepositories: true,
  listReferrers: true,
  createUpload: true,
  findUpload: true,
  leaseUpload: true,
  releaseUpload: true,
  updateUploadSize: true,
  deleteUpload: true,
  listUploadsUpdatedBefore: true,
  leaseJob: true,
} satisfies Record<keyof MetadataStore, true>;

type Operation = (...args: unknown[]) => Promise<unknown>;

export function createMetadataInstrumentation(registry: Registry) {
  const ops = createOperationMetrics(registry, {
    prefix: 'berth_metadata',
    subject: 'metadata store',
    buckets: METADATA_DURATION_BUCKETS,
  });

  return function instrumentMetadata(store: MetadataStore): MetadataStore {
    const instrumented: Record<string, Operation> = {};
    for (const name of Object.keys(OPERATIONS) as Array<keyof MetadataStore>) {
      const method = store[name] as Operation;
      instrumented[name] = ops.timed(name, method.bind(store));
    }
    return instrumented as unknown as MetadataStore;
  };
}
