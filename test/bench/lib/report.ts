// The results: medians per target, Berth/Distribution ratios against the goals, a markdown
// table, and the section of docs/benchmarks.md that BENCH_WRITE=1 replaces.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import * as prettier from 'prettier';
import { run } from '../../support/tools.js';
import {
  metricTargets,
  type Goal,
  type Metric,
  type OtherBerthTarget,
  type RoundValues,
  type RowDef,
} from './metric.js';
import { log } from './rounds.js';
import { metricIds, targetLabels, targetNames, type BenchOptions, type TargetName } from './options.js';

export interface Measurement {
  /** Metric['id']. */
  metric: string;
  target: TargetName;
  round: number;
  values?: RoundValues;
  error?: string;
  /** Fraction of CPU busy (all processes) in the second before the round started. */
  busyBefore?: number;
}

export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  kernel: string;
  memoryGiB: number;
  node: string;
  distribution: string;
  commit: string;
  loadBefore: string;
  loadAfter?: string;
  /** PostgreSQL's version and setup, when a PostgreSQL target ran. */
  postgres?: string;
  /** nginx's version, when a target behind nginx ran. */
  nginx?: string;
}

export interface BenchRecord {
  options: BenchOptions;
  machine: MachineInfo;
  metrics: Metric[];
  measurements: Measurement[];
  seconds?: number;
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const distribution = await run('docker-registry', ['--version'], { timeoutMs: 10_000 }).then(
    (r) => r.stdout.trim().split(' ').pop() ?? 'unknown',
    () => 'not installed',
  );
  const commit = await run('git', ['rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 }).then(
    (r) => (r.code === 0 ? r.stdout.trim() : 'no commit'),
    () => 'unknown',
  );
  const dirty = await run('git', ['status', '--porcelain', '--', 'src', 'storage-drivers'], {
    timeoutMs: 10_000,
  }).then(
    (r) => r.code === 0 && r.stdout.trim() !== '',
    () => false,
  );
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpu,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    distribution,
    commit: dirty ? `${commit} + uncommitted changes` : commit,
    loadBefore: formatLoad(),
  };
}

