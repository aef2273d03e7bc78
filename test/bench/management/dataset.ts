// The registry the management benchmark lists: `repositories` repositories in 100 namespaces
// (`team-00/app-00000` …), holding `tags` tags in all. Repository 0 holds `bigRepoTags` of them, with
// semver-like and other names; every other repository holds at least one (`1.0.0`, `1.0.1`, …), the
// rest spread with a skew so that tag counts and sizes differ. Every tag is its own small manifest
// (one annotation apart) over one shared config and layer. Reader accounts are given namespace
// READER_NAMESPACE: 1% of the repositories.

export interface DatasetSize {
  repositories: number;
  tags: number;
  bigRepoTags: number;
  /** Unreferenced blobs uploaded for garbage collection. */
  garbageBlobs: number;
}

export const NAMESPACES = 100;
export const READER_NAMESPACE = 'team-42';

/** The figures (20,000 repositories, 100,000 tags, 100,000 blobs) times `scale`. */
export function datasetSize(scale: number): DatasetSize {
  const repositories = Math.max(NAMESPACES * 2, Math.round(20_000 * scale));
  const tags = Math.max(repositories * 2, Math.round(100_000 * scale));
  return {
    repositories,
    tags,
    bigRepoTags: Math.round(tags / 5),
    garbageBlobs: Math.max(100, Math.round(100_000 * scale)),
  };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export function repositoryName(index: number): string {
  return `team-${pad(index % NAMESPACES, 2)}/app-${pad(index, 5)}`;
}

/** The repository holding bigRepoTags tags. */
export const BIG_REPOSITORY = repositoryName(0);

/**
 * Tag `j` of the big repository: `vX.Y.Z`, `X.Y.Z`, `X.Y.Z-rc.N` and `build-N` in turn, with
 * (X, Y, Z) unique per j and not in push order, so that name, semver and push orders all differ.
 */
export function bigTagName(j: number): string {
  const version = `${j % 7}.${Math.floor(j / 7) % 50}.${Math.floor(j / 350)}`;
  switch (j % 4) {
    case 0:
      return `v${version}`;
    case 1:
      return version;
    case 2:
      return `${version}-rc.${j % 5}`;
    default:
      return `build-${j}`;
  }
}

/** Tag `k` of any other repository. */
export function smallTagName(k: number): string {
  return `1.0.${k}`;
}

/** How many tags each repository holds (index 0: the big one); they add up to size.tags. */
export function tagCounts(size: DatasetSize): number[] {
  const others = size.repositories - 1;
  const counts = Array.from({ length: size.repositories }, (_, i) => (i === 0 ? size.bigRepoTags : 1));
  const extra = size.tags - size.bigRepoTags - others;
  // Skewed towards low indexes: repository 1 holds about 80 tags at full scale, most hold 3 or 4.
  for (let j = 0; j < extra; j++) counts[1 + Math.floor(others * (j / extra) ** 1.5)]! += 1;
  return counts;
}

export function tagName(repository: number, k: number): string {
  return repository === 0 ? bigTagName(k) : smallTagName(k);
}

/** A small deterministic PRNG (mulberry32), so every run pushes in the same order. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Repositories whose first tag is pulled while seeding (pull counts for sort=pulled): 1 in 10. */
export function isPulledWhileSeeding(repository: number): boolean {
  return repository % 10 === 5;
}

/** How many times a repository of isPulledWhileSeeding() is pulled: 1 to 3. */
export function seedPulls(repository: number): number {
  return 1 + (Math.floor(repository / 10) % 3);
}

/**
 * The repositories whose manifests the pull-tracking load GETs: up to `count` of those not pulled
 * while seeding (index 1 mod 20), so their pull counts start at 0.
 */
export function loadRepositories(size: DatasetSize, count: number): number[] {
  const found: number[] = [];
  for (let i = 1; i < size.repositories && found.length < count; i += 20) found.push(i);
  return found;
}
