// What a manifest holds, for people (the management API's manifest view and the web UI's tag page):
// the manifest as JSON, the image config it names (layers' history, environment, labels, created)
// and the referrers whose subject it is (signatures, SBOMs, attestations). Read-only; a config not
// stored here (an artifact's, a proxied image's not yet pulled) is null.
import type { RegistryDeps } from './deps.js';
import type { DiscoveryService, ReferrersIndex } from './discovery.js';
import { readImageConfig, type ManifestBody } from './manifest-details.js';
import type { ManifestService } from './manifests.js';
import type { Reference, RepoName } from './references.js';

export interface ManifestInspection {
  digest: string;
  mediaType: string;
  size: number;
  /** The manifest's JSON, parsed (its bytes are what /v2 serves). */
  manifest: object;
  /** The image config, parsed; null for an index, an artifact, or a config not stored here. */
  config: object | null;
  referrers: ReferrersIndex['manifests'];
}

export function createInspectionService(
  { driver }: Pick<RegistryDeps, 'driver'>,
  services: { manifests: ManifestService; discovery: DiscoveryService },
) {
  return {
    /** MANIFEST_UNKNOWN (or NAME_UNKNOWN) like a GET of the manifest. */
    async inspect(repository: RepoName, reference: Reference): Promise<ManifestInspection> {
      const record = await services.manifests.head(repository, reference);
      const bytes = await services.manifests.read(record);
      const manifest = JSON.parse(bytes.toString('utf8')) as ManifestBody & object;
      const [config, referrers] = await Promise.all([
        readImageConfig(driver, manifest),
        services.discovery.referrers(repository, record.digest),
      ]);
      return {
        digest: record.digest,
        mediaType: record.mediaType,
        size: record.size,
        manifest,
        config,
        referrers: referrers.manifests,
      };
    },
  };
}

export type InspectionService = ReturnType<typeof createInspectionService>;
