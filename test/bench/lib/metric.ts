// The shape of a benchmark metric: the rows it reports and one measured round against one registry.
import type { RegistryProcess } from '../../support/processes.js';
import type { BenchContext, TargetSetup } from './context.js';
import type { TargetName } from './options.js';

/**
 * What a row must reach for the targets:
 * - `ratio-at-least`: Berth/Distribution ≥ value (throughput rows, higher is better);
 * - `ratio-at-most`: Berth/Distribution ≤ value (time rows, lower is better);
 * - `berth-below`: Berth's own value < value (e.g. peak RSS in bytes).
 */
export type Goal =
  | { kind: 'ratio-at-least'; value: number }
  | { kind: 'ratio-at-most'; value: number }
  | { kind: 'berth-below'; value: number };

export interface RowDef {
  key: string;
  label: string;
  unit: 'MB/s' | 'MB' | 'req/s' | 'µs' | 'ms' | 's' | 'pushes/s' | 'logins/s' | '%';
  better: 'higher' | 'lower';
  goal?: Goal;
}

export type RoundValues = Record<string, number>;

export interface Metric {
  /** A MetricId for `npm run bench`; other benchmark scripts name their own. */
  id: string;
  title: string;
  rows: RowDef[];
  /** Once before all rounds (e.g. start a docker daemon); its resources are released in teardown. */
  setup?(ctx: BenchContext): Promise<void>;
  teardown?(): Promise<void>;
  /** How to configure the registry each round starts (default: as shipped). */
  server?(target: TargetName): TargetSetup;
  /** One round against a fresh, running registry; returns a value per row key. */
  round(ctx: BenchContext, server: RegistryProcess, target: TargetName): Promise<RoundValues>;
  /** Remarks to print under the table (e.g. protocol differences seen during the run). */
  notes?(): string[];
  /** Row keys whose goal cannot be judged from this run (the registries did different work). */
  incomparable?(): string[];
}

export const MB = 1e6;
