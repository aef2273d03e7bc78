// Storage: every namespace's usage against its quota, and garbage collection when this Berth's API
// offers it: its runs, newest first (scheduled, `berth gc` and those started here), what each freed,
// and buttons to start a dry run or, after a confirmation, a real one. A run shown as running for more
// than STALE_RUNNING_MS is marked "running?": its process may have died (the server closes such a run
// as failed only when the next run starts, so the page says what it does not know).
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../../app-context.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { Empty, ErrorNote, Loading } from '../../components/states.js';
import { Time } from '../../components/time.js';
import { useAsync, useTitle } from '../../hooks.js';
import { formatBytes, formatCount, percent, plural } from '../../lib/format.js';
import { describeError } from '../../lib/http.js';
import { routes } from '../../lib/routes.js';
import { toMillis } from '../../lib/time.js';
import type { GcRun } from '../../lib/types.js';

export function StoragePage() {
  useTitle('Storage');
  const { api } = useApp();
  const quotas = useAsync(() => api.quotas(), []);
  const total = quotas.data?.namespaces.reduce((sum, q) => sum + q.usedBytes, 0) ?? 0;
  return (
    <section>
      <div class="section-head">
        <h2>Usage by namespace</h2>
        {quotas.data && (
          <span class="muted">
            {formatBytes(total)} in all (layers shared across namespaces count in each)
          </span>
        )}
      </div>
      {quotas.loading && !quotas.data && <Loading />}
      {quotas.error !== undefined && <ErrorNote error={quotas.error} onRetry={quotas.reload} />}
      {quotas.data && quotas.data.namespaces.length === 0 && <Empty title="Nothing stored yet." />}
      {quotas.data && quotas.data.namespaces.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Namespace</th>
                <th scope="col" class="num">
                  Used
                </th>
                <th scope="col" class="num">
                  Quota
                </th>
                <th scope="col" class="bar-cell">
                  <span class="visually-hidden">Share of quota</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {[...quotas.data.namespaces]
                .sort((a, b) => b.usedBytes - a.usedBytes)
                .map((quota) => (
                  <tr key={quota.namespace}>
                    <td class="name-cell">
                      <a href={routes.admin('namespaces', quota.namespace)}>{quota.namespace}</a>
                    </td>
                    <td class="num" data-label="Used">
                      {formatBytes(quota.usedBytes)}
                    </td>
                    <td class="num" data-label="Quota">
                      {quota.limitBytes === null ? (
                        <span class="muted">none</span>
                      ) : (
                        formatBytes(quota.limitBytes)
                      )}
                    </td>
                    <td class="bar-cell">
                      {quota.limitBytes !== null && (
                        <meter
                          min={0}
                          max={quota.limitBytes}
                          value={quota.usedBytes}
                          high={quota.limitBytes * 0.9}
                          title={`${percent(quota.usedBytes, quota.limitBytes) ?? 0}%`}
                        />
                      )}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
      <GarbageCollection />
    </section>
  );
}

/** How long a run may show as running before the page says its process may have stopped. */
const STALE_RUNNING_MS = 6 * 3600_000;
/** While a run is running, the list is read again this often. */
const REFRESH_MS = 2_000;

const TRIGGERS: Record<GcRun['trigger'], string> = {
  scheduled: 'scheduled',
  cli: 'berth gc',
  api: 'web UI / API',
};

/** "850 ms", "12.3 s", "4 min 5 s", "2 h 10 min". */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const isStale = (run: GcRun) =>
  run.status === 'running' && Date.now() - (toMillis(run.startedAt) ?? Date.now()) > STALE_RUNNING_MS;

function RunStatus({ run }: { run: GcRun }) {
  if (run.status === 'succeeded') return <span class="badge ok">succeeded</span>;
  if (run.status === 'failed') {
    return (
      <>
        <span class="badge danger">{run.finishedAt === null ? 'did not finish' : 'failed'}</span>
        {run.error && <p class="description error-text">{run.error}</p>}
      </>
    );
  }
  if (isStale(run)) {
    return (
      <span
        class="badge warn"
        title="No outcome recorded for hours: its process may have stopped. The next run will tell."
      >
        running?
      </span>
    );
  }
  return <span class="badge info">running</span>;
}

/** What the run freed (a dry run: would free); the rest of its report on hover. */
function RunFreed({ run }: { run: GcRun }) {
  const c = run.counts;
  if (!c) return <span class="muted">–</span>;
  const details = [
    `${formatCount(c.linksRemoved)} blob links removed`,
    `${formatCount(c.uploadLeftovers)} upload leftovers`,
    c.held > 0 ? `${formatCount(c.held)} held by pushes (left for the next run)` : '',
    c.orphansLeft > 0 ? `${formatCount(c.orphansLeft)} unknown objects left alone` : '',
  ].filter(Boolean);
  return (
    <span title={details.join(', ')}>
      {formatBytes(c.bytesFreed + c.orphanBytes)}
      <span class="muted">
        {' '}
        ({plural(c.manifestsDeleted, 'manifest')}, {plural(c.blobsDeleted, 'blob')},{' '}
        {plural(c.orphansDeleted, 'orphan')}, {plural(c.uploadsPurged, 'upload')})
      </span>
    </span>
  );
}

function GarbageCollection() {
  const { api, notify } = useApp();
  const features = useAsync(() => api.features(), []);
  const available = features.data?.gcRuns === true;
  const runs = useAsync(async () => (available ? api.gcRuns() : undefined), [available]);
  const [older, setOlder] = useState<{ runs: GcRun[]; next: string | null }>();
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const shown = [...(runs.data?.runs ?? []), ...(older?.runs ?? [])];
  const nextCursor = older ? older.next : runs.data?.next;
  const running = runs.data?.runs.some((run) => run.status === 'running' && !isStale(run)) ?? false;
  const { reload } = runs;
  useEffect(() => {
    if (!running) return undefined;
    const timer = setTimeout(reload, REFRESH_MS);
    return () => clearTimeout(timer);
  }, [running, runs.data, reload]);

  const refresh = () => {
    setOlder(undefined);
    reload();
  };
  const showOlder = async () => {
    if (!nextCursor) return;
    try {
      const page = await api.gcRuns(nextCursor);
      setOlder({ runs: [...(older?.runs ?? []), ...page.runs], next: page.next });
    } catch (err) {
      setError(describeError(err));
    }
  };
  /** Starts a run; throws Berth's refusal (409 while another run is in progress). */
  const start = async (dryRun: boolean) => {
    await api.startGc(dryRun);
    notify(dryRun ? 'Dry run started: nothing is deleted' : 'Garbage collection started');
    refresh();
  };
  const startDryRun = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await start(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="gc-heading">
      <div class="section-head">
        <h2 id="gc-heading">Garbage collection</h2>
        {available && (
          <button type="button" class="small" onClick={refresh}>
            Refresh
          </button>
        )}
      </div>
      <p class="muted">
        Deletes untagged manifests and layers nothing uses, while pushes go on; a candidate waits out{' '}
        <code>gc.delay</code> first. Scheduled runs follow <code>gc.interval</code>; runs of{' '}
        <code>berth gc</code> and those started here are listed too.
      </p>
      {features.data && !available && (
        <p class="notice">
          This Berth's API does not list collection runs (<code>GET /api/v1/gc/runs</code>). Run{' '}
          <code>berth gc --dry-run</code> on the server to see what a run would free, and{' '}
          <code>berth gc</code> to free it.
        </p>
      )}
      {available && (
        <>
          <div class="actions start">
            <button type="button" disabled={busy || running} onClick={() => void startDryRun()}>
              Dry run
            </button>
            <button type="button" class="danger" disabled={busy || running} onClick={() => setConfirm(true)}>
              Run GC now…
            </button>
          </div>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {runs.loading && !runs.data && <Loading />}
          {runs.error !== undefined && <ErrorNote error={runs.error} onRetry={refresh} />}
          {runs.data && shown.length === 0 && (
            <Empty title="No garbage collection runs yet.">
              <p>
                Start a dry run above to see what a run would free without deleting anything. Runs on the
                schedule (<code>gc.enabled</code>, <code>gc.interval</code>) and of <code>berth gc</code> on
                the server appear here too.
              </p>
            </Empty>
          )}
          {shown.length > 0 && (
            <div class="table-wrap">
              <table class="list">
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Kind</th>
                    <th scope="col" class="num">
                      Took
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col">Freed</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((run) => (
                    <tr key={run.id}>
                      <td data-label="Started">
                        <Time value={run.startedAt} />
                      </td>
                      <td data-label="Trigger" title={`on ${run.host}`}>
                        {TRIGGERS[run.trigger] ?? run.trigger}
                      </td>
                      <td data-label="Kind">
                        {run.dryRun ? <span class="badge">dry run</span> : <span class="muted">run</span>}
                      </td>
                      <td class="num" data-label="Took">
                        {run.durationMs === null ? '–' : formatDuration(run.durationMs)}
                      </td>
                      <td data-label="Status">
                        <RunStatus run={run} />
                      </td>
                      <td data-label={run.dryRun ? 'Would free' : 'Freed'}>
                        <RunFreed run={run} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {nextCursor && (
            <div class="actions start">
              <button type="button" class="small" onClick={() => void showOlder()}>
                Older runs
              </button>
            </div>
          )}
        </>
      )}
      {confirm && (
        <ConfirmDialog
          title="Run garbage collection now?"
          confirmLabel="Run GC"
          danger
          onClose={() => setConfirm(false)}
          onConfirm={() => start(false)}
        >
          <p>
            Untagged manifests and unused layers that have waited out <code>gc.delay</code> are deleted for
            good. The run goes on in the background; pushes and pulls keep working.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
