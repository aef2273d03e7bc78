// The management API (/api/v1) as the UI calls it: one request function (credentials from the session,
// one retry after a 401 once the token is renewed, Berth's errors as ApiError) and one typed function
// per endpoint. Bodies are JSON (`Content-Type: application/json`, which Berth requires of every POST:
// a cross-site form cannot send it without a CORS preflight that Berth never approves).
import { readCapabilities, type Capabilities, type OpenApiDocument } from './capabilities.js';
import { ApiError, apiErrorOf, queryString, type Query } from './http.js';
import type { Session } from './session.js';
import type {
  Account,
  GcRun,
  GcRunList,
  ImmutableRule,
  ManifestDetail,
  Me,
  MirrorUpstream,
  Namespace,
  NamespaceWithMembers,
  Quota,
  Repository,
  RepositoryList,
  RetentionPolicy,
  RetentionReport,
  RetentionView,
  Role,
  Tag,
  TagList,
  WebhookEndpoint,
} from './types.js';

export interface ApiDeps {
  fetch: typeof fetch;
  session: Pick<Session, 'authorization' | 'unauthorized'>;
}

interface RequestOptions {
  query?: Query;
  body?: unknown;
}

/** A path segment; ':' stays as it is (digests read `sha256:…` in paths and logs, as /v2 has them). */
const enc = (segment: string) => encodeURIComponent(segment).replace(/%3A/gi, ':');
const encName = (name: string) => name.split('/').map(enc).join('/');

