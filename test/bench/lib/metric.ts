// The shape of a benchmark metric: the rows it reports and one measured round against one registry.
import type { BenchContext, BenchServer, TargetSetup } from './context.js';
import type { TargetName } from './options.js';

/**
 * What a row must reach for the targets, judged on one Berth target's medians:
 * - `ratio-at-least`: Berth/Distribution ≥ value (throughput rows, higher is better);
 * - `ratio-at-most`: Berth/Distribution ≤ value (time rows, lower is better);
 * - `berth-below`: Berth's own value < value in every round (e.g. peak RSS in bytes);
 * - `better-than`: Berth's median better (per the row's `better`) than that of `target`.
 */
export type Goal =
  | { kind: 'ratio-at-least'; value: number }
  | { kind: 'ratio-at-most'; value: number }
  | { kind: 'berth-below'; value: number }
  | { kind: 'better-than'; target: TargetName };

/** The Berth targets besides `berth` itself, each reported in columns of its own. */
export type OtherBerthTarget = Exclude<TargetName, 'berth' | 'distribution'>;

export interface RowDef {
  key: string;
  label: string;
  unit: 'MB/s' | 'MB' | 'req/s' | 'µs' | 'ms' | 's' | 'pushes/s' | 'logins/s' | '%';
  better: 'higher' | 'lower';
  /** The target for `berth` (Berth as shipped). */
  goal?: Goal;
  /** The targets for the other Berth targets (all must be met). */
  goals?: Partial<Record<OtherBerthTarget, Goal[]>>;
}

export type RoundValues = Record<string, number>;

export interface Metric {
  /** A MetricId for `npm run bench`; other benchmark scripts name their own. */
  id: string;
  title: string;
  rows: RowDef[];
  /** The targets this metric runs against (default: berth and distribution); others are not measured. */
  targets?: readonly TargetName[];
  /** Once before all rounds (e.g. start a docker daemon); its resources are released in teardown. */
  setup?(ctx: BenchContext): Promise<void>;
  teardown?(): Promise<void>;
  /** How to configure the registry each round starts (default: as shipped). */
  server?(target: TargetName): TargetSetup;
  /** One round against a fresh, running registry; returns a value per row key. */
  round(ctx: BenchContext, server: BenchServer, target: TargetName): Promise<RoundValues>;
  /** Remarks to print under the table (e.g. protocol differences seen during the run). */
  notes?(): string[];
  /** Row keys whose goal cannot be judged from this run (the registries did different work). */
  incomparable?(): string[];
}

export const MB = 1e6;

const DEFAULT_TARGETS: readonly TargetName[] = ['berth', 'distribution'];

export function metricTargets(metric: Metric): readonly TargetName[] {
  return metric.targets ?? DEFAULT_TARGETS;
}
