// The mirror benchmark's report: rows with the targets, medians, Berth/Distribution ratios,
// every round's values, and the "Pull-through mirror" section of docs/benchmarks.md.
import { readFile, writeFile } from 'node:fs/promises';
import * as prettier from 'prettier';
import type { BenchOptions, TargetName } from '../lib/options.js';
import { median, renderMachine, type BenchRecord, type Measurement } from '../lib/report.js';
import { DOWN_FAULTS, type MirrorSettings } from './scenario.js';

const MiB = 1024 * 1024;

/**
 * What Berth must reach (issue 10, "Benchmark"): `ratio-at-most` compares medians with Distribution's;
 * the `every-round-*` goals hold for each of Berth's rounds; `median-at-most` is on Berth's median.
 */
type Goal =
  | { kind: 'ratio-at-most'; value: number; text: string }
  | { kind: 'every-round-at-most'; value: number; text: string }
  | { kind: 'every-round-at-least'; value: number; text: string }
  | { kind: 'median-at-least'; value: number; text: string }
  | { kind: 'median-at-most'; value: number; text: string };

interface Row {
  key: string;
  label: string;
  unit: 's' | 'ms' | 'MB/s' | '%' | 'GETs/blob' | 'requests' | 'GETs' | 'CPU s';
  better: 'higher' | 'lower';
  goal?: Goal;
}

export function mirrorRows(settings: MirrorSettings): Row[] {
  const layers = `config + ${settings.layers} × ${settings.layerBytes / MiB} MiB layers`;
  const maxClients = Math.max(...settings.concurrency);
  const slowSeconds = settings.slowBlobBytes / settings.slowBytesPerSecond;
  const slow =
    `cold ${settings.slowBlobBytes / MiB} MiB blob, ` +
    `upstream at ${settings.slowBytesPerSecond / MiB} MiB/s`;
  const rows: Row[] = [];
  for (const clients of settings.concurrency) {
    rows.push({
      key: `cold.n${clients}.s`,
      label: `Cold pull, ${clients} concurrent client${clients === 1 ? '' : 's'} (${layers}): wall time`,
      unit: 's',
      better: 'lower',
      goal: { kind: 'ratio-at-most', value: 1, text: '≤ 1.00x (as fast as Distribution)' },
    });
    rows.push({
      key: `cold.n${clients}.gets`,
      label: `Cold pull, ${clients} concurrent client${clients === 1 ? '' : 's'}: upstream GETs per blob`,
      unit: 'GETs/blob',
      better: 'lower',
      goal: { kind: 'every-round-at-most', value: 1, text: '1.0 in every round' },
    });
  }
  rows.push(
    {
      key: 'cold.requests',
      label: `Cold pull, ${maxClients} clients: all upstream requests (ping, HEAD, GET)`,
      unit: 'requests',
      better: 'lower',
    },
    {
      key: 'cold.cpu',
      label: 'Mirror CPU time over all the cold pulls of the round',
      unit: 'CPU s',
      better: 'lower',
    },
    {
      key: 'warm.mbps',
      label: `Warm pull (all cached), ${settings.warmClients} concurrent clients: throughput`,
      unit: 'MB/s',
      better: 'higher',
    },
    {
      key: 'warm.local',
      label: 'Warm pull throughput relative to the same registry serving a local image',
      unit: '%',
      better: 'higher',
      goal: { kind: 'median-at-least', value: 90, text: "≥ 90% (Berth's own blob GET speed)" },
    },
    {
      key: 'warm.requests',
      label: 'Warm pull: upstream requests per pull',
      unit: 'requests',
      better: 'lower',
    },
    {
      key: 'slow.ttfb',
      label: `Time to first byte, ${slow}`,
      unit: 'ms',
      better: 'lower',
      goal: {
        kind: 'median-at-most',
        value: slowSeconds * 100,
        text: `≤ ${(slowSeconds * 100).toFixed(0)} ms (10% of the download)`,
      },
    },
    { key: 'slow.s', label: `Total time, ${slow}`, unit: 's', better: 'lower' },
    { key: 'slow.gets', label: `Upstream GETs of the slow blob`, unit: 'GETs', better: 'lower' },
  );
  const sets = [
    ['down', 'Berth as shipped'],
    ['eager', 'Berth with tagFreshness 0s'],
  ] as const;
  for (const [prefix, who] of sets) {
    for (const { key, label } of DOWN_FAULTS) {
      rows.push(
        {
          key: `${prefix}.${key}.ok`,
          label: `Upstream down (${label}): pulls of a cached tag that succeed, ${who}`,
          unit: '%',
          better: 'higher',
          goal: { kind: 'every-round-at-least', value: 100, text: '100% in every round' },
        },
        {
          key: `${prefix}.${key}.ms`,
          label: `Upstream down (${label}): median pull time, ${who}`,
          unit: 'ms',
          better: 'lower',
        },
      );
    }
  }
  return rows;
}