export function formatLoad(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function formatValue(value: number, unit: RowDef['unit']): string {
  if (!Number.isFinite(value)) return '—';
  switch (unit) {
    case 'MB/s':
    case 'MB':
    case 'req/s':
      return value >= 100 ? value.toFixed(0) : value.toFixed(1);
    case 'µs':
    case 'ms':
      return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
    case 's':
      return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
    case 'pushes/s':
    case 'logins/s':
    case '%':
      return value.toFixed(1);
  }
}

function goalText(goal: Goal, row: RowDef, target: TargetName): string {
  switch (goal.kind) {
    case 'ratio-at-least':
      return `≥ ${goal.value}x`;
    case 'ratio-at-most':
      return `≤ ${goal.value}x (time)`;
    case 'berth-below':
      return `${targetLabels[target]} < ${goal.value} ${row.unit}`;
    case 'better-than':
      return `${row.better === 'higher' ? '>' : '<'} ${targetLabels[goal.target]}`;
  }
}

type Met = boolean | 'incomparable' | undefined;

/** One target's results in one row. */
interface TargetResult {
  /** False when the row's metric does not run against the target. */
  supported: boolean;
  values: number[];
  median: number;
  /** median / Distribution's median. */
  ratio: number;
  goals: Goal[];
  met: Met;
}

interface RowResult {
  row: RowDef;
  targets: Record<TargetName, TargetResult>;
}

/** The Berth targets other than `berth` that get columns: selected, and run by at least one metric. */
function otherBerthTargets(record: BenchRecord): OtherBerthTarget[] {
  return record.options.targets.filter(
    (target): target is OtherBerthTarget =>
      target !== 'berth' &&
      target !== 'distribution' &&
      record.metrics.some((metric) => metricTargets(metric).includes(target)),
  );
}

function goalsOf(row: RowDef, target: TargetName): Goal[] {
  if (target === 'distribution') return [];
  if (target === 'berth') return row.goal ? [row.goal] : [];
  return row.goals?.[target] ?? [];
}

function isMet(goal: Goal, row: RowDef, own: TargetResult, byTarget: Record<TargetName, TargetResult>): Met {
  switch (goal.kind) {
    case 'berth-below':
      return Number.isFinite(own.median) ? Math.max(...own.values) < goal.value : undefined;
    case 'ratio-at-least':
      return Number.isFinite(own.ratio) ? own.ratio >= goal.value : undefined;
    case 'ratio-at-most':
      return Number.isFinite(own.ratio) ? own.ratio <= goal.value : undefined;
    case 'better-than': {
      const other = byTarget[goal.target].median;
      if (!Number.isFinite(own.median) || !Number.isFinite(other)) return undefined;
      return row.better === 'higher' ? own.median > other : own.median < other;
    }
  }
}

function rowResults(record: BenchRecord): RowResult[] {
  const results: RowResult[] = [];
  for (const metric of record.metrics) {
    const supported = metricTargets(metric);
    for (const row of metric.rows) {
      const values = (target: TargetName): number[] =>
        record.measurements
          .filter((m) => m.metric === metric.id && m.target === target && m.values)
          .sort((a, b) => a.round - b.round)
          .map((m) => m.values?.[row.key])
          .filter((v): v is number => v !== undefined);
      const distributionMedian = median(values('distribution'));
      const targets = Object.fromEntries(
        targetNames.map((target): [TargetName, TargetResult] => {
          const own = values(target);
          const ownMedian = median(own);
          return [
            target,
            {
              supported: supported.includes(target),
              values: own,
              median: ownMedian,
              ratio: ownMedian / distributionMedian,
              goals: goalsOf(row, target),
              met: undefined,
            },
          ];
        }),
      ) as Record<TargetName, TargetResult>;
      const incomparable = metric.incomparable?.().includes(row.key) ?? false;
      for (const result of Object.values(targets)) {
        if (result.goals.length === 0) continue;
        const each = result.goals.map((goal) => isMet(goal, row, result, targets));
        result.met = incomparable
          ? 'incomparable'
          : each.includes(false)
            ? false
            : each.includes(undefined)
              ? undefined
              : true;
      }
      results.push({ row, targets });
    }
  }
  return results;
}

function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}x` : '—';
}

function formatMet(result: TargetResult): string {
  if (result.met === undefined) return result.goals.length > 0 ? 'n/a' : '';
  if (result.met === 'incomparable') return 'not comparable (see notes)';
  return result.met ? 'yes' : '**NO**';
}

/**
 * The main table: medians, ratio (Berth/Distribution) and whether the target is met; then, for
 * each other Berth target measured (e.g. on PostgreSQL), its median, its ratio to Distribution, its
 * targets and whether they are met.
 */
export function renderTable(record: BenchRecord): string {
  const others = otherBerthTargets(record);
  const header = ['Metric', 'Unit', 'Better', 'Berth', 'Distribution', 'Berth/Distribution', 'Target', 'Met'];
  const align = ['---', '---', '---', '---:', '---:', '---:', '---', '---'];
  for (const target of others) {
    const label = targetLabels[target];
    header.push(label, `${label}/Distribution`, `${label} target`, `${label} met`);
    align.push('---:', '---:', '---', '---');
  }
  const lines = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const { row, targets } of rowResults(record)) {
    const berth = targets.berth;
    const goalsText = (target: TargetName): string =>
      targets[target].goals.map((goal) => goalText(goal, row, target)).join(', ') || '—';
    const cells = [
      row.label,
      row.unit,
      row.better,
      formatValue(berth.median, row.unit),
      formatValue(targets.distribution.median, row.unit),
      formatRatio(berth.ratio),
      goalsText('berth'),
      formatMet(berth),
    ];
    for (const target of others) {
      const result = targets[target];
      cells.push(
        ...(result.supported
          ? [
              formatValue(result.median, row.unit),
              formatRatio(result.ratio),
              goalsText(target),
              formatMet(result),
            ]
          : ['not measured', '—', goalsText(target), '']),
      );
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Every round's value, in round order, so the spread behind each median is visible. */
export function renderRounds(record: BenchRecord): string {
  const others = otherBerthTargets(record);
  const header = [
    'Metric',
    'Berth rounds',
    'Distribution rounds',
    ...others.map((t) => `${targetLabels[t]} rounds`),
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const { row, targets } of rowResults(record)) {
    const list = (result: TargetResult): string =>
      result.values.length === 0 ? '—' : result.values.map((v) => formatValue(v, row.unit)).join(' / ');
    const cells = [`${row.label} (${row.unit})`, list(targets.berth), list(targets.distribution)];
    for (const target of others) {
      cells.push(targets[target].supported ? list(targets[target]) : 'not measured');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderErrors(record: BenchRecord): string[] {
  return record.measurements
    .filter((m) => m.error !== undefined)
    .map((m) => `${m.metric}, ${m.target}, round ${m.round + 1}: ${m.error}`);
}

export function renderMachine(record: BenchRecord): string {
  const m = record.machine;
  const o = record.options;
  const busy = record.measurements.flatMap((x) => (x.busyBefore === undefined ? [] : [x.busyBefore * 100]));
  const quiet =
    busy.length === 0
      ? []
      : [
          `- CPU busy (all processes) in the second before each round: median ${median(busy).toFixed(0)}%, ` +
            `max ${Math.max(...busy).toFixed(0)}% (threshold ${(o.quietBusy * 100).toFixed(0)}%, ` +
            `waited up to ${o.quietMaxWait} s)`,
        ];
  return [
    `- Date: ${m.date}; Berth commit: ${m.commit}; scale: ${o.scale}; rounds: ${o.rounds}` +
      (record.seconds === undefined ? '' : `; wall time: ${Math.round(record.seconds)} s`),
    `- Machine: ${m.nproc} CPUs (nproc), ${m.cpu}, Linux ${m.kernel}, ${m.memoryGiB} GiB RAM; Node ${m.node}; ` +
      `CNCF Distribution ${m.distribution}` +
      (m.postgres === undefined ? '' : `; PostgreSQL ${m.postgres}`) +
      (m.nginx === undefined ? '' : `; nginx ${m.nginx}`),
    `- Load average (1/5/15 min) before: ${m.loadBefore}; after: ${m.loadAfter ?? '?'}`,
    ...quiet,
  ].join('\n');
}

export function renderReport(record: BenchRecord): string {
  const parts = [renderMachine(record), '', renderTable(record), ''];
  const skipped = Object.entries(record.options.skippedTargets).map(
    ([target, reason]) => `${targetLabels[target as TargetName]} (\`${target}\`): not measured, ${reason}.`,
  );
  const notes = [...skipped, ...record.metrics.flatMap((metric) => metric.notes?.() ?? [])];
  if (notes.length > 0) parts.push('Notes from this run:', '', ...notes.map((n) => `- ${n}`), '');
  const errors = renderErrors(record);
  if (errors.length > 0)
    parts.push('Errors (these rounds have no value):', '', ...errors.map((e) => `- ${e}`), '');
  parts.push('<details><summary>All rounds</summary>', '', renderRounds(record), '', '</details>');
  return parts.join('\n');
}

