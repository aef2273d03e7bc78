// The management benchmark's report: listing latency tables (p50/p99 per request, medians of the
// rounds), the pull-tracking and garbage-collection rows with the issue's target, every round's
// values, and the "Management API and garbage collection" section of docs/benchmarks.md.
import { readFile, writeFile } from 'node:fs/promises';
import * as prettier from 'prettier';
import type { BenchOptions } from '../lib/options.js';
import { median, renderMachine, type BenchRecord, type Measurement } from '../lib/report.js';
import type { DatasetSize } from './dataset.js';
import type { ListingBudget, ListingVariant } from './listing.js';

export interface ManagementSettings {
  scale: number;
  size: DatasetSize;
  budget: ListingBudget;
  /** Repositories the manifest GET load rotates over. */
  loadRepositories: number;
  garbageBytes: number;
  phases: Phase[];
}

export const phaseNames = ['listing', 'token', 'pulls', 'gc'] as const;
export type Phase = (typeof phaseNames)[number];

export interface ManagementRecord {
  options: BenchOptions;
  settings: ManagementSettings;
  record: BenchRecord;
  /** Listing variants in the order measured, per phase ('listing' and 'token'). */
  variants: { listing: ListingVariant[]; token: ListingVariant[] };
  notes: string[];
}

interface Row {
  key: string;
  label: string;
  unit: 'req/s' | 'ms' | 'µs' | '%' | 's' | 'MB' | 'objects' | 'manifests/s' | 'blobs/s';
  goal?: { text: string; met: (values: number[]) => boolean };
}

function valuesOf(measurements: Measurement[], key: string): number[] {
  return measurements
    .filter((m) => m.values?.[key] !== undefined)
    .sort((a, b) => a.round - b.round)
    .map((m) => m.values![key]!);
}

function formatValue(value: number, unit: Row['unit']): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === 'objects') return Math.round(value).toLocaleString('en-US');
  if (unit === '%') return value.toFixed(1);
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

const loadText = (o: BenchOptions) =>
  `${o.loadConnections} connections, ${o.loadSeconds} s, wrk -t${o.loadThreads}`;

export function pullRows(options: BenchOptions, settings: ManagementSettings): Row[] {
  const load = `by tag over ${settings.loadRepositories.toLocaleString('en-US')} repositories (${loadText(options)} in 2 s slices)`;
  return [
    { key: 'pulls.on.rps', label: `Manifest GET ${load}, pull tracking on`, unit: 'req/s' },
    { key: 'pulls.off.rps', label: `Manifest GET ${load}, pull tracking off`, unit: 'req/s' },
    {
      key: 'pulls.share',
      label: 'Throughput with pull tracking, as a share of without (same round)',
      unit: '%',
      goal: { text: '≥ 95% (at most 5% slower)', met: (values) => median(values) >= 95 },
    },
    { key: 'pulls.on.p99', label: 'Manifest GET p99 latency, pull tracking on', unit: 'ms' },
    { key: 'pulls.off.p99', label: 'Manifest GET p99 latency, pull tracking off', unit: 'ms' },
    { key: 'pulls.on.cpu', label: 'Server CPU time per manifest GET, pull tracking on', unit: 'µs' },
    { key: 'pulls.off.cpu', label: 'Server CPU time per manifest GET, pull tracking off', unit: 'µs' },
  ];
}

export function gcRows(settings: ManagementSettings): Row[] {
  const blobs = settings.size.garbageBlobs.toLocaleString('en-US');
  return [
    {
      key: 'gc.wall',
      label: `\`berth gc --delay 0 --json\` over ${blobs} unreferenced blobs: wall time of the process`,
      unit: 's',
    },
    { key: 'gc.duration', label: 'The same run: duration in its report', unit: 's' },
    { key: 'gc.rss', label: 'The same run: peak RSS (VmHWM)', unit: 'MB' },
    { key: 'gc.blobs', label: 'Blobs deleted (report)', unit: 'objects' },
    { key: 'gc.freed', label: 'Bytes freed (report)', unit: 'MB' },
    { key: 'gc.disk.objects', label: 'Objects gone from storage (counted on disk)', unit: 'objects' },
    { key: 'gc.disk.freed', label: 'Bytes gone from storage (counted on disk)', unit: 'MB' },
    { key: 'gc.perBlob', label: 'Run time per blob deleted', unit: 'µs' },
  ];
}

