// Listing metrics on a seeded registry: a repository with many tags (full list and a paginated walk) and
// a _catalog walk of many repositories. Seeding runs in parallel over keep-alive connections and is timed
// apart; only the listing requests are measured.
import { makeSmallImage, pool, pushSmallImage, RegistryClient } from '../lib/http.js';
import type { Metric } from '../lib/metric.js';
import type { BenchOptions, TargetName } from '../lib/options.js';

interface TagPage {
  name?: string;
  tags?: string[] | null;
}

interface CatalogPage {
  repositories?: string[] | null;
}

function countUnique(pages: string[][], expected: number, what: string): void {
  const all = pages.flat();
  const unique = new Set(all);
  if (all.length !== expected || unique.size !== expected) {
    throw new Error(`${what}: got ${all.length} entries (${unique.size} distinct), want ${expected}`);
  }
}

const pad = (i: number): string => String(i).padStart(6, '0');

/** Berth on PostgreSQL lists from its database as Berth on SQLite does: both are measured. */
const TARGETS: readonly TargetName[] = ['berth', 'distribution', 'berth-pg'];

export function tagsMetric(options: BenchOptions): Metric {
  const n = options.tags;
  const page = options.pageSize;
  const notes = new Set<string>();
  const measured = new Set<string>();
  const unpaginated = new Set<string>();
  return {
    id: 'tags',
    title: `Tag list of ${n.toLocaleString('en-US')} tags`,
    targets: TARGETS,
    rows: [
      {
        key: 'tags.seed',
        label: `Seeding ${n.toLocaleString('en-US')} tags (not part of the targets)`,
        unit: 's',
        better: 'lower',
      },
      {
        key: 'tags.full',
        label: `GET tags/list of ${n.toLocaleString('en-US')} tags (no n=)`,
        unit: 'ms',
        better: 'lower',
        goal: { kind: 'ratio-at-most', value: 1 },
      },
      {
        key: 'tags.walk',
        label: `Paginated tags/list walk, n=${page}, following Link`,
        unit: 'ms',
        better: 'lower',
        goal: { kind: 'ratio-at-most', value: 1 },
      },
    ],
    async round(_ctx, server, target) {
      const client = new RegistryClient(server.url, options.seedConcurrency);
      try {
        const repo = 'bench/tags';
        const image = makeSmallImage('tags');
        const seedStart = performance.now();
        await pushSmallImage(client, repo, `v${pad(0)}`, image);
        await pool(n - 1, options.seedConcurrency, (i) =>
          client.putManifest(repo, `v${pad(i + 1)}`, image.manifest),
        );
        const seedSeconds = (performance.now() - seedStart) / 1000;

        let start = performance.now();
        const full = await client.walk<TagPage>(`/v2/${repo}/tags/list`);
        const fullMs = performance.now() - start;
        countUnique(
          full.pages.map((p) => p.tags ?? []),
          n,
          `${target} tags/list`,
        );
        if (full.requests > 1)
          notes.add(`${target} paginated tags/list without n= (${full.requests} requests).`);

        start = performance.now();
        const walk = await client.walk<TagPage>(`/v2/${repo}/tags/list?n=${page}`);
        const walkMs = performance.now() - start;
        countUnique(
          walk.pages.map((p) => p.tags ?? []),
          n,
          `${target} tags/list?n=${page} walk`,
        );
        measured.add(target);
        if (walk.requests === 1 && n > page) {
          unpaginated.add(target);
          notes.add(
            `${target} ignores n= on tags/list: the "paginated walk" was one request returning all ${n.toLocaleString('en-US')} tags.`,
          );
        }
        return { 'tags.seed': seedSeconds, 'tags.full': fullMs, 'tags.walk': walkMs };
      } finally {
        client.close();
      }
    },
    notes: () => [...notes],
    // A walk of n/page requests against a single response is no like-for-like comparison.
    incomparable: () => (unpaginated.size > 0 && unpaginated.size < measured.size ? ['tags.walk'] : []),
  };
}

export function catalogMetric(options: BenchOptions): Metric {
  const n = options.repositories;
  const page = options.pageSize;
  const notes = new Set<string>();
  return {
    id: 'catalog',
    title: `_catalog walk of ${n.toLocaleString('en-US')} repositories`,
    targets: TARGETS,
    rows: [
      {
        key: 'catalog.seed',
        label: `Seeding ${n.toLocaleString('en-US')} repositories (not part of the targets)`,
        unit: 's',
        better: 'lower',
      },
      {
        key: 'catalog.walk',
        label: `_catalog walk of ${n.toLocaleString('en-US')} repositories, n=${page}, following Link`,
        unit: 'ms',
        better: 'lower',
        goal: { kind: 'ratio-at-most', value: 1 },
      },
    ],
    async round(_ctx, server, target) {
      const client = new RegistryClient(server.url, options.seedConcurrency);
      try {
        const image = makeSmallImage('catalog');
        const base = `bench/r${pad(0)}`;
        const seedStart = performance.now();
        await pushSmallImage(client, base, 'latest', image);
        // Each further repository mounts the two blobs from the first one, then gets the manifest.
        await pool(n - 1, options.seedConcurrency, async (i) => {
          const repo = `bench/r${pad(i + 1)}`;
          await client.mountBlob(repo, base, image.configDigest, image.config);
          await client.mountBlob(repo, base, image.layerDigest, image.layer);
          await client.putManifest(repo, 'latest', image.manifest);
        });
        const seedSeconds = (performance.now() - seedStart) / 1000;

        const start = performance.now();
        const walk = await client.walk<CatalogPage>(`/v2/_catalog?n=${page}`);
        const walkMs = performance.now() - start;
        countUnique(
          walk.pages.map((p) => p.repositories ?? []),
          n,
          `${target} _catalog?n=${page} walk`,
        );
        if (walk.requests === 1 && n > page) notes.add(`${target} ignores n= on _catalog.`);
        return { 'catalog.seed': seedSeconds, 'catalog.walk': walkMs };
      } finally {
        client.close();
      }
    },
    notes: () => [...notes],
  };
}
