// The gc_runs table (migrations/011-gc-runs.ts, postgres/migrations/010-gc-runs.ts) as both GcStores
// read and write it: its columns, and a row as a GcRun. Numbers may arrive as strings (PostgreSQL's
// BIGINT) and flags as 0/1 (SQLite).
import type { GcRun, GcRunCounts, GcRunOutcome, GcRunStatus, GcTrigger } from '../gc/gc-store.js';

/** The column of each counter of a run's report. */
const COUNT_COLUMNS = {
  manifestsDeleted: 'manifests_deleted',
  linksRemoved: 'links_removed',
  blobsDeleted: 'blobs_deleted',
  bytesFreed: 'bytes_freed',
  orphansDeleted: 'orphans_deleted',
  orphanBytes: 'orphan_bytes',
  orphansLeft: 'orphans_left',
  uploadsPurged: 'uploads_purged',
  uploadLeftovers: 'upload_leftovers',
  held: 'held',
} as const satisfies Record<keyof GcRunCounts, string>;

const COUNTS = Object.entries(COUNT_COLUMNS) as Array<[keyof GcRunCounts, string]>;

/** Every column, in the order gcRunOfRow reads them. */
export const GC_RUN_COLUMNS = [
  'id',
  'trigger',
  'dry_run',
  'delay_ms',
  'host',
  'started_at',
  'finished_at',
  'status',
  'error',
  ...COUNTS.map(([, column]) => column),
].join(', ');

/** The counter columns, in the order of gcRunCountValues. */
export const GC_RUN_COUNT_COLUMNS: readonly string[] = COUNTS.map(([, column]) => column);

type Numeric = number | string;

const toNumber = (value: Numeric): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`gc run value ${value} is not a safe integer`);
  return n;
};

export function gcRunOfRow(row: Record<string, unknown>): GcRun {
  const status = row.status as GcRunStatus;
  const finishedAt = row.finished_at as Numeric | null;
  return {
    id: toNumber(row.id as Numeric),
    trigger: row.trigger as GcTrigger,
    dryRun: row.dry_run === true || row.dry_run === 1,
    delayMs: toNumber(row.delay_ms as Numeric),
    host: row.host as string,
    startedAt: toNumber(row.started_at as Numeric),
    finishedAt: finishedAt === null ? null : toNumber(finishedAt),
    status,
    error: (row.error as string | null) ?? null,
    counts:
      status === 'succeeded'
        ? (Object.fromEntries(
            COUNTS.map(([key, column]) => [key, toNumber((row[column] ?? 0) as Numeric)]),
          ) as GcRunCounts)
        : null,
  };
}

/** The counter values of an outcome, in the order of GC_RUN_COUNT_COLUMNS (nulls for a failure). */
export function gcRunCountValues(outcome: GcRunOutcome): Array<number | null> {
  return COUNTS.map(([key]) => (outcome.status === 'succeeded' ? outcome.counts[key] : null));
}