export function seedRows(settings: ManagementSettings): Row[] {
  const { size } = settings;
  return [
    {
      key: 'seed.manifests.rate',
      label: `Population in-process: ${size.tags.toLocaleString('en-US')} manifest puts by tag (one manifest each)`,
      unit: 'manifests/s',
    },
    {
      key: 'seed.seconds',
      label: 'Population in-process, in all (mounts, manifests, pull counts)',
      unit: 's',
    },
    {
      key: 'seed.garbage.rate',
      label: `Population in-process: ${size.garbageBlobs.toLocaleString('en-US')} unreferenced blobs written as finished uploads leave them`,
      unit: 'blobs/s',
    },
  ];
}

function renderRows(rows: Row[], measurements: Measurement[]): string {
  const lines = ['| Metric | Unit | Berth | Target | Met |', '| --- | --- | ---: | --- | --- |'];
  for (const row of rows) {
    const values = valuesOf(measurements, row.key);
    const met = row.goal && values.length > 0 ? (row.goal.met(values) ? 'yes' : '**NO**') : '';
    lines.push(
      `| ${row.label} | ${row.unit} | ${formatValue(median(values), row.unit)} | ${row.goal?.text ?? '—'} | ${met} |`,
    );
  }
  return lines.join('\n');
}

function renderListing(variants: ListingVariant[], measurements: Measurement[]): string {
  const lines = [
    '| Request | Matches | p50 (ms) | p99 (ms) | Requests per round |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const variant of variants) {
    const p50 = median(valuesOf(measurements, `${variant.key}.p50`));
    const p99 = median(valuesOf(measurements, `${variant.key}.p99`));
    const n = valuesOf(measurements, `${variant.key}.n`);
    const samples =
      n.length === 0
        ? '—'
        : `${Math.min(...n)}${Math.max(...n) !== Math.min(...n) ? `–${Math.max(...n)}` : ''}`;
    lines.push(
      `| ${variant.label} | ${variant.total.toLocaleString('en-US')} | ${formatValue(p50, 'ms')} | ${formatValue(p99, 'ms')} | ${samples} |`,
    );
  }
  return lines.join('\n');
}

function renderRounds(management: ManagementRecord): string {
  const { record, variants, settings, options } = management;
  const list = (key: string, unit: Row['unit']) => {
    const values = valuesOf(record.measurements, key);
    return values.length === 0 ? '—' : values.map((v) => formatValue(v, unit)).join(' / ');
  };
  const lines = ['| Metric | Rounds |', '| --- | --- |'];
  for (const variant of [...variants.listing, ...variants.token]) {
    lines.push(`| ${variant.label}: p50 (ms) | ${list(`${variant.key}.p50`, 'ms')} |`);
    lines.push(`| ${variant.label}: p99 (ms) | ${list(`${variant.key}.p99`, 'ms')} |`);
  }
  for (const row of [...pullRows(options, settings), ...gcRows(settings), ...seedRows(settings)]) {
    lines.push(`| ${row.label} (${row.unit}) | ${list(row.key, row.unit)} |`);
  }
  return lines.join('\n');
}

function describeDataset(settings: ManagementSettings): string {
  const { size } = settings;
  return (
    `- Data set: ${size.repositories.toLocaleString('en-US')} repositories in 100 namespaces, ` +
    `${size.tags.toLocaleString('en-US')} tags (each its own manifest), one repository holding ` +
    `${size.bigRepoTags.toLocaleString('en-US')} of them; ${size.garbageBlobs.toLocaleString('en-US')} ` +
    `unreferenced blobs of ${settings.garbageBytes} bytes for garbage collection ` +
    `(BENCH_MANAGEMENT_SCALE=${settings.scale})`
  );
}

