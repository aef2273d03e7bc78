// Garbage collection under /api/v1: the run history (src/gc/runs.ts records every run, whatever
// started it), newest first, one run, and a run started now. Global administrators only (in auth
// modes without accounts: whoever the registry admits), as the other operations routes.
// - A run started here is the one `berth gc` makes with the configuration's settings (gc.delay,
//   gc.orphans, gc.orphanGrace, uploads.maxAge). It answers 202 with the run's record once the run
//   holds the `gc-run` lease, and goes on in the background: poll GET /gc/runs/{id}. While another
//   run holds the lease (scheduled, `berth gc`, another replica's), 409 CONFLICT. Refused in
//   server.readOnly, like every write (routes.ts).
// - Paging is by cursor: `next` of one answer is the `cursor` of the next request (the id of
//   the last run listed: runs are numbered in the order they started).
// - A run whose process died stays `running` until the next run closes it as `failed` with the
//   error "did not finish…" and no finish time (runs.ts); a client may show a run running for long
//   as possibly abandoned, but nothing here guesses.
import { z } from 'zod';
import { AccountError } from '../../auth/errors.js';
import { GcBusyError, type GcRunOptions } from '../../gc/collector.js';
import { GC_RUNS_KEPT, type GcRun, type GcStore } from '../../gc/gc-store.js';
import type { GcRuns } from '../../gc/runs.js';
import { OciErrors } from '../openapi.js';
import { API_PREFIX, defineRoute, type RouteSpec } from '../route-spec.js';

const GROUP = 'Operations';
const MAX_LIMIT = 100;
const DEFAULT_LIMIT = 20;

/** 404 NOT_FOUND: no run with this id (never recorded, or older than the history keeps). */
export class GcRunNotFoundError extends AccountError {
  constructor(id: number) {
    super('NOT_FOUND', `no garbage collection run ${id} (the history keeps the newest ${GC_RUNS_KEPT})`, {
      id,
    });
  }
}

/** 409 CONFLICT: another run holds the `gc-run` lease. */
export class GcRunInProgressError extends AccountError {
  constructor() {
    super(
      'CONFLICT',
      'another garbage collection run is in progress (scheduled, berth gc, or another replica): ' +
        'try again once it has finished',
    );
  }
}

const isoTime = z.string().describe('ISO 8601 time');
const count = z.number().int();
const GcRunCountsView = z.object({
  manifestsDeleted: count.describe('untagged manifests deleted'),
  linksRemoved: count.describe('repository links to blobs that no manifest of the repository references'),
  blobsDeleted: count.describe('storage objects of blobs and manifests deleted with their records'),
  bytesFreed: count.describe('bytes of those objects'),
  orphansDeleted: count.describe('storage objects that no record knew, deleted after gc.orphanGrace'),
  orphanBytes: count,
  orphansLeft: count.describe('unknown objects left alone: most of storage was unknown to the database'),
  uploadsPurged: count.describe('abandoned upload sessions deleted'),
  uploadLeftovers: count.describe('storage left behind by ended upload sessions, deleted'),
  held: count.describe('candidates skipped because a push held them: the next run reviews them'),
});
const GcRunView = z.object({
  id: z.number().int(),
  trigger: z.enum(['scheduled', 'cli', 'api']).describe('gc.interval, `berth gc`, or this API'),
  dryRun: z.boolean().describe('true: deleted nothing; the counts are what a run would have done'),
  status: z
    .enum(['running', 'succeeded', 'failed'])
    .describe('running: no outcome recorded yet (a run whose process died stays so until the next run)'),
  host: z.string().describe('the host whose process ran it'),
  delayMs: z.number().int().describe('the review delay it used (gc.delay)'),
  startedAt: isoTime,
  finishedAt: isoTime.nullable().describe('null while running, and for a run that did not finish'),
  durationMs: z.number().int().nullable(),
  error: z.string().nullable().describe('why it failed'),
  counts: GcRunCountsView.nullable().describe('what it did (a dry run: would do); null unless it succeeded'),
});
const GcRunList = z.object({
  runs: z.array(GcRunView).describe('newest first'),
  next: z.string().nullable().describe('the cursor of the next page; null on the last one'),
});
const RunListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, '`next` of a previous page')
    .transform(Number)
    .optional()
    .describe('`next` of the previous page'),
});
const RunParams = z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });
const RunRequest = z.strictObject({
  dryRun: z.boolean().describe('true: report what a run would delete, delete nothing'),
});

const iso = (ms: number) => new Date(ms).toISOString();

function runView(run: GcRun): z.infer<typeof GcRunView> {
  return {
    id: run.id,
    trigger: run.trigger,
    dryRun: run.dryRun,
    status: run.status,
    host: run.host,
    delayMs: run.delayMs,
    startedAt: iso(run.startedAt),
    finishedAt: run.finishedAt === null ? null : iso(run.finishedAt),
    durationMs: run.finishedAt === null ? null : Math.max(0, run.finishedAt - run.startedAt),
    error: run.error,
    counts: run.counts,
  };
}

export interface GcRoutesDeps {
  store: Pick<GcStore, 'listGcRuns' | 'getGcRun'>;
  runs: Pick<GcRuns, 'start'>;
  /** A run as the configuration says (gc.delay, …; compose.ts gcRunOptions); the request sets dryRun. */
  options: GcRunOptions;
}

export function gcRoutes({ store, runs, options }: GcRoutesDeps): RouteSpec[] {
  const path = `${API_PREFIX}/gc/runs`;
  return [
    defineRoute({
      method: 'GET',
      path: `${path}/:id`,
      summary: 'One garbage collection run',
      group: GROUP,
      access: { account: 'admin' },
      params: RunParams,
      responses: {
        200: { description: 'the run', body: GcRunView },
        404: { description: 'no such run', body: OciErrors },
      },
      async handler(ctx, input) {
        const run = await store.getGcRun(input.params.id);
        if (!run) throw new GcRunNotFoundError(input.params.id);
        ctx.body = runView(run);
      },
    }),
    defineRoute({
      method: 'GET',
      path,
      summary: 'Garbage collection runs, newest first (scheduled, `berth gc` and this API alike)',
      group: GROUP,
      access: { account: 'admin' },
      query: RunListQuery,
      responses: { 200: { description: 'a page of runs', body: GcRunList } },
      async handler(ctx, input) {
        const found = await store.listGcRuns(input.query.limit + 1, input.query.cursor);
        const page = found.slice(0, input.query.limit);
        const last = page.at(-1);
        ctx.body = {
          runs: page.map(runView),
          next: found.length > page.length && last ? String(last.id) : null,
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path,
      summary: 'Start a garbage collection run now, with the configured delay (goes on in the background)',
      group: GROUP,
      access: { account: 'admin' },
      body: RunRequest,
      responses: {
        202: { description: 'started: the run, running (poll GET /gc/runs/{id})', body: GcRunView },
        409: { description: 'another run is in progress', body: OciErrors },
      },
      async handler(ctx, input) {
        let run: GcRun;
        try {
          run = await runs.start('api', { ...options, dryRun: input.body.dryRun });
        } catch (err) {
          if (err instanceof GcBusyError) throw new GcRunInProgressError();
          throw err;
        }
        ctx.status = 202;
        ctx.body = runView(run);
      },
    }),
  ];
}