function valuesOf(measurements: Measurement[], target: TargetName, key: string): number[] {
  return measurements
    .filter((m) => m.target === target && m.values?.[key] !== undefined)
    .sort((a, b) => a.round - b.round)
    .map((m) => m.values![key]!);
}

function formatValue(value: number, unit: Row['unit']): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === '%' || unit === 'requests' || unit === 'GETs')
    return Number.isInteger(value) ? `${value}` : value.toFixed(1);
  if (unit === 'GETs/blob') return value.toFixed(2);
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function isMet(goal: Goal, berth: number[], ratio: number): boolean | undefined {
  if (berth.length === 0) return undefined;
  switch (goal.kind) {
    case 'ratio-at-most':
      return Number.isFinite(ratio) ? ratio <= goal.value : undefined;
    case 'every-round-at-most':
      return Math.max(...berth) <= goal.value;
    case 'every-round-at-least':
      return Math.min(...berth) >= goal.value;
    case 'median-at-least':
      return median(berth) >= goal.value;
    case 'median-at-most':
      return median(berth) <= goal.value;
  }
}

function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '—';
  return `${ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}x`;
}

export function renderTable(rows: Row[], measurements: Measurement[]): string {
  const lines = [
    '| Metric | Unit | Better | Berth | Distribution | Berth/Distribution | Target | Met |',
    '| --- | --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const row of rows) {
    const berth = valuesOf(measurements, 'berth', row.key);
    const dist = valuesOf(measurements, 'distribution', row.key);
    const ratio = median(berth) / median(dist);
    const met = row.goal ? isMet(row.goal, berth, ratio) : undefined;
    const cells = [
      row.label,
      row.unit,
      row.better,
      formatValue(median(berth), row.unit),
      formatValue(median(dist), row.unit),
      formatRatio(ratio),
      row.goal?.text ?? '—',
      row.goal ? (met === undefined ? 'n/a' : met ? 'yes' : '**NO**') : '',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function renderRounds(rows: Row[], measurements: Measurement[]): string {
  const lines = ['| Metric | Berth rounds | Distribution rounds |', '| --- | --- | --- |'];
  for (const row of rows) {
    const list = (target: TargetName): string => {
      const values = valuesOf(measurements, target, row.key);
      return values.length === 0 ? '—' : values.map((v) => formatValue(v, row.unit)).join(' / ');
    };
    lines.push(`| ${row.label} (${row.unit}) | ${list('berth')} | ${list('distribution')} |`);
  }
  return lines.join('\n');
}

export interface MirrorRecord {
  options: BenchOptions;
  settings: MirrorSettings;
  record: BenchRecord;
  notes: string[];
}

/** Machine, table, notes, errors and every round (what the run prints and the doc holds). */
export function renderReport({ settings, record, notes }: MirrorRecord): string {
  const rows = mirrorRows(settings);
  const errors = record.measurements.filter((m) => m.error !== undefined);
  return [
    renderMachine(record),
    '',
    renderTable(rows, record.measurements),
    '',
    ...(notes.length > 0 ? ['Notes from this run:', '', ...notes.map((n) => `- ${n}`), ''] : []),
    ...(errors.length > 0
      ? [
          'Errors (these rounds have no value):',
          '',
          ...errors.map((m) => `- ${m.target}, round ${m.round + 1}: ${m.error!.replace(/\s*\n\s*/g, ' ')}`),
          '',
        ]
      : []),
    '<details><summary>All rounds</summary>',
    '',
    renderRounds(rows, record.measurements),
    '',
    '</details>',
  ].join('\n');
}

export function reproduceCommand(): string {
  const knobs = Object.entries(process.env)
    .filter(([name, value]) => /^BENCH_/.test(name) && name !== 'BENCH_WRITE' && value)
    .map(([name, value]) => `${name}=${value}`);
  return ['BENCH_WRITE=1', ...knobs, 'npm run bench:mirror'].join(' ');
}

function method(settings: MirrorSettings): string[] {
  const layers = `a config and ${settings.layers} random layers of ${settings.layerBytes / MiB} MiB`;
  return [
    '- **Setup.** One plain CNCF Distribution 2.8.2 is the upstream; it holds one image per concurrency ' +
      `level (${layers}, blobs unique to each image) and one image with a ` +
      `${settings.slowBlobBytes / MiB} MiB layer. Both mirrors reach it through the same small proxy in ` +
      'the benchmark process (`test/support/fault-proxy.ts`), which logs every request that reaches the ' +
      'upstream and can slow it down or take it down.',
    '- **Mirrors.** Berth as shipped: `node dist/src/main.js serve --mirror <proxy URL>` (built ' +
      '`dist/`, copied when the run starts; filesystem storage with fsync, SQLite), log level warn ' +
      'without request log. ' +
      'Distribution: `proxy: { remoteurl: <proxy URL> }`, filesystem storage, ' +
      '`blobdescriptor: inmemory`, log level warn without access log. Each round starts each mirror ' +
      'afresh on an empty data directory, so every first pull is cold; rounds alternate which mirror ' +
      'goes first and wait for a quiet CPU first. Each mirror serves one small warm-up pull before the ' +
      'measurements.',
    '- **Client.** A docker-like client in node (`test/bench/mirror/pull-client.ts`): `GET /v2/`, the ' +
      'manifest by tag with the usual Accept types, then all blobs at once, each client on connections of ' +
      'its own. Every manifest and blob is hashed and checked against its digest and size; a wrong or ' +
      'short body fails the round.',
    `- **Cold pulls.** N clients (N = ${settings.concurrency.join(', ')}) pull one not yet cached image ` +
      'at the same moment; wall time from the first request to the last checked byte. "Upstream GETs ' +
      'per blob" counts the blob GETs of that image the upstream saw (waiting until it has seen nothing ' +
      `new for 0.5 s, so background fetches count) divided by its ${settings.layers + 1} blobs.`,
    `- **Warm pulls.** ${settings.warmClients} clients pull an image that is cached, ` +
      `${settings.warmRepeats} times (median), interleaved with as many pulls of the reference; MB/s ` +
      'is 10^6 bytes of manifests and blobs per second. ' +
      'The reference is the same registry serving the same bytes as a local image: for Berth, a copy ' +
      'pushed to a local (non-mirrored) repository of the same process; for Distribution, whose proxy ' +
      'refuses pushes, the plain upstream Distribution pulled directly.',
    `- **Slow upstream.** The proxy sends blob bodies at ${settings.slowBytesPerSecond / MiB} MiB/s ` +
      '(each response on its own); one client GETs the manifest, then the ' +
      `${settings.slowBlobBytes / MiB} MiB layer: time to its first body byte and to its checked end.`,
    `- **Upstream down.** ${settings.downPulls} sequential pulls of a tag cached earlier in the round ` +
      '(the small warm-up image, so that the time is that of asking the upstream and falling back, not ' +
      'of moving bytes), while the proxy resets every connection, then while it answers 503 to ' +
      'everything. Success is a complete, checked pull. Berth as shipped (`berth serve --mirror`) ' +
      'checks a tag upstream at most every 5 minutes (`tagFreshness`, default `5m`), so within a ' +
      'round it does not ask the upstream at all; the rows for Berth with `tagFreshness: 0s` (the ' +
      'same upstream in a config file) exercise its serve-stale path and circuit breaker, with a fresh ' +
      'instance per fault, primed by one pull. ' +
      'Distribution asks the upstream about a tag on every pull; its figures fill both sets of rows.',
  ];
}

/** The "Pull-through mirror" section of docs/benchmarks.md, replaced between its markers. */
export async function writeMirrorSection(path: string, mirror: MirrorRecord): Promise<void> {
  const start = '<!-- bench:mirror:start -->';
  const end = '<!-- bench:mirror:end -->';
  const { options } = mirror;
  const section = [
    start,
    '## Pull-through mirror',
    '',
    '<!-- Written by test/bench/mirror/run-mirror.ts with BENCH_WRITE=1; edits are overwritten. -->',
    '',
    '`npm run bench:mirror` compares Berth as a pull-through mirror with CNCF Distribution 2.8.2 in ' +
      'proxy mode, both in front of the same upstream (issue 10, "Benchmark"). It needs ' +
      '`docker-registry`; a run of 3 rounds takes about 2 minutes on a quiet machine, up to 5 when ' +
      'other work keeps the CPUs busy (each round first waits up to 20 s for them to calm down). ' +
      'Knobs: `BENCH_ROUNDS`, `BENCH_TARGETS`, `BENCH_DIR`, `BENCH_QUIET_*` as for `npm run bench`, and ' +
      '`BENCH_MIRROR_LAYER_MIB`, ' +
      '`BENCH_MIRROR_SLOW_MIB`, `BENCH_MIRROR_RATE_MIB`, `BENCH_MIRROR_DOWN_PULLS`.',
    '',
    '```sh',
    reproduceCommand(),
    '```',
    '',
    '### Method',
    '',
    ...method(mirror.settings),
    '',
    '### Caveats',
    '',
    '- Everything runs on one machine with 2 cores over loopback: the clients (which hash every byte), ' +
      'the proxy, the upstream and the mirror share the CPUs, so the upstream is as fast as the mirror ' +
      "and a mirror's extra upstream fetches cost it little wall time here; over a real network to a " +
      'remote registry they cost bandwidth, rate limit and time. Absolute times are small and noisy; ' +
      'look at the rounds.',
    '',
    `### Results (median of ${options.rounds} round${options.rounds === 1 ? '' : 's'})`,
    '',
    renderReport(mirror),
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
