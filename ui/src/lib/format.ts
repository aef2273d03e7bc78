// Sizes, counts and digests, short and readable.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1024-based, three significant digits: "0 B", "512 B", "1.5 KiB", "12.3 MiB", "120 GiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  const text = digits === 0 ? value.toFixed(0) : value.toFixed(digits).replace(/\.?0+$/, '');
  return `${bytes < 0 ? '-' : ''}${text} ${BYTE_UNITS[unit]}`;
}

const counts = new Intl.NumberFormat('en');

/** "20,000" */
export const formatCount = (n: number): string => counts.format(n);

/** "1 tag", "3 tags" */
export const plural = (n: number, one: string, many = `${one}s`): string =>
  `${formatCount(n)} ${n === 1 ? one : many}`;

/** "sha256:0123456789ab": the algorithm and the first 12 hex digits, enough to tell digests apart. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon < 0) return digest.slice(0, 12);
  return `${digest.slice(0, colon)}:${digest.slice(colon + 1, colon + 13)}`;
}

/** "45%" of a part in a whole, for bars and hit ratios; undefined when the whole is 0. */
export function percent(part: number, whole: number): number | undefined {
  if (!whole) return undefined;
  return Math.round((part / whole) * 1000) / 10;
}

/** Media types shortened for tables: "application/vnd.oci.image.index.v1+json" -> "OCI index". */
export function mediaTypeLabel(mediaType: string | null | undefined): string {
  switch (mediaType) {
    case 'application/vnd.oci.image.index.v1+json':
      return 'OCI index';
    case 'application/vnd.oci.image.manifest.v1+json':
      return 'OCI image';
    case 'application/vnd.docker.distribution.manifest.list.v2+json':
      return 'Docker manifest list';
    case 'application/vnd.docker.distribution.manifest.v2+json':
      return 'Docker image';
    case null:
    case undefined:
    case '':
      return '–';
    default:
      return mediaType;
  }
}

export const isIndexMediaType = (mediaType: string | null | undefined): boolean =>
  mediaType === 'application/vnd.oci.image.index.v1+json' ||
  mediaType === 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Artifact types people know by name: signatures, SBOMs, attestations. */
export function artifactTypeLabel(artifactType: string | null | undefined): string | undefined {
  if (!artifactType) return undefined;
  const known: Array<[RegExp, string]> = [
    [/sigstore\.cosign|dev\.cosignproject|cosign/i, 'signature (cosign)'],
    [/notary|notation/i, 'signature (Notation)'],
    [/spdx/i, 'SBOM (SPDX)'],
    [/cyclonedx/i, 'SBOM (CycloneDX)'],
    [/in-toto|intoto|attestation/i, 'attestation (in-toto)'],
    [/helm\.config/i, 'Helm chart'],
  ];
  return known.find(([pattern]) => pattern.test(artifactType))?.[1];
}
