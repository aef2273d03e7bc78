// Storage: every namespace's usage against its quota, and garbage collection (its runs and what each
// freed) when this Berth's API offers it.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { Empty, ErrorNote, Loading } from '../../components/states.js';
import { Time } from '../../components/time.js';
import { useAsync, useTitle } from '../../hooks.js';
import { formatBytes, formatCount, percent } from '../../lib/format.js';
import { describeError } from '../../lib/http.js';
import { routes } from '../../lib/routes.js';
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

/** Fields of a run worth a column, in order, with how to show them (the API is new: read loosely). */
const RUN_FIELDS: Array<[string, string, (value: unknown) => string]> = [
  ['manifestsDeleted', 'Manifests', (v) => formatCount(Number(v))],
  ['blobsDeleted', 'Blobs', (v) => formatCount(Number(v))],
  ['bytesFreed', 'Freed', (v) => formatBytes(Number(v))],
  ['orphansDeleted', 'Orphans', (v) => formatCount(Number(v))],
  ['uploadsPurged', 'Uploads', (v) => formatCount(Number(v))],
  ['durationMs', 'Took', (v) => `${(Number(v) / 1000).toFixed(1)} s`],
];

const runsOf = (answer: Record<string, unknown>): GcRun[] => {
  const list = answer.runs ?? answer.items ?? answer.history;
  return Array.isArray(list) ? (list as GcRun[]) : [];
};

function GarbageCollection() {
  const { api, notify } = useApp();
  const features = useAsync(() => api.features(), []);
  const available = features.data?.gcRuns === true;
  const runs = useAsync(async () => (available ? runsOf(await api.gcRuns()) : []), [available]);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const start = async (dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      await api.startGc(dryRun);
      notify(dryRun ? 'Garbage collection dry run done' : 'Garbage collection started');
      runs.reload();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const time = (run: GcRun) => (run.startedAt ?? run.finishedAt ?? run.at) as string | number | undefined;
  return (
    <section aria-labelledby="gc-heading">
      <h2 id="gc-heading">Garbage collection</h2>
      <p class="muted">
        Deletes untagged manifests and layers nothing uses, while pushes go on; a candidate waits out{' '}
        <code>gc.delay</code> first. Scheduled runs follow <code>gc.interval</code>.
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
            <button type="button" disabled={busy} onClick={() => void start(true)}>
              Dry run
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => setConfirm(true)}>
              Collect now…
            </button>
          </div>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {runs.error !== undefined && <ErrorNote error={runs.error} onRetry={runs.reload} />}
          {runs.data && runs.data.length === 0 && <p class="muted">No runs yet.</p>}
          {runs.data && runs.data.length > 0 && (
            <div class="table-wrap">
              <table class="list">
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    {RUN_FIELDS.map(([key, label]) => (
                      <th key={key} scope="col" class="num">
                        {label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {runs.data.map((run, i) => (
                    <tr key={String(run.id ?? i)}>
                      <td>
                        <Time value={time(run)} never="–" />{' '}
                        {run.dryRun === true && <span class="badge">dry run</span>}
                        {typeof run.error === 'string' && <span class="error"> {run.error}</span>}
                      </td>
                      {RUN_FIELDS.map(([key, label, show]) => (
                        <td key={key} class="num" data-label={label}>
                          {run[key] === undefined || run[key] === null ? '–' : show(run[key])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      {confirm && (
        <ConfirmDialog
          title="Collect garbage now?"
          confirmLabel="Collect"
          danger
          onClose={() => setConfirm(false)}
          onConfirm={() => start(false)}
        >
          <p>Untagged manifests and unused layers that have waited out gc.delay are deleted for good.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