export function createApi({ fetch, session }: ApiDeps) {
  let capabilities: Promise<Capabilities> | undefined;

  async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = `/api/v1${path}${queryString(options.query)}`;
    const send = async () => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      const authorization = await session.authorization();
      if (authorization) headers.Authorization = authorization;
      if (method !== 'GET' && method !== 'DELETE') headers['Content-Type'] = 'application/json';
      return fetch(url, {
        method,
        headers,
        body: method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(options.body ?? {}),
      });
    };
    let res = await send();
    if (res.status === 401 && (await session.authorization()) && (await session.unauthorized())) {
      res = await send();
    }
    if (!res.ok) throw await apiErrorOf(res);
    if (res.status === 204 || res.headers.get('content-length') === '0') return undefined as T;
    return (await res.json()) as T;
  }

  const get = <T>(path: string, query?: Query) => request<T>('GET', path, { query });

  /** What this server's API offers (its OpenAPI document), read once. */
  function features(): Promise<Capabilities> {
    capabilities ??= get<OpenApiDocument>('/openapi.json').then(readCapabilities, (err: unknown) => {
      capabilities = undefined;
      throw err;
    });
    return capabilities;
  }

  /** A repository's sub-resource: `/-/` separates the name, which holds '/', from what follows. */
  const repoPath = (name: string, sub: string) => `/repositories/${encName(name)}/-/${sub}`;

  return {
    request,
    features,

    // Repositories and tags
    listRepositories: (query: Query) => get<RepositoryList>('/repositories', query),
    repository: (name: string) => get<Repository>(`/repositories/${encName(name)}`),
    setDescription: (name: string, description: string | null) =>
      request<Repository>('PATCH', `/repositories/${encName(name)}`, { body: { description } }),
    deleteRepository: (name: string) =>
      request<{ deleted: { tags: number; manifests: number } }>('DELETE', `/repositories/${encName(name)}`),
    listTags: (name: string, query: Query) => get<TagList>(repoPath(name, 'tags'), query),
    tag: (name: string, tag: string) => get<Tag>(repoPath(name, `tags/${enc(tag)}`)),
    deleteTag: (name: string, tag: string) => request<void>('DELETE', repoPath(name, `tags/${enc(tag)}`)),
    /** Retag: the tag's manifest under another tag, in this repository or another one. */
    copyTag: async (name: string, tag: string, to: { repository: string; tag: string }) => {
      const path = repoPath(name, `tags/${enc(tag)}/copy`);
      if ((await features()).copyInBody) {
        return request<Tag>('POST', path, { body: { to } });
      }
      const target = to.repository === name ? to.tag : `${to.repository}:${to.tag}`;
      return request<Tag>('POST', path, { query: { to: target } });
    },
    deleteManifest: (name: string, digest: string) =>
      request<void>('DELETE', repoPath(name, `manifests/${enc(digest)}`)),
    /** The manifest JSON, its image config and its referrers. */
    manifest: (name: string, reference: string) =>
      get<ManifestDetail>(repoPath(name, `manifests/${enc(reference)}`)),
    repositoryRetention: (name: string) => get<RetentionView>(repoPath(name, 'retention')),

    // Accounts (token mode)
    me: () => get<Me>('/me'),
    users: () => get<{ users: Account[] }>('/users'),
    addUser: (body: { name: string; password: string; admin?: boolean }) =>
      request<Account>('POST', '/users', { body }),
    removeUser: (name: string) => request<void>('DELETE', `/users/${enc(name)}`),
    setAdmin: (name: string, admin: boolean) =>
      request<Account>('PUT', `/users/${enc(name)}/admin`, { body: { admin } }),
    setPassword: (name: string, password: string, currentPassword?: string) =>
      request<void>('PUT', `/users/${enc(name)}/password`, {
        body: currentPassword ? { password, currentPassword } : { password },
      }),
    robots: () => get<{ robots: Account[] }>('/robots'),
    robot: (name: string) => get<Me>(`/robots/${enc(name)}`),
    addRobot: (body: {
      name: string;
      description?: string | null;
      grants?: Array<{ namespace: string; role: Role }>;
    }) => request<Account & { secret: string }>('POST', '/robots', { body }),
    rotateRobotSecret: (name: string) => request<{ secret: string }>('POST', `/robots/${enc(name)}/secret`),
    removeRobot: (name: string) => request<void>('DELETE', `/robots/${enc(name)}`),
    namespaces: () => get<{ namespaces: Namespace[] }>('/namespaces'),
    namespace: (name: string) => get<NamespaceWithMembers>(`/namespaces/${enc(name)}`),
    addNamespace: (body: { name: string; public: boolean }) =>
      request<Namespace>('POST', '/namespaces', { body }),
    setNamespacePublic: (name: string, isPublic: boolean) =>
      request<Namespace>('PATCH', `/namespaces/${enc(name)}`, { body: { public: isPublic } }),
    removeNamespace: (name: string) => request<void>('DELETE', `/namespaces/${enc(name)}`),
    setMember: (namespace: string, account: string, role: Role) =>
      request<unknown>('PUT', `/namespaces/${enc(namespace)}/members/${enc(account)}`, { body: { role } }),
    removeMember: (namespace: string, account: string) =>
      request<void>('DELETE', `/namespaces/${enc(namespace)}/members/${enc(account)}`),

    // Namespace policies (every auth mode)
    quotas: () => get<{ namespaces: Quota[] }>('/quotas'),
    quota: (namespace: string) => get<Quota>(`/namespaces/${enc(namespace)}/quota`),
    setQuota: (namespace: string, limitBytes: number) =>
      request<Quota>('PUT', `/namespaces/${enc(namespace)}/quota`, { body: { limitBytes } }),
    removeQuota: (namespace: string) => request<void>('DELETE', `/namespaces/${enc(namespace)}/quota`),
    immutableRules: (namespace: string) =>
      get<{ namespace: string; rules: ImmutableRule[] }>(`/namespaces/${enc(namespace)}/immutable-tags`),
    setImmutableRules: (namespace: string, rules: ImmutableRule[]) =>
      request<{ rules: ImmutableRule[] }>('PUT', `/namespaces/${enc(namespace)}/immutable-tags`, {
        body: { rules },
      }),
    retention: (namespace: string) => get<RetentionView>(`/namespaces/${enc(namespace)}/retention`),
    setRetention: (namespace: string, policy: RetentionPolicy) =>
      request<RetentionView>('PUT', `/namespaces/${enc(namespace)}/retention`, { body: policy }),
    removeRetention: (namespace: string) =>
      request<void>('DELETE', `/namespaces/${enc(namespace)}/retention`),
    runRetention: (namespace: string, dryRun: boolean) =>
      request<RetentionReport>('POST', `/namespaces/${enc(namespace)}/retention/run`, {
        query: { dryRun },
      }),

    // Operations
    mirror: () => get<{ upstreams: MirrorUpstream[] }>('/mirror'),
    notifications: () => get<{ endpoints: WebhookEndpoint[] }>('/notifications'),
    /** Newest first; `cursor`: next of the previous page. */
    gcRuns: (cursor?: string) => get<GcRunList>('/gc/runs', { cursor }),
    /** Starts a run in the background: answers its record (running); 409 while another one runs. */
    startGc: (dryRun: boolean) => request<GcRun>('POST', '/gc/runs', { body: { dryRun } }),
  };
}

export type Api = ReturnType<typeof createApi>;

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
