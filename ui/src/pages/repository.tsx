// A repository: its numbers and description, and its tags (filter, sort by push time, name or semver,
// pages of 50), each with copyable pull commands and, for those who may, retag and delete.
import { useLocation } from 'preact-iso';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../app-context.js';
import { CopyButton } from '../components/copy.js';
import { ConfirmDialog } from '../components/dialog.js';
import { PushHelp } from '../components/push-help.js';
import { SortControls, SortHeader } from '../components/sort.js';
import { Empty, ErrorNote, Loading } from '../components/states.js';
import { DeleteTagDialog, RetagDialog } from '../components/tag-dialogs.js';
import { Time } from '../components/time.js';
import { useAsync, useDebounced, useRowKeys, useTitle } from '../hooks.js';
import { artifactTypeLabel, formatBytes, formatCount, plural, shortDigest } from '../lib/format.js';
import { describeError } from '../lib/http.js';
import {
  isTagPattern,
  listStateQuery,
  parseTagListState,
  TAG_SORTS,
  tagListQuery,
  type TagListState,
} from '../lib/list-params.js';
import { isImageConfig } from '../lib/manifest.js';
import { can } from '../lib/permissions.js';
import { pullCommand } from '../lib/pull.js';
import { routes } from '../lib/routes.js';
import type { Repository, Tag } from '../lib/types.js';

const PAGE_SIZE = 50;

export function RepositoryPage({ name }: { name: string }) {
  useTitle(name);
  const { api, state } = useApp();
  const repository = useAsync(() => api.repository(name), [name, state.kind]);
  const mayPush = can(state, 'push', name);
  const mayDelete = can(state, 'delete', name);

  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/">Repositories</a> <span aria-hidden="true">/</span>
      </nav>
      <div class="page-head">
        <h1 class="name">{name}</h1>
      </div>
      {repository.error !== undefined && <ErrorNote error={repository.error} onRetry={repository.reload} />}
      {repository.data && (
        <RepositorySummary repository={repository.data} mayEdit={mayPush} onChanged={repository.reload} />
      )}
      {repository.data && (
        <TagTable name={name} mayPush={mayPush} mayDelete={mayDelete} onChanged={repository.reload} />
      )}
      {repository.data && mayDelete && <DangerZone name={name} />}
    </section>
  );
}