/** Machine, tables, notes, errors and every round (what the run prints and the doc holds). */
export function renderReport(management: ManagementRecord): string {
  const { record, settings, variants, options, notes } = management;
  const errors = record.measurements.filter((m) => m.error !== undefined);
  const parts = [renderMachine(record), describeDataset(settings), ''];
  if (variants.listing.length > 0) {
    parts.push(
      '#### Listing latency, auth none',
      '',
      renderListing(variants.listing, record.measurements),
      '',
    );
  }
  if (variants.token.length > 0) {
    parts.push(
      '#### Listing latency, token mode (the listing filtered by what the caller may read)',
      '',
      renderListing(variants.token, record.measurements),
      '',
    );
  }
  if (settings.phases.includes('pulls')) {
    parts.push('#### Pull tracking', '', renderRows(pullRows(options, settings), record.measurements), '');
  }
  if (settings.phases.includes('gc')) {
    parts.push('#### Garbage collection', '', renderRows(gcRows(settings), record.measurements), '');
  }
  parts.push(
    '#### Seeding (not measured against a target)',
    '',
    renderRows(seedRows(settings), record.measurements),
    '',
  );
  if (notes.length > 0) parts.push('Notes from this run:', '', ...notes.map((n) => `- ${n}`), '');
  if (errors.length > 0) {
    parts.push(
      'Errors (these rounds have no value):',
      '',
      ...errors.map((m) => `- ${m.metric}, round ${m.round + 1}: ${m.error!.replace(/\s*\n\s*/g, ' ')}`),
      '',
    );
  }
  parts.push('<details><summary>All rounds</summary>', '', renderRounds(management), '', '</details>');
  return parts.join('\n');
}

export function reproduceCommand(): string {
  const knobs = Object.entries(process.env)
    .filter(([name, value]) => /^BENCH_/.test(name) && !['BENCH_WRITE', 'BENCH_JSON'].includes(name) && value)
    .map(([name, value]) => `${name}=${value}`);
  return ['BENCH_WRITE=1', ...knobs, 'npm run bench:management'].join(' ');
}

function method(management: ManagementRecord): string[] {
  const { settings, options } = management;
  const { budget } = settings;
  return [
    '- **Server.** Berth as shipped (built `dist/`, copied when the run starts; SQLite, filesystem ' +
      'storage with fsync), log level warn without request log, on loopback. The database and storage ' +
      'live outside the data directory of each start (`BERTH_METADATA_PATH`, ' +
      '`BERTH_STORAGE_FILESYSTEM_ROOT`), so that every phase starts a fresh process on the same data. ' +
      'The first start (which migrates the empty database) takes the leases of the scheduled jobs ' +
      '(garbage collection, retention, upload purge: two intervals, 2 h), so no later server runs them ' +
      'during the measurements.',
    '- **Population, in-process.** Over HTTP, and through the registry services in-process alike, ' +
      '100,000 distinct manifest pushes take about 5 minutes on a busy 2-CPU machine (the cost is the ' +
      "push path's storage and SQLite work, not HTTP), so the data set is written one level down, with " +
      "Berth's own modules from the same build, composed as `berth serve` composes them, no server " +
      'running and storage written without fsync: the shared config and layer uploaded to the first ' +
      'repository and mounted into every other one (`blobs.mount`), then one manifest per tag through ' +
      '`storeManifest` (what a push runs once its checks pass: bytes, record with its catalog details, ' +
      `tag), in a shuffled order, ${options.seedConcurrency} operations in flight; 1 repository in 10 ` +
      'gets 1 to 3 pulls, recorded through the catalog store as the pull tracker records them, so that ' +
      '`sort=pulled` has something to sort.',
    '- **Listing latency.** Paths from `/api/v1/openapi.json`. Each request alone on one keep-alive ' +
      `connection, ${budget.samples} times per round (at least ${budget.minSamples}, fewer than ` +
      `${budget.samples} only when a variant's requests take more than ${budget.maxMs / 1000} s in all); ` +
      'p50 and p99 (nearest rank) per round, median of the rounds. A deep page is reached with the ' +
      "API's own cursor, from a walk of pages of 1,000 before the rounds; every variant's first answer " +
      'is checked (total and rows on the page). Token mode: a reader holding the read role in one ' +
      'namespace of 100 (1% of the repositories) and the administrator, each with a Bearer token of ' +
      'scope `registry:management:*`.',
    `- **Pull tracking.** Each round starts two servers on the same data (which one first alternates), ` +
      'one with `pulls.track: true` (the default) and one with `BERTH_PULLS_TRACK=false`; wrk GETs ' +
      `manifests by tag, each connection going round ${settings.loadRepositories.toLocaleString('en-US')} ` +
      'repositories, so that each batch the tracker writes holds many keys. Both are warmed up (2 s ' +
      `each), then loaded in 2 s slices, alternately (on off off on …), ${options.loadSeconds} s each in ` +
      'all, so that other work on the machine falls on both alike; requests/s is all requests over all ' +
      "slices, p99 the median of the slices', and the share is on/off of the same round. Afterwards the " +
      'pull counts in the database are checked against the GETs wrk saw answered by the tracking servers.',
    `- **Garbage collection.** ${settings.size.garbageBlobs.toLocaleString('en-US')} unique blobs of ` +
      `${settings.garbageBytes} bytes written in-process as a finished upload leaves them (the bytes under ` +
      'their key, then `MetadataStore.linkBlob`, which queues them for review), spread over the ' +
      'repositories and never referenced; servers stopped; then `berth gc --delay 0 --json` as its own ' +
      'process (the same build), its peak RSS read from `/proc/<pid>/status` (VmHWM) every 20 ms. ' +
      'Storage is counted on disk before and after; afterwards a server is started again and a sample ' +
      'of tagged images and of the collected blobs is requested (images must still pull; collected ' +
      'blobs must be 404). One run per benchmark: it is destructive.',
  ];
}

