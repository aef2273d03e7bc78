// The domain's composition: every registry operation, built from injected dependencies.
import { createBlobService } from './blobs.js';
import { createCatalogService, type CatalogDeps } from './catalog.js';
import type { RegistryDeps } from './deps.js';
import { createDiscoveryService } from './discovery.js';
import { createHealthService } from './health.js';
import { createInspectionService } from './inspection.js';
import { createManifestService } from './manifests.js';
import { createUploadService } from './uploads.js';

export function createRegistry(deps: RegistryDeps & CatalogDeps) {
  const blobs = createBlobService(deps);
  const manifests = createManifestService(deps);
  const discovery = createDiscoveryService(deps);
  return {
    blobs,
    uploads: createUploadService(deps),
    manifests,
    catalog: createCatalogService(deps, { manifests, blobs }),
    discovery,
    inspection: createInspectionService(deps, { manifests, discovery }),
    health: createHealthService(deps),
  };
}

export type Registry = ReturnType<typeof createRegistry>;
