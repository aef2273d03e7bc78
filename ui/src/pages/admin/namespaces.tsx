// Namespaces (the first component of repository names): their members and roles (token mode), quota
// and usage, immutable-tag rules and retention policy with a dry run.
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { Empty, ErrorNote, Loading } from '../../components/states.js';
import { Time } from '../../components/time.js';
import { useAsync, useRowKeys, useTitle } from '../../hooks.js';
import { formatBytes, percent, plural, shortDigest } from '../../lib/format.js';
import { ApiError, describeError } from '../../lib/http.js';
import { isAdministrator, isNamespaceAdmin } from '../../lib/permissions.js';
import { routes } from '../../lib/routes.js';
import type {
  ImmutableRule,
  Namespace,
  Quota,
  RetentionPolicy,
  RetentionReport,
  Role,
} from '../../lib/types.js';

const ROLES: Role[] = ['read', 'write', 'admin'];
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

interface NamespaceRow {
  name: string;
  public?: boolean;
  createdAt?: string;
  quota?: Quota;
}

export function NamespacesPage() {
  useTitle('Namespaces');
  const { api, state } = useApp();
  const tokenMode = 'info' in state && state.info.authMode === 'token';
  const admin = isAdministrator(state);
  const rowsRef = useRowKeys<HTMLDivElement>();
  const rows = useAsync<NamespaceRow[]>(async () => {
    const quotas = admin ? (await api.quotas()).namespaces : [];
    const byName = new Map(quotas.map((q) => [q.namespace, q]));
    if (!tokenMode) return quotas.map((quota) => ({ name: quota.namespace, quota }));
    const namespaces: Namespace[] = (await api.namespaces()).namespaces;
    const listed: NamespaceRow[] = namespaces.map((ns) => ({ ...ns, quota: byName.get(ns.name) }));
    // Content pushed to a namespace nobody created (auth none before, or a personal one) counts too.
    for (const quota of quotas) {
      if (!listed.some((row) => row.name === quota.namespace)) listed.push({ name: quota.namespace, quota });
    }
    return listed.sort((a, b) => (a.name < b.name ? -1 : 1));
  }, [state.kind, admin]);

  return (
    <section>
      <div class="section-head">
        <h2>Namespaces</h2>
        {rows.data && <span class="muted">{plural(rows.data.length, 'namespace')}</span>}
      </div>
      <p class="muted">
        A namespace is the first part of a repository name (<code>team</code> in <code>team/app</code>).
        {tokenMode
          ? ' Members get a role in it: read pulls, write also pushes, admin also deletes and sets its rules.'
          : ''}
      </p>
      {tokenMode && admin ? <AddNamespace onAdded={rows.reload} /> : <OpenNamespace />}
      {rows.loading && !rows.data && <Loading />}
      {rows.error !== undefined && <ErrorNote error={rows.error} onRetry={rows.reload} />}
      {rows.data && rows.data.length === 0 && (
        <Empty title="No namespaces yet.">
          <p>
            {tokenMode
              ? 'Add one above, then give accounts a role in it.'
              : 'They appear once images are pushed.'}
          </p>
        </Empty>
      )}
      {rows.data && rows.data.length > 0 && (
        <div class="table-wrap" ref={rowsRef}>
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Namespace</th>
                {tokenMode && <th scope="col">Visibility</th>}
                {admin && <th scope="col">Usage</th>}
                {tokenMode && <th scope="col">Created</th>}
              </tr>
            </thead>
            <tbody>
              {rows.data.map((row) => (
                <tr key={row.name}>
                  <td class="name-cell">
                    <a data-row class="row-link" href={routes.admin('namespaces', row.name)}>
                      {row.name}
                    </a>
                  </td>
                  {tokenMode && (
                    <td data-label="Visibility">
                      {row.public === undefined ? (
                        <span class="muted">not created</span>
                      ) : row.public ? (
                        <span class="badge info">public</span>
                      ) : (
                        'private'
                      )}
                    </td>
                  )}
                  {admin && (
                    <td data-label="Usage">
                      <Usage quota={row.quota} />
                    </td>
                  )}
                  {tokenMode && (
                    <td data-label="Created">
                      <Time value={row.createdAt} never="–" />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Usage({ quota }: { quota: Quota | undefined }) {
  if (!quota) return <span class="muted">–</span>;
  if (quota.limitBytes === null) return <span>{formatBytes(quota.usedBytes)}</span>;
  return (
    <span class="usage">
      <meter min={0} max={quota.limitBytes} value={quota.usedBytes} high={quota.limitBytes * 0.9} />
      {formatBytes(quota.usedBytes)} of {formatBytes(quota.limitBytes)} (
      {percent(quota.usedBytes, quota.limitBytes) ?? 0}%)
    </span>
  );
}

function AddNamespace({ onAdded }: { onAdded: () => void }) {
  const { api, notify } = useApp();
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      await api.addNamespace({ name: name.trim(), public: isPublic });
      notify(`Added namespace ${name.trim()}`);
      setName('');
      onAdded();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit}>
      <label class="field">
        <span>New namespace</span>
        <input
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          required
          pattern={NAME_COMPONENT}
          title="lower-case letters and digits, separated by . _ or -"
          placeholder="team"
          autoComplete="off"
          spellcheck={false}
        />
      </label>
      <label class="check">
        <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.currentTarget.checked)} />{' '}
        public (anyone may pull)
      </label>
      <button type="submit" class="primary">
        Add namespace
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** Auth modes without accounts: rules can be set on a namespace before anything is pushed to it. */
function OpenNamespace() {
  const { route } = useLocation();
  const [name, setName] = useState('');
  return (
    <form
      class="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (name.trim()) route(routes.admin('namespaces', name.trim()));
      }}
    >
      <label class="field">
        <span>Namespace</span>
        <input
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          pattern={NAME_COMPONENT}
          placeholder="team"
          autoComplete="off"
          spellcheck={false}
        />
      </label>
      <button type="submit">Open</button>
    </form>
  );
}

export function NamespacePage({ name }: { name: string }) {
  useTitle(`Namespace ${name}`);
  const { state } = useApp();
  const tokenMode = 'info' in state && state.info.authMode === 'token';
  const mayAdminister = isNamespaceAdmin(state, name);
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href={routes.admin('namespaces')}>Namespaces</a> <span aria-hidden="true">/</span>
      </nav>
      <h2 class="name">{name}</h2>
      <p>
        <a href={`/?q=${encodeURIComponent(`${name}/`)}`}>Its repositories</a>
      </p>
      {tokenMode && <Members name={name} mayAdminister={mayAdminister} />}
      <QuotaCard name={name} />
      <ImmutableRules name={name} mayEdit={mayAdminister} />
      <RetentionCard name={name} mayEdit={mayAdminister} />
    </section>
  );
}

function Members({ name, mayAdminister }: { name: string; mayAdminister: boolean }) {
  const { api, state, notify } = useApp();
  const { route } = useLocation();
  const namespace = useAsync(() => api.namespace(name), [name]);
  const [account, setAccount] = useState('');
  const [role, setRole] = useState<Role>('read');
  const [error, setError] = useState<string>();
  const [removing, setRemoving] = useState<string>();
  const [deleting, setDeleting] = useState(false);
  const admin = isAdministrator(state);

  const change = async (work: () => Promise<unknown>, done: string) => {
    setError(undefined);
    try {
      await work();
      notify(done);
      namespace.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  if (namespace.error instanceof ApiError && namespace.error.status === 404) {
    return (
      <section class="card">
        <h3>Members</h3>
        <p class="muted">
          No accounts namespace named <code>{name}</code>:{' '}
          {admin ? 'add it on the namespaces page to give roles.' : 'a global administrator can add it.'}
        </p>
      </section>
    );
  }
  return (
    <section class="card" aria-labelledby="members-heading">
      <h3 id="members-heading">Members</h3>
      {namespace.error !== undefined && <ErrorNote error={namespace.error} onRetry={namespace.reload} />}
      {namespace.data && (
        <>
          <p>
            {namespace.data.public ? (
              <>
                <span class="badge info">public</span> anyone, signed in or not, may pull.
              </>
            ) : (
              'Private: only members (and global administrators) see it.'
            )}{' '}
            {mayAdminister && (
              <button
                type="button"
                class="link"
                onClick={() =>
                  change(
                    () => api.setNamespacePublic(name, !namespace.data?.public),
                    `${name} is now ${namespace.data?.public ? 'private' : 'public'}`,
                  )
                }
              >
                Make it {namespace.data.public ? 'private' : 'public'}
              </button>
            )}
          </p>
          {namespace.data.members.length === 0 ? (
            <p class="muted">No members yet.</p>
          ) : (
            <table class="list compact">
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Role</th>
                  {mayAdminister && (
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {namespace.data.members.map((member) => (
                  <tr key={member.account}>
                    <td>{member.account}</td>
                    <td>
                      {mayAdminister ? (
                        <select
                          aria-label={`Role of ${member.account}`}
                          value={member.role}
                          onChange={(e) => {
                            const next = e.currentTarget.value as Role;
                            void change(
                              () => api.setMember(name, member.account, next),
                              `${member.account} is now ${next} in ${name}`,
                            );
                          }}
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      ) : (
                        member.role
                      )}
                    </td>
                    {mayAdminister && (
                      <td class="row-actions">
                        <button
                          type="button"
                          class="small danger"
                          onClick={() => setRemoving(member.account)}
                        >
                          Remove
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {mayAdminister && (
            <form
              class="inline-form"
              onSubmit={(event) => {
                event.preventDefault();
                const who = account.trim();
                if (who)
                  void change(() => api.setMember(name, who, role), `${who} is now ${role} in ${name}`);
                setAccount('');
              }}
            >
              <label class="field">
                <span>Account</span>
                <input
                  value={account}
                  onInput={(e) => setAccount(e.currentTarget.value)}
                  placeholder="alice or robot+ci"
                  required
                  autoComplete="off"
                  spellcheck={false}
                />
              </label>
              <label class="field">
                <span>Role</span>
                <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit">Add member</button>
            </form>
          )}
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {admin && (
            <p>
              <button type="button" class="danger small" onClick={() => setDeleting(true)}>
                Delete namespace…
              </button>
            </p>
          )}
        </>
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing} from ${name}?`}
          confirmLabel="Remove"
          danger
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await api.removeMember(name, removing);
            notify(`Removed ${removing} from ${name}`);
            namespace.reload();
          }}
        >
          <p>Their role in {name} goes; their account stays.</p>
        </ConfirmDialog>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete namespace ${name}?`}
          confirmLabel="Delete namespace"
          danger
          typeToConfirm={name}
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await api.removeNamespace(name);
            notify(`Deleted namespace ${name}`);
            route(routes.admin('namespaces'));
          }}
        >
          <p>Its members lose their roles. Berth refuses while repositories remain in it.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

const UNITS = [
  ['MiB', 1024 ** 2],
  ['GiB', 1024 ** 3],
  ['TiB', 1024 ** 4],
] as const;

function QuotaCard({ name }: { name: string }) {
  const { api, state, notify } = useApp();
  const quota = useAsync(() => api.quota(name), [name]);
  const [amount, setAmount] = useState('');
  const [unit, setUnit] = useState<string>('GiB');
  const [error, setError] = useState<string>();
  const admin = isAdministrator(state);
  const save = async (event: Event) => {
    event.preventDefault();
    const factor = UNITS.find(([u]) => u === unit)?.[1] ?? 1;
    const bytes = Math.round(Number(amount) * factor);
    if (!Number.isFinite(bytes) || bytes < 0) return setError('A size of 0 or more.');
    setError(undefined);
    try {
      await api.setQuota(name, bytes);
      notify(`Quota of ${name}: ${formatBytes(bytes)}`);
      setAmount('');
      quota.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section class="card" aria-labelledby="quota-heading">
      <h3 id="quota-heading">Quota</h3>
      {quota.error !== undefined && <ErrorNote error={quota.error} onRetry={quota.reload} />}
      {quota.data && (
        <p>
          {quota.data.limitBytes === null ? (
            <>Uses {formatBytes(quota.data.usedBytes)}; no quota.</>
          ) : (
            <Usage quota={quota.data} />
          )}{' '}
          <span class="muted">(each layer counted once)</span>
        </p>
      )}
      {admin && (
        <form class="inline-form" onSubmit={save}>
          <label class="field">
            <span>Limit</span>
            <input
              type="number"
              min={0}
              step="any"
              value={amount}
              onInput={(e) => setAmount(e.currentTarget.value)}
              required
            />
          </label>
          <label class="field">
            <span>Unit</span>
            <select value={unit} onChange={(e) => setUnit(e.currentTarget.value)}>
              {UNITS.map(([u]) => (
                <option key={u}>{u}</option>
              ))}
            </select>
          </label>
          <button type="submit">Set quota</button>
          {quota.data?.limitBytes !== null && quota.data && (
            <button
              type="button"
              onClick={async () => {
                try {
                  await api.removeQuota(name);
                  notify(`Removed the quota of ${name}`);
                  quota.reload();
                } catch (err) {
                  setError(describeError(err));
                }
              }}
            >
              Remove quota
            </button>
          )}
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p class="muted small-print">Pushes that would go over the quota are refused with “quota exceeded”.</p>
    </section>
  );
}

function ImmutableRules({ name, mayEdit }: { name: string; mayEdit: boolean }) {
  const { api, notify } = useApp();
  const rules = useAsync(() => api.immutableRules(name), [name]);
  const [draft, setDraft] = useState<ImmutableRule[]>();
  const [error, setError] = useState<string>();
  const editing = draft !== undefined;
  const shown = draft ?? rules.data?.rules ?? [];
  const update = (i: number, rule: ImmutableRule) => setDraft(shown.map((r, j) => (i === j ? rule : r)));
  const save = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      await api.setImmutableRules(
        name,
        shown
          .filter((rule) => rule.tags.trim() !== '')
          .map((rule) => ({ tags: rule.tags.trim(), repositories: rule.repositories?.trim() || null })),
      );
      notify(`Saved the immutable-tag rules of ${name}`);
      setDraft(undefined);
      rules.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section class="card" aria-labelledby="immutable-heading">
      <h3 id="immutable-heading">Immutable tags</h3>
      <p class="muted">
        Tags matching a rule cannot be pushed again, moved or deleted (<code>*</code> matches anything, e.g.{' '}
        <code>v*</code> or <code>release-*</code>).
      </p>
      {rules.error !== undefined && <ErrorNote error={rules.error} onRetry={rules.reload} />}
      {rules.data && (
        <form onSubmit={save} class="stack">
          {shown.length === 0 && !editing && <p class="muted">No rules: every tag can move.</p>}
          {shown.map((rule, i) => (
            <div class="rule" key={i}>
              {editing ? (
                <>
                  <label class="field">
                    <span>Tags</span>
                    <input
                      value={rule.tags}
                      pattern="[A-Za-z0-9_.*\-]{1,128}"
                      required
                      onInput={(e) => update(i, { ...rule, tags: e.currentTarget.value })}
                    />
                  </label>
                  <label class="field">
                    <span>In repositories (empty: all)</span>
                    <input
                      value={rule.repositories ?? ''}
                      placeholder={`${name}/*`}
                      onInput={(e) => update(i, { ...rule, repositories: e.currentTarget.value })}
                    />
                  </label>
                  <button
                    type="button"
                    class="small"
                    aria-label={`Remove rule ${rule.tags}`}
                    onClick={() => setDraft(shown.filter((_, j) => j !== i))}
                  >
                    Remove
                  </button>
                </>
              ) : (
                <p>
                  <code>{rule.tags}</code> in{' '}
                  {rule.repositories ? <code>{rule.repositories}</code> : 'every repository'}
                </p>
              )}
            </div>
          ))}
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {mayEdit && (
            <div class="actions start">
              {editing ? (
                <>
                  <button
                    type="button"
                    onClick={() => setDraft([...shown, { tags: '', repositories: null }])}
                  >
                    Add a rule
                  </button>
                  <button type="button" onClick={() => setDraft(undefined)}>
                    Cancel
                  </button>
                  <button type="submit" class="primary">
                    Save rules
                  </button>
                </>
              ) : (
                <button
                  type="button"
                  onClick={() => setDraft(shown.length ? shown : [{ tags: '', repositories: null }])}
                >
                  Edit rules
                </button>
              )}
            </div>
          )}
        </form>
      )}
    </section>
  );
}

function RetentionCard({ name, mayEdit }: { name: string; mayEdit: boolean }) {
  const { api, notify } = useApp();
  const retention = useAsync(() => api.retention(name), [name]);
  const [form, setForm] = useState<{
    count: string;
    by: 'pushed' | 'pulled';
    patterns: string;
    untagged: string;
  }>();
  const [report, setReport] = useState<RetentionReport>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [confirmRun, setConfirmRun] = useState(false);
  const policy = retention.data?.policy ?? null;

  const edit = () =>
    setForm({
      count: String(policy?.keepLatest?.count ?? ''),
      by: policy?.keepLatest?.by ?? 'pushed',
      patterns: (policy?.keepPatterns ?? []).join(', '),
      untagged: policy?.untaggedAfter ?? '',
    });
  const save = async (event: Event) => {
    event.preventDefault();
    if (!form) return;
    const next: RetentionPolicy = {
      keepLatest: form.count.trim() ? { count: Number(form.count), by: form.by } : null,
      keepPatterns: form.patterns
        .split(/[,\s]+/)
        .map((p) => p.trim())
        .filter(Boolean),
      untaggedAfter: form.untagged.trim() || null,
    };
    setError(undefined);
    try {
      await api.setRetention(name, next);
      notify(`Saved the retention policy of ${name}`);
      setForm(undefined);
      retention.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const run = async (dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      setReport(await api.runRetention(name, dryRun));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="retention-heading">
      <h3 id="retention-heading">Retention</h3>
      {retention.error !== undefined && <ErrorNote error={retention.error} onRetry={retention.reload} />}
      {retention.data && !form && (
        <>
          {policy ? (
            <ul class="policy">
              {policy.keepLatest && (
                <li>
                  Keep the {policy.keepLatest.count} most recently {policy.keepLatest.by} tags of each
                  repository
                </li>
              )}
              {policy.keepPatterns.length > 0 && (
                <li>
                  Keep tags matching{' '}
                  {policy.keepPatterns.map((p, i) => (
                    <span key={p}>
                      {i > 0 && ', '}
                      <code>{p}</code>
                    </span>
                  ))}
                </li>
              )}
              {policy.untaggedAfter && (
                <li>Delete untagged manifests neither pushed nor pulled for {policy.untaggedAfter}</li>
              )}
            </ul>
          ) : (
            <p class="muted">No retention policy: nothing is deleted automatically.</p>
          )}
          {mayEdit && (
            <div class="actions start">
              <button type="button" onClick={edit}>
                {policy ? 'Edit policy' : 'Set a policy'}
              </button>
              {policy && (
                <>
                  <button type="button" disabled={busy} onClick={() => void run(true)}>
                    {busy ? 'Running…' : 'Dry run'}
                  </button>
                  <button type="button" class="danger" disabled={busy} onClick={() => setConfirmRun(true)}>
                    Run now…
                  </button>
                  <button
                    type="button"
                    onClick={async () => {
                      try {
                        await api.removeRetention(name);
                        notify(`Removed the retention policy of ${name}`);
                        retention.reload();
                      } catch (err) {
                        setError(describeError(err));
                      }
                    }}
                  >
                    Remove policy
                  </button>
                </>
              )}
            </div>
          )}
        </>
      )}
      {form && (
        <form onSubmit={save} class="stack">
          <div class="inline-form">
            <label class="field">
              <span>Keep the latest</span>
              <input
                type="number"
                min={1}
                max={100000}
                value={form.count}
                placeholder="e.g. 10"
                onInput={(e) => setForm({ ...form, count: e.currentTarget.value })}
              />
            </label>
            <label class="field">
              <span>by</span>
              <select
                value={form.by}
                onChange={(e) => setForm({ ...form, by: e.currentTarget.value as 'pushed' | 'pulled' })}
              >
                <option value="pushed">push time</option>
                <option value="pulled">pull time</option>
              </select>
            </label>
          </div>
          <label class="field">
            <span>Always keep tags matching (comma-separated)</span>
            <input
              value={form.patterns}
              placeholder="latest, v*, release-*"
              onInput={(e) => setForm({ ...form, patterns: e.currentTarget.value })}
            />
          </label>
          <label class="field">
            <span>Delete untagged manifests after</span>
            <input
              value={form.untagged}
              placeholder="e.g. 7d or 12h (empty: never)"
              pattern="\d+(ms|s|m|h|d)"
              onInput={(e) => setForm({ ...form, untagged: e.currentTarget.value })}
            />
          </label>
          <div class="actions start">
            <button type="button" onClick={() => setForm(undefined)}>
              Cancel
            </button>
            <button type="submit" class="primary">
              Save policy
            </button>
          </div>
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {report && <RetentionReportView report={report} />}
      {confirmRun && (
        <ConfirmDialog
          title={`Run the retention policy of ${name} now?`}
          confirmLabel="Delete what it selects"
          danger
          onClose={() => setConfirmRun(false)}
          onConfirm={() => run(false)}
        >
          <p>Tags and manifests the policy selects are deleted now. A dry run first shows what would go.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function RetentionReportView({ report }: { report: RetentionReport }) {
  return (
    <div class="report" role="status">
      <h4>
        {report.dryRun ? 'Dry run: would delete' : 'Deleted'} {plural(report.totals.tags, 'tag')} and{' '}
        {plural(report.totals.manifests, 'manifest')} in{' '}
        {plural(report.repositoriesExamined, 'repository', 'repositories')}{' '}
        <span class="muted">
          (<Time value={report.startedAt} />)
        </span>
      </h4>
      {report.repositories
        .filter((r) => r.tags.length + r.manifests.length + r.skipped.length > 0)
        .map((repository) => (
          <details key={repository.repository} open={report.repositories.length <= 3}>
            <summary>
              {repository.repository}: {plural(repository.tags.length, 'tag')},{' '}
              {plural(repository.manifests.length, 'manifest')}
              {repository.skipped.length > 0 && `, ${repository.skipped.length} skipped`}
            </summary>
            <ul class="plain">
              {repository.tags.map((t) => (
                <li key={`t-${t.tag}`}>
                  <code>{t.tag}</code>{' '}
                  <span class="muted">
                    ({shortDigest(t.digest)}): {t.reason}
                  </span>
                </li>
              ))}
              {repository.manifests.map((m) => (
                <li key={`m-${m.digest}`}>
                  <code title={m.digest}>{shortDigest(m.digest)}</code> <span class="muted">{m.reason}</span>
                </li>
              ))}
              {repository.skipped.map((s) => (
                <li key={`s-${s.tag ?? ''}-${s.digest}`}>
                  skipped <code>{s.tag ?? shortDigest(s.digest)}</code> <span class="muted">{s.reason}</span>
                </li>
              ))}
            </ul>
          </details>
        ))}
    </div>
  );
}