function RepositorySummary({
  repository,
  mayEdit,
  onChanged,
}: {
  repository: Repository;
  mayEdit: boolean;
  onChanged: () => void;
}) {
  const { api, notify } = useApp();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(repository.description ?? '');
  const [error, setError] = useState<string>();
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      await api.setDescription(repository.name, text.trim() === '' ? null : text.trim());
      setEditing(false);
      notify('Description saved');
      onChanged();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div class="summary">
      {editing ? (
        <form onSubmit={save} class="stack description-form">
          <label class="field">
            <span>Description</span>
            <textarea
              value={text}
              maxLength={1024}
              rows={3}
              onInput={(e) => setText(e.currentTarget.value)}
            />
          </label>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <div class="actions">
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="submit" class="primary">
              Save
            </button>
          </div>
        </form>
      ) : (
        <p class="description">
          {repository.description ?? <span class="muted">No description.</span>}{' '}
          {mayEdit && (
            <button type="button" class="link" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
        </p>
      )}
      <dl class="stats">
        <div>
          <dt>Tags</dt>
          <dd>{formatCount(repository.tagCount)}</dd>
        </div>
        <div>
          <dt>Manifests</dt>
          <dd>{formatCount(repository.manifestCount)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd title="each layer counted once">{formatBytes(repository.size)}</dd>
        </div>
        <div>
          <dt>Last push</dt>
          <dd>
            <Time value={repository.lastPushAt} />
          </dd>
        </div>
        <div>
          <dt>Last pull</dt>
          <dd>
            <Time value={repository.lastPullAt} />{' '}
            <span class="muted">({plural(repository.pullCount, 'pull')})</span>
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time value={repository.createdAt} />
          </dd>
        </div>
      </dl>
    </div>
  );
}

type Pending = { kind: 'delete' | 'retag'; tag: Tag } | undefined;

function TagTable({
  name,
  mayPush,
  mayDelete,
  onChanged,
}: {
  name: string;
  mayPush: boolean;
  mayDelete: boolean;
  onChanged: () => void;
}) {
  const { api, host } = useApp();
  const { query, route } = useLocation();
  const list = parseTagListState(query);
  const [text, setText] = useState(list.pattern);
  const filter = useDebounced(text, 250);
  const [tags, setTags] = useState<Tag[]>();
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [pending, setPending] = useState<Pending>();
  const call = useRef(0);
  const rowsRef = useRowKeys<HTMLDivElement>();
  const validFilter = isTagPattern(text);

  const show = (state: TagListState) =>
    route(`${routes.repository(name)}${listStateQuery(state, 'pushed')}`, true);
  useEffect(() => {
    if (filter.trim() !== list.pattern.trim() && isTagPattern(filter)) show({ ...list, pattern: filter });
  }, [filter]);

  const load = async (cursor: string | null) => {
    const id = ++call.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.listTags(name, tagListQuery(list, PAGE_SIZE, cursor));
      if (id !== call.current) return;
      setTags((previous) => (cursor && previous ? [...previous, ...page.tags] : page.tags));
      setTotal(page.total);
      setNext(page.next);
    } catch (err) {
      if (id === call.current) setError(err);
    } finally {
      if (id === call.current) setLoading(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [name, list.pattern, list.sort, list.order]);

  const removed = (tag: string) => {
    setTags((previous) => previous?.filter((t) => t.name !== tag));
    setTotal((t) => t - 1);
    onChanged();
  };
  const sortProps = {
    sort: list.sort,
    order: list.order,
    onChange: (sort: string, order: 'asc' | 'desc') =>
      show({ ...list, sort: sort as TagListState['sort'], order }),
  };
  const items = tags ?? [];

  return (
    <section class="tags" aria-labelledby="tags-heading">
      <div class="section-head">
        <h2 id="tags-heading">Tags</h2>
        {tags && (
          <span class="muted">
            {list.pattern ? `${plural(total, 'match', 'matches')}` : plural(total, 'tag')}
          </span>
        )}
      </div>
      <div class="toolbar">
        <label class="search">
          <span class="visually-hidden">Filter tags</span>
          <input
            type="search"
            data-search
            placeholder="Filter tags: 1.2 or v*-alpine  ( / )"
            value={text}
            aria-invalid={!validFilter}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') {
                rowsRef.current?.querySelector<HTMLElement>('[data-row]')?.focus();
                e.preventDefault();
              }
            }}
            autoComplete="off"
            spellcheck={false}
            maxLength={126}
          />
        </label>
        <SortControls sorts={TAG_SORTS} {...sortProps} />
      </div>
      {!validFilter && <p class="error">Tags hold letters, digits, _ . and -; * matches anything.</p>}
      {error !== undefined && <ErrorNote error={error} onRetry={() => void load(null)} />}
      {!tags && loading && <Loading what="Loading tags" />}
      {tags &&
        items.length === 0 &&
        !error &&
        (list.pattern ? (
          <Empty title={`No tag matches “${list.pattern}”.`} />
        ) : (
          <Empty title="No tags.">
            <p>
              Untagged manifests stay until garbage collection or retention removes them. To tag an image
              here:
            </p>
            <PushHelp host={host} name={name} />
          </Empty>
        ))}
      {items.length > 0 && (
        <div class="table-wrap" ref={rowsRef} aria-busy={loading}>
          <table class="list tag-list">
            <thead>
              <tr>
                <SortHeader label="Tag" value="name" {...sortProps} />
                <th scope="col">Digest</th>
                <th scope="col">Platforms / type</th>
                <th scope="col" class="num">
                  Size
                </th>
                <SortHeader label="Pushed" value="pushed" {...sortProps} />
                <th scope="col">Pulled</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((tag) => (
                <tr key={tag.name} data-tag={tag.name}>
                  <td class="name-cell">
                    <a data-row class="row-link" href={routes.tag(name, tag.name)}>
                      {tag.name}
                    </a>
                    {tag.immutable && (
                      <span
                        class="badge"
                        title="A namespace rule protects this tag: it cannot be moved or deleted"
                      >
                        immutable
                      </span>
                    )}
                    {tag.referrers > 0 && (
                      <span class="badge info" title="signatures, SBOMs or attestations that refer to it">
                        {plural(tag.referrers, 'referrer')}
                      </span>
                    )}
                  </td>
                  <td data-label="Digest">
                    <a class="digest" href={routes.manifest(name, tag.digest)} title={tag.digest}>
                      {shortDigest(tag.digest)}
                    </a>
                  </td>
                  <td data-label="Type">
                    <TagKind tag={tag} />
                  </td>
                  <td class="num" data-label="Size">
                    {formatBytes(tag.size)}
                  </td>
                  <td data-label="Pushed">
                    <Time value={tag.pushedAt} />
                  </td>
                  <td data-label="Pulled">
                    <Time value={tag.lastPulledAt} />
                  </td>
                  <td class="row-actions">
                    <CopyButton
                      text={pullCommand(host, name, tag.name)}
                      label={`pull command of ${tag.name}`}
                      caption="Copy pull"
                    />
                    <CopyButton
                      text={pullCommand(host, name, tag.digest)}
                      label={`pull-by-digest command of ${tag.name}`}
                      caption="@digest"
                    />
                    {mayPush && (
                      <button
                        type="button"
                        class="small"
                        aria-label={`Retag ${tag.name}`}
                        onClick={() => setPending({ kind: 'retag', tag })}
                      >
                        Retag
                      </button>
                    )}
                    {mayDelete && (
                      <button
                        type="button"
                        class="small danger"
                        aria-label={`Delete tag ${tag.name}`}
                        disabled={tag.immutable}
                        title={tag.immutable ? 'Immutable: a namespace rule protects it' : undefined}
                        onClick={() => setPending({ kind: 'delete', tag })}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tags && (
        <div class="more">
          {next && (
            <button type="button" onClick={() => void load(next)} disabled={loading}>
              {loading ? 'Loading…' : `Show ${Math.min(PAGE_SIZE, total - items.length)} more`}
            </button>
          )}
          {items.length > 0 && (
            <span class="muted">
              {formatCount(items.length)} of {formatCount(total)} shown
            </span>
          )}
        </div>
      )}
      {pending?.kind === 'delete' && (
        <DeleteTagDialog
          name={name}
          tag={pending.tag.name}
          digest={pending.tag.digest}
          onClose={() => setPending(undefined)}
          onDone={() => removed(pending.tag.name)}
        />
      )}
      {pending?.kind === 'retag' && (
        <RetagDialog
          name={name}
          tag={pending.tag.name}
          onClose={() => setPending(undefined)}
          onDone={(target) => {
            if (target.repository === name) {
              void load(null);
              onChanged();
            }
          }}
        />
      )}
    </section>
  );
}

/** An index's platforms, an artifact's type, or "image". */
function TagKind({ tag }: { tag: Tag }) {
  if (tag.platforms && tag.platforms.length > 0) {
    return <span class="platforms">{tag.platforms.join(', ')}</span>;
  }
  if (tag.artifactType && !isImageConfig(tag.artifactType)) {
    return <span title={tag.artifactType}>{artifactTypeLabel(tag.artifactType) ?? tag.artifactType}</span>;
  }
  return <span class="muted">image</span>;
}

function DangerZone({ name }: { name: string }) {
  const { api, notify } = useApp();
  const { route } = useLocation();
  const [asking, setAsking] = useState(false);
  return (
    <section class="danger-zone" aria-labelledby="danger-heading">
      <h2 id="danger-heading">Delete this repository</h2>
      <p class="muted">
        Deletes every tag and manifest of <code>{name}</code>. Its storage is freed by garbage collection once
        no other repository uses the same layers.
      </p>
      <button type="button" class="danger" onClick={() => setAsking(true)}>
        Delete repository…
      </button>
      {asking && (
        <ConfirmDialog
          title={`Delete ${name}?`}
          confirmLabel="Delete repository"
          danger
          typeToConfirm={name}
          onClose={() => setAsking(false)}
          onConfirm={async () => {
            const answer = await api.deleteRepository(name);
            notify(`Deleted ${name} (${plural(answer?.deleted?.tags ?? 0, 'tag')})`);
            route('/');
          }}
        >
          <p>Every tag and manifest goes. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