/**
 * Replaces the results section for this scale in docs/benchmarks.md (between
 * `<!-- bench:<scale>:start -->` and `<!-- bench:<scale>:end -->`), or appends one.
 */
export async function writeDoc(path: string, record: BenchRecord): Promise<void> {
  const scale = record.options.scale;
  const start = `<!-- bench:${scale}:start -->`;
  const end = `<!-- bench:${scale}:end -->`;
  const title = {
    quick: 'Quick run (BENCH_QUICK=1)',
    default: 'Full run',
    large: 'Large scale (BENCH_SCALE=large)',
  }[scale];
  const only =
    record.options.only.length === metricIds.length && !record.options.targetsSelected
      ? ''
      : `\nSelection: BENCH_ONLY=${record.options.only.join(',')} BENCH_TARGETS=${record.options.targets.join(',')}\n`;
  const section = `${start}\n## ${title}\n${only}\n${renderReport(record)}\n${end}`;
  let doc = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from >= 0 && to > from) doc = `${doc.slice(0, from)}${section}${doc.slice(to + end.length)}`;
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  // The file is checked by `prettier --check .` with the rest of the repository.
  const options = (await prettier.resolveConfig(path)) ?? {};
  await writeFile(path, await prettier.format(doc, { ...options, filepath: path }));
}

/**
 * Ends a run that began at `started` (performance.now()): prints the report, writes the raw JSON
 * (BENCH_JSON) and the doc section (BENCH_WRITE=1, into `docPath`), and returns the exit code: 1 when
 * any round failed.
 */
export async function publishRecord(record: BenchRecord, started: number, docPath: string): Promise<number> {
  const { options } = record;
  record.machine.loadAfter = formatLoad();
  record.seconds = (performance.now() - started) / 1000;
  console.log(`\n${renderReport(record)}\n`);
  if (options.jsonPath) {
    await writeFile(options.jsonPath, `${JSON.stringify({ ...record, metrics: undefined }, null, 2)}\n`);
    log(`raw results written to ${options.jsonPath}`);
  }
  if (options.write) {
    await writeDoc(docPath, record);
    log(`results written to ${docPath}`);
  }
  return record.measurements.some((m) => m.error !== undefined) ? 1 : 0;
}
