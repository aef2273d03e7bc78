// The one place that knows where things live in the storage driver. Drivers validate keys but
// never build them.
//
//   <driver root>
//   ├── blobs/
//   │   └── <algorithm>/<first two hex>/<hex>/data   content-addressed bytes (layers, configs and
//   │                                                manifests), written once after verification
//   └── uploads/
//       ├── <upload id>/data                         bytes of an upload session in progress
//       ├── <upload id>/published                    the digest of a session whose verified bytes
//       │                                            reached their blob key but whose record did not
//       │                                            (the database failed): lets its retry finish
//       └── readiness-probe                          never written: /readyz stats it to reach storage
//
// Which repository may read which blob, tags and manifests live in the metadata index
// (src/metadata), never in the tree: nothing walks storage to answer a request.
import { digestAlgorithm, digestHex, type Digest } from './references.js';

export const UPLOADS_PREFIX = 'uploads/';

export function blobKey(digest: Digest): string {
  const hex = digestHex(digest);
  return `blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}/data`;
}

export function uploadDataKey(uploadId: string): string {
  return `${UPLOADS_PREFIX}${uploadId}/data`;
}

/** Written only when publishing a verified upload failed after its bytes moved (see uploads.ts). */
export function uploadPublishedKey(uploadId: string): string {
  return `${UPLOADS_PREFIX}${uploadId}/published`;
}

/** A key that is never written (upload ids are UUIDs): statting it tells whether storage answers. */
export function readinessProbeKey(): string {
  return `${UPLOADS_PREFIX}readiness-probe`;
}

export function uploadPrefix(uploadId: string): string {
  return `${UPLOADS_PREFIX}${uploadId}/`;
}
