// Administration: namespaces (members, quota, immutable tags, retention), users, robot accounts,
// storage (quotas, garbage collection), the mirror and webhooks. Each section appears for those who
// may use it: global administrators (and everyone in auth modes none and htpasswd) see all; a
// namespace administrator sees the namespaces. Accounts exist in token mode only.
import type { ComponentChildren } from 'preact';
import { useApp } from '../app-context.js';
import { useTitle } from '../hooks.js';
import { administeredNamespaces, isAdministrator } from '../lib/permissions.js';
import { routes } from '../lib/routes.js';
import { NotFoundPage } from './not-found.js';
import { NamespacePage, NamespacesPage } from './admin/namespaces.js';
import { RobotsPage, UsersPage } from './admin/accounts.js';
import { StoragePage } from './admin/storage.js';
import { MirrorPage, WebhooksPage } from './admin/operations.js';

interface Section {
  id: string;
  label: string;
  render: (item: string) => ComponentChildren;
}

export function AdminPage({ params }: { path?: string; params?: Record<string, string | undefined> }) {
  useTitle('Administration');
  const { state } = useApp();
  const [section = '', ...rest] = (params?.rest ?? '').split('/').filter(Boolean);
  const item = rest.join('/');
  const admin = isAdministrator(state);
  const tokenMode = 'info' in state && state.info.authMode === 'token';
  const namespaceAdmin = administeredNamespaces(state).length > 0;

  if (!admin && !namespaceAdmin) {
    return (
      <section>
        <h1>Administration</h1>
        <p>
          {state.kind === 'anonymous' ? (
            <>
              <a href={routes.signIn('/admin')}>Sign in</a> as an administrator.
            </>
          ) : (
            'Your account administers nothing here: a global administrator can make you the admin of a namespace.'
          )}
        </p>
      </section>
    );
  }

  const sections: Section[] = [
    {
      id: 'namespaces',
      label: 'Namespaces',
      render: (name) => (name ? <NamespacePage name={name} /> : <NamespacesPage />),
    },
  ];
  if (admin && tokenMode) {
    sections.push({ id: 'users', label: 'Users', render: () => <UsersPage /> });
    sections.push({ id: 'robots', label: 'Robot accounts', render: () => <RobotsPage /> });
  }
  if (admin) {
    sections.push({ id: 'storage', label: 'Storage', render: () => <StoragePage /> });
    sections.push({ id: 'mirror', label: 'Mirror', render: () => <MirrorPage /> });
    sections.push({ id: 'webhooks', label: 'Webhooks', render: () => <WebhooksPage /> });
  }
  const current = sections.find((s) => s.id === (section || 'namespaces'));

  return (
    <section class="admin">
      <h1 class="visually-hidden">Administration</h1>
      <nav class="tabs" aria-label="Administration">
        {sections.map((s) => (
          <a key={s.id} href={routes.admin(s.id)} aria-current={s.id === current?.id ? 'page' : undefined}>
            {s.label}
          </a>
        ))}
      </nav>
      {current ? current.render(item) : <NotFoundPage />}
    </section>
  );
}
