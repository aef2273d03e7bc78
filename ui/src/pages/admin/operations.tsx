// The pull-through mirror's upstreams (hits, misses, what the cache holds) and webhook deliveries.
import { useApp } from '../../app-context.js';
import { Empty, ErrorNote, Loading } from '../../components/states.js';
import { Time } from '../../components/time.js';
import { useAsync, useTitle } from '../../hooks.js';
import { formatBytes, formatCount, percent } from '../../lib/format.js';

export function MirrorPage() {
  useTitle('Mirror');
  const { api } = useApp();
  const mirror = useAsync(() => api.mirror(), []);
  return (
    <section>
      <div class="section-head">
        <h2>Mirror upstreams</h2>
        <button type="button" class="small" onClick={mirror.reload}>
          Refresh
        </button>
      </div>
      {mirror.loading && !mirror.data && <Loading />}
      {mirror.error !== undefined && <ErrorNote error={mirror.error} onRetry={mirror.reload} />}
      {mirror.data && mirror.data.upstreams.length === 0 && (
        <Empty title="Berth mirrors no upstream.">
          <p>
            Start it with <code>--mirror https://registry-1.docker.io</code>, or list upstreams under{' '}
            <code>mirror.upstreams</code> in the config (README “Pull-through mirror”).
          </p>
        </Empty>
      )}
      {mirror.data && mirror.data.upstreams.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Upstream</th>
                <th scope="col" class="num">
                  Hit ratio
                </th>
                <th scope="col" class="num">
                  Hits
                </th>
                <th scope="col" class="num">
                  Misses
                </th>
                <th scope="col" class="num" title="served from the cache while the upstream failed">
                  Stale hits
                </th>
                <th scope="col" class="num">
                  From cache
                </th>
                <th scope="col" class="num">
                  From upstream
                </th>
                <th scope="col" class="num">
                  Cached
                </th>
              </tr>
            </thead>
            <tbody>
              {mirror.data.upstreams.map((u) => {
                const ratio = percent(u.hits + u.staleHits, u.hits + u.staleHits + u.misses);
                return (
                  <tr key={u.upstream}>
                    <td class="name-cell">{u.upstream}</td>
                    <td class="num" data-label="Hit ratio">
                      {ratio === undefined ? '–' : `${ratio}%`}{' '}
                      {ratio !== undefined && (
                        <meter min={0} max={100} value={ratio} low={50} optimum={100} />
                      )}
                    </td>
                    <td class="num" data-label="Hits">
                      {formatCount(u.hits)}
                    </td>
                    <td class="num" data-label="Misses">
                      {formatCount(u.misses)}
                    </td>
                    <td class="num" data-label="Stale hits">
                      {formatCount(u.staleHits)}
                    </td>
                    <td class="num" data-label="From cache">
                      {formatBytes(u.bytesFromCache)}
                    </td>
                    <td class="num" data-label="From upstream">
                      {formatBytes(u.bytesFromUpstream)}
                    </td>
                    <td class="num" data-label="Cached">
                      {formatBytes(u.cachedBytes)}{' '}
                      <span class="muted">({formatCount(u.cachedItems)} items)</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function WebhooksPage() {
  useTitle('Webhooks');
  const { api } = useApp();
  const hooks = useAsync(() => api.notifications(), []);
  return (
    <section>
      <div class="section-head">
        <h2>Webhook deliveries</h2>
        <button type="button" class="small" onClick={hooks.reload}>
          Refresh
        </button>
      </div>
      {hooks.loading && !hooks.data && <Loading />}
      {hooks.error !== undefined && <ErrorNote error={hooks.error} onRetry={hooks.reload} />}
      {hooks.data && hooks.data.endpoints.length === 0 && (
        <Empty title="No webhook endpoints.">
          <p>
            List them under <code>notifications.endpoints</code> in the config: Berth then sends every push,
            pull and delete to them, retrying until they answer.
          </p>
        </Empty>
      )}
      {hooks.data && hooks.data.endpoints.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Endpoint</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Pending
                </th>
                <th scope="col" class="num">
                  Delivered
                </th>
                <th scope="col" class="num">
                  Dropped
                </th>
                <th scope="col">Last success</th>
                <th scope="col">Last failure</th>
              </tr>
            </thead>
            <tbody>
              {hooks.data.endpoints.map((e) => {
                const failing =
                  e.lastFailureAt !== null && (e.lastSuccessAt === null || e.lastFailureAt > e.lastSuccessAt);
                return (
                  <tr key={e.name}>
                    <td class="name-cell">
                      {e.name}
                      {!e.configured && <span class="badge warn">no longer configured</span>}
                      {failing && e.lastError && <p class="description error-text">{e.lastError}</p>}
                    </td>
                    <td data-label="Status">
                      {failing ? (
                        <span class="badge danger">failing</span>
                      ) : e.pending > 0 ? (
                        <span class="badge warn">delivering</span>
                      ) : (
                        <span class="badge ok">ok</span>
                      )}
                    </td>
                    <td class="num" data-label="Pending">
                      {formatCount(e.pending)}
                      {e.retrying > 0 && <span class="muted"> ({formatCount(e.retrying)} retrying)</span>}
                      {e.oldestPendingAt && (
                        <span class="muted">
                          {' '}
                          oldest <Time value={e.oldestPendingAt} />
                        </span>
                      )}
                    </td>
                    <td class="num" data-label="Delivered">
                      {formatCount(e.delivered)}
                    </td>
                    <td class="num" data-label="Dropped">
                      {formatCount(e.dropped)}
                    </td>
                    <td data-label="Last success">
                      <Time value={e.lastSuccessAt} />
                    </td>
                    <td data-label="Last failure">
                      <Time value={e.lastFailureAt} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