/** The "Management API and garbage collection" section of docs/benchmarks.md, replaced between its markers. */
export async function writeManagementSection(path: string, management: ManagementRecord): Promise<void> {
  const start = '<!-- bench:management:start -->';
  const end = '<!-- bench:management:end -->';
  const { options } = management;
  const section = [
    start,
    '## Management API and garbage collection',
    '',
    '<!-- Written by test/bench/management/run-management.ts with BENCH_WRITE=1; edits are overwritten. -->',
    '',
    '`npm run bench:management` measures the management API of issue 11 ("Benchmark"): repository ' +
      'and tag list latency at 20,000 repositories and 100,000 tags with sort and search, manifest GET ' +
      'requests/s with pull tracking on and off, and garbage collection time and peak memory over ' +
      '100,000 blobs. It needs `wrk`. Knobs: `BENCH_MANAGEMENT_SCALE` (default 1; `BENCH_QUICK=1` ' +
      'makes it 0.1), `BENCH_MANAGEMENT_SAMPLES` (requests per listing variant and round, default 100), ' +
      '`BENCH_MANAGEMENT_PHASES` (`listing,token,pulls,gc`), `BENCH_MANAGEMENT_LOAD_REPOS` (default ' +
      '1000), and `BENCH_ROUNDS`, `BENCH_LOAD_*`, `BENCH_SEED_CONCURRENCY`, `BENCH_DIR`, `BENCH_QUIET_*` ' +
      'as for `npm run bench`.',
    '',
    '```sh',
    reproduceCommand(),
    '```',
    '',
    '### Method',
    '',
    ...method(management),
    '',
    '### Caveats',
    '',
    '- One machine with 2 CPUs: wrk and the server share them, so requests/s are those of this box, ' +
      'and the on/off share is what matters. On it, two server processes of the same build and settings ' +
      'differ by up to ±10% in requests/s even when loaded alternately (measured with tracking on in ' +
      'both and off in both): read the share over the rounds, not one round. Listing latency is ' +
      'measured without concurrent load.',
    '- The data set is built once per run and shared by the rounds (building it is most of the run); ' +
      'the rounds repeat the requests, not the population.',
    '',
    `### Results (median of ${options.rounds} round${options.rounds === 1 ? '' : 's'}; garbage collection: one run)`,
    '',
    renderReport(management),
    end,
  ].join('\n');
  let doc = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from >= 0 && to > from) doc = `${doc.slice(0, from)}${section}${doc.slice(to + end.length)}`;
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  const config = (await prettier.resolveConfig(path)) ?? {};
  await writeFile(path, await prettier.format(doc, { ...config, filepath: path }));
}
