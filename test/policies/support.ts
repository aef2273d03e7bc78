// A registry with namespace policies for domain tests: the memory driver, an in-memory SQLite index and
// the policy store on it, the PushPolicy wired as server.ts wires it, and helpers that push blobs and
// images through the registry's own services.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { openDatabase } from '../../src/metadata/db.js';
import { createSqlitePolicyStore } from '../../src/metadata/sqlite-policy-store.js';
import { createSqliteMetadataStore } from '../../src/metadata/sqlite-store.js';
import { createNamespacePolicies } from '../../src/policies/policies.js';
import { createRetention, type RetentionDeletion } from '../../src/policies/retention.js';
import type { PolicyStore } from '../../src/policies/policy-store.js';
import { unguarded } from '../../src/registry/content-guard.js';
import type { Digest, RepoName, Tag } from '../../src/registry/references.js';
import { createRegistry } from '../../src/registry/registry.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

export const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
export const repo = (name: string) => name as RepoName;
export const tagRef = (name: string) => ({ kind: 'tag' as const, tag: name as Tag });

export interface PolicyRegistryOptions {
  deleteEnabled?: boolean;
  /** Wraps the policy store the retention runner sees (to interleave changes with a run). */
  retentionStore?: (store: PolicyStore) => PolicyStore;
}

export function createPolicyRegistry(options: PolicyRegistryOptions = {}) {
  const db = openDatabase(':memory:');
  let now = 1_700_000_000_000;
  const clock = () => now;
  const metadata = createSqliteMetadataStore(db, clock);
  const store = createSqlitePolicyStore(db);
  const policies = createNamespacePolicies({ store, metadata });
  let id = 0;
  const registry = createRegistry({
    driver: createMemoryDriver(),
    metadata,
    log: silent,
    limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestCacheBytes: 1024 * 1024 },
    deleteEnabled: options.deleteEnabled ?? true,
    blobRedirects: { enabled: false, expiresInSeconds: 60 },
    clock,
    newId: () => `00000000-0000-4000-8000-${String(++id).padStart(12, '0')}`,
    guard: unguarded,
    policy: policies.push,
  });
  const deleted: RetentionDeletion[] = [];
  const retention = createRetention({
    store: options.retentionStore ? options.retentionStore(store) : store,
    manifests: registry.manifests,
    immutability: policies.immutability,
    clock,
    log: silent,
    onDeleted: (deletion) => void deleted.push(deletion),
  });

  async function pushBlob(repository: string, data: Buffer): Promise<Digest> {
    const digest = sha256(data);
    await registry.uploads.uploadWhole(repo(repository), digest, Readable.from([data]));
    return digest;
  }

  /** An image of one config and `layers` (pushed first), tagged `tag` when given; its digest. */
  async function pushImage(
    repository: string,
    tag: string | undefined,
    layers: Buffer[] = [randomBytes(64)],
    extra: Record<string, unknown> = {},
  ): Promise<Digest> {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', id: randomBytes(8).toString('hex') }),
    );
    const descriptors = [];
    for (const layer of layers) {
      descriptors.push({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: await pushBlob(repository, layer),
        size: layer.length,
      });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: await pushBlob(repository, config),
          size: config.length,
        },
        layers: descriptors,
        ...extra,
      }),
    );
    return putManifest(repository, tag, manifest, OCI_MANIFEST);
  }

  async function putManifest(
    repository: string,
    tag: string | undefined,
    bytes: Buffer,
    type = OCI_MANIFEST,
  ) {
    const reference = tag === undefined ? { kind: 'digest' as const, digest: sha256(bytes) } : tagRef(tag);
    const record = await registry.manifests.put(repo(repository), reference, type, bytes);
    return record.digest;
  }

  /** An index of `children` (manifests of the repository, by digest). */
  async function pushIndex(repository: string, tag: string | undefined, children: Digest[]): Promise<Digest> {
    const manifests = [];
    for (const child of children) {
      const { size } = await registry.manifests.head(repo(repository), { kind: 'digest', digest: child });
      manifests.push({
        mediaType: OCI_MANIFEST,
        digest: child,
        size,
        platform: { architecture: 'amd64', os: 'linux' },
      });
    }
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    return putManifest(repository, tag, bytes, OCI_INDEX);
  }

  const tags = (repository: string) => metadata.listTags(repo(repository), {});

  return {
    db,
    metadata,
    store,
    policies,
    registry,
    retention,
    deleted,
    pushBlob,
    pushImage,
    pushIndex,
    putManifest,
    tags,
    advance: (ms: number) => void (now += ms),
    now: clock,
  };
}
