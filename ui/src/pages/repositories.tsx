// The repositories the caller may read: search as you type, sort, and pages of 50 by cursor (the API
// pages by key, so the 400th page of 20,000 repositories costs what the first does).
import { useLocation } from 'preact-iso';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../app-context.js';
import { PushHelp } from '../components/push-help.js';
import { SortHeader, SortControls } from '../components/sort.js';
import { Empty, ErrorNote, Loading } from '../components/states.js';
import { Time } from '../components/time.js';
import { useDebounced, useRowKeys, useTitle } from '../hooks.js';
import { formatBytes, formatCount, plural } from '../lib/format.js';
import {
  listStateQuery,
  parseRepositoryListState,
  REPOSITORY_SORTS,
  repositoryListQuery,
  type RepositoryListState,
} from '../lib/list-params.js';
import { routes } from '../lib/routes.js';
import type { Repository } from '../lib/types.js';

const PAGE_SIZE = 50;

interface Listing {
  items: Repository[];
  total: number;
  next: string | null;
}

export function RepositoriesPage(_props: { path?: string }) {
  useTitle('Repositories');
  const { api, state, host } = useApp();
  const { query, route } = useLocation();
  const list = parseRepositoryListState(query);
  const [text, setText] = useState(list.q);
  const search = useDebounced(text, 250);
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const call = useRef(0);
  const searchRef = useRef<HTMLInputElement>(null);
  const rowsRef = useRowKeys<HTMLDivElement>();
  const key = `${list.q}\n${list.sort}\n${list.order}\n${state.kind}`;

  const show = (next: RepositoryListState) => route(routes.repositories(listStateQuery(next, 'name')), true);

  // Typing settles into the URL (replacing the entry: no history step per keystroke).
  useEffect(() => {
    if (search.trim() !== list.q.trim()) show({ ...list, q: search });
  }, [search]);
  // Back and forward change the URL under the field: follow it, unless the user is typing.
  useEffect(() => {
    if (document.activeElement !== searchRef.current) setText(list.q);
  }, [list.q]);

  const load = async (cursor: string | null) => {
    const id = ++call.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.listRepositories(repositoryListQuery(list, PAGE_SIZE, cursor));
      if (id !== call.current) return;
      setListing((previous) => ({
        items: cursor && previous ? [...previous.items, ...page.repositories] : page.repositories,
        total: page.total,
        next: page.next,
      }));
    } catch (err) {
      if (id === call.current) setError(err);
    } finally {
      if (id === call.current) setLoading(false);
    }
  };

  useEffect(() => {
    void load(null);
  }, [key]);

  const items = listing?.items ?? [];
  const sortProps = {
    sort: list.sort,
    order: list.order,
    onChange: (sort: string, order: 'asc' | 'desc') =>
      show({ ...list, sort: sort as RepositoryListState['sort'], order }),
  };
  return (
    <section>
      <div class="page-head">
        <h1>Repositories</h1>
        {listing && (
          <p class="muted" aria-live="polite">
            {list.q
              ? `${plural(listing.total, 'repository', 'repositories')} matching “${list.q}”`
              : plural(listing.total, 'repository', 'repositories')}
          </p>
        )}
      </div>
      <div class="toolbar">
        <label class="search">
          <span class="visually-hidden">Search repositories</span>
          <input
            ref={searchRef}
            type="search"
            data-search
            placeholder="Search repositories  ( / )"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') {
                rowsRef.current?.querySelector<HTMLElement>('[data-row]')?.focus();
                e.preventDefault();
              }
              if (e.key === 'Enter') {
                const first = rowsRef.current?.querySelector<HTMLAnchorElement>('[data-row]');
                if (first && items.length === 1) first.click();
              }
            }}
            autoComplete="off"
            spellcheck={false}
            maxLength={255}
          />
        </label>
        <SortControls sorts={REPOSITORY_SORTS} {...sortProps} />
      </div>
      {error !== undefined && <ErrorNote error={error} onRetry={() => void load(null)} />}
      {!listing && loading && <Loading what="Loading repositories" />}
      {listing && items.length === 0 && !error && (
        <RepositoriesEmpty searched={list.q} host={host} anonymous={state.kind === 'anonymous'} />
      )}
      {items.length > 0 && (
        <div class="table-wrap" ref={rowsRef} aria-busy={loading}>
          <table class="list repositories">
            <thead>
              <tr>
                <SortHeader label="Name" value="name" {...sortProps} />
                <SortHeader label="Tags" value="tags" class="num" {...sortProps} />
                <SortHeader label="Size" value="size" class="num" {...sortProps} />
                <SortHeader label="Last push" value="pushed" {...sortProps} />
                <SortHeader label="Last pull" value="pulled" {...sortProps} />
              </tr>
            </thead>
            <tbody>
              {items.map((repository) => (
                <tr key={repository.name}>
                  <td class="name-cell">
                    <a data-row href={routes.repository(repository.name)} class="row-link">
                      {repository.name}
                    </a>
                    {repository.description && <p class="description">{repository.description}</p>}
                  </td>
                  <td class="num" data-label="Tags">
                    {formatCount(repository.tagCount)}
                  </td>
                  <td class="num" data-label="Size">
                    {formatBytes(repository.size)}
                  </td>
                  <td data-label="Pushed">
                    <Time value={repository.lastPushAt} />
                  </td>
                  <td data-label="Pulled" title={plural(repository.pullCount, 'pull')}>
                    <Time value={repository.lastPullAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {listing && (
        <div class="more">
          {listing.next ? (
            <button type="button" onClick={() => void load(listing.next)} disabled={loading}>
              {loading ? 'Loading…' : `Show ${Math.min(PAGE_SIZE, listing.total - items.length)} more`}
            </button>
          ) : null}
          {items.length > 0 && (
            <span class="muted">
              {formatCount(items.length)} of {formatCount(listing.total)} shown
            </span>
          )}
        </div>
      )}
    </section>
  );
}

function RepositoriesEmpty({
  searched,
  host,
  anonymous,
}: {
  searched: string;
  host: string;
  anonymous: boolean;
}) {
  const { route } = useLocation();
  if (searched) {
    return (
      <Empty title={`No repository name contains “${searched}”.`}>
        <p>
          Names are lower case, like <code>team/app</code>.{' '}
          <button type="button" class="link" onClick={() => route('/', true)}>
            Clear the search
          </button>
        </p>
      </Empty>
    );
  }
  if (anonymous) {
    return (
      <Empty title="No public repositories here.">
        <p>
          <a href="/sign-in">Sign in</a> to see the repositories of your namespaces.
        </p>
      </Empty>
    );
  }
  return (
    <Empty title="No repositories yet.">
      <p>Push an image and it shows up here:</p>
      <PushHelp host={host} />
    </Empty>
  );
}
