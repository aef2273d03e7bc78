// The domain's composition: every registry operation, built from injected dependencies.
import { createBlobService } from './blobs.js';
import type { RegistryDeps } from './deps.js';
import { createDiscoveryService } from './discovery.js';
import { createHealthService } from './health.js';
import { createManifestService } from './manifests.js';
import { createUploadService } from './uploads.js';

export function createRegistry(deps: RegistryDeps) {
  return {
    blobs: createBlobService(deps),
    uploads: createUploadService(deps),
    manifests: createManifestService(deps),
    discovery: createDiscoveryService(deps),
    health: createHealthService(deps),
  };
}

export type Registry = ReturnType<typeof createRegistry>;
