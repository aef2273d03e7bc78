// The management API's repositories and tags (/api/v1/repositories), as routes of Berth's one route
// table (routes.ts): glue between the zod-checked input and the catalog service (registry/catalog.ts).
// - A repository name holds '/', hence `*name`; its sub-resources follow `/-/` (as in GitLab's API:
//   `/repositories/team/app/-/tags/v1`), a component no repository name can hold, so any name works.
//   The route table matches the bare `/repositories/*name` last (routes.ts).
// - Paging is by cursor: `next` of one answer is the `cursor` of the next request, with the same
//   sort and order. A cursor is the key of the last row seen (base64url JSON), so pages stay right
//   while repositories and tags come and go.
// - A copy names its target in the query (`?to=[<repository>:]<tag>`, as docker tag names one),
//   not in a body, so that the route's access can ask for push on the target as it asks for pull
//   on the source: access is decided from the path and query alone (route-spec.ts AccessOf).
import type { Context } from 'koa';
import { z } from 'zod';
import { InvalidInputError } from '../../auth/errors.js';
import type { RegistryEvent } from '../../events/registry-event.js';
import type { RepositoryKey, RepositorySummary, TagKey } from '../../registry/catalog-store.js';
import { TAG_PATTERN } from '../../registry/catalog-store.js';
import type { TagView } from '../../registry/catalog.js';
import {
  parseDigest,
  parseReference,
  parseRepoName,
  parseTag,
  type RepoName,
  type Tag,
} from '../../registry/references.js';
import type { Registry } from '../../registry/registry.js';
import { authState, catalog, repository } from '../access.js';
import { manifestDeleted, manifestPushed, repositoryDeleted } from '../events.js';
import { respondEmpty } from '../respond.js';
import { API_PREFIX, defineRoute, type AccessOf, type Query, type RouteSpec } from '../route-spec.js';

const REPOSITORIES = 'Repositories';
const TAGS = 'Tags';
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;
const DESCRIPTION_MAX = 1024;

const isoTime = z.string().describe('ISO 8601 time');
const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms ? iso(ms) : null);

const RepositoryView = z.object({
  name: z.string(),
  description: z.string().nullable(),
  size: z.number().int().describe('deduplicated bytes: each distinct blob once, plus the manifests'),
  tagCount: z.number().int(),
  manifestCount: z.number().int(),
  createdAt: isoTime,
  lastPushAt: isoTime.nullable(),
  lastPullAt: isoTime.nullable(),
  pullCount: z.number().int(),
});
const RepositoryList = z.object({
  repositories: z.array(RepositoryView),
  total: z.number().int().describe('every match, not only this page'),
  next: z.string().nullable().describe('the cursor of the next page; null on the last one'),
});
const RepositoryDeleted = z.object({
  name: z.string(),
  deleted: z.object({ tags: z.number().int(), manifests: z.number().int(), blobs: z.number().int() }),
});
const TagViewSchema = z.object({
  name: z.string(),
  digest: z.string(),
  mediaType: z.string(),
  artifactType: z.string().nullable(),
  size: z
    .number()
    .int()
    .describe('the manifest and each distinct digest it references (an index: its children)'),
  platforms: z.array(z.string()).nullable().describe('of an index: os/arch[/variant]'),
  created: z.string().nullable().describe("the image config's created time"),
  pushedAt: isoTime,
  lastPulledAt: isoTime.nullable(),
  annotations: z.record(z.string(), z.string()).nullable(),
  referrers: z.number().int().describe('manifests whose subject is this one (signatures, SBOMs)'),
  immutable: z.boolean(),
});
const TagList = z.object({
  repository: z.string(),
  tags: z.array(TagViewSchema),
  total: z.number().int(),
  next: z.string().nullable(),
});
const CopiedTag = TagViewSchema.extend({ repository: z.string() });

const repoName = z.string().transform((raw) => parseRepoName(raw));
const NameParams = z.object({ name: repoName });
const TagParams = z.object({ name: repoName, tag: z.string().transform((raw) => parseTag(raw)) });
const DigestParams = z.object({
  name: repoName,
  reference: z.string().transform((raw) => parseDigest(raw)),
});
const ReferenceParams = z.object({
  name: repoName,
  reference: z.string().transform((raw) => parseReference(raw)),
});
const ManifestInspectionView = z.object({
  digest: z.string(),
  mediaType: z.string(),
  size: z.number().int(),
  manifest: z.record(z.string(), z.unknown()).describe('the manifest JSON, as /v2 serves it'),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('the image config; null for an index or artifact'),
  referrers: z.array(
    z.object({
      mediaType: z.string(),
      digest: z.string(),
      size: z.number().int(),
      artifactType: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});

const limit = z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT);
const order = z.enum(['asc', 'desc']).optional().describe('default: asc by name, desc otherwise');
const cursor = z.string().max(1024).optional().describe('`next` of the previous page');
const RepositoryListQuery = z.object({
  q: z.string().max(255).optional().describe('only names containing this'),
  sort: z.enum(['name', 'pushed', 'pulled', 'size', 'tags']).default('name'),
  order,
  limit,
  cursor,
});
const TagListQuery = z.object({
  pattern: z
    .string()
    .regex(TAG_PATTERN, 'tag characters and * only')
    .optional()
    .describe('a glob over tag names: * matches any run of characters'),
  sort: z.enum(['name', 'semver', 'pushed']).default('pushed'),
  order,
  limit,
  cursor,
});
const DescriptionChange = z.strictObject({ description: z.string().max(DESCRIPTION_MAX).nullable() });
const CopyQuery = z.object({
  to: z.string().min(1).describe('the target, `[<repository>:]<tag>` (the same repository when omitted)'),
});
const NoBody = z.strictObject({}).optional();

/** `[<repository>:]<tag>`: names and tags hold no ':'. */
function parseTarget(raw: unknown, source: string): { repository: RepoName; tag: Tag } {
  if (typeof raw !== 'string' || raw === '')
    throw new InvalidInputError('to', 'expected [<repository>:]<tag>');
  const colon = raw.lastIndexOf(':');
  return {
    repository: parseRepoName(colon < 0 ? source : raw.slice(0, colon)),
    tag: parseTag(raw.slice(colon + 1)),
  };
}

const firstValue = (value: Query[string]) => (Array.isArray(value) ? value[0] : value);
const name = (p: Record<string, string>) => parseRepoName(p.name ?? '');
const pull: AccessOf = (p) => [repository(name(p), 'pull')];
const push: AccessOf = (p) => [repository(name(p), 'pull', 'push')];
const remove: AccessOf = (p) => [repository(name(p), 'delete')];
/**
 * Pull on the source and push on the target. Without a `to` there is no target: the input check
 * refuses the request (400) once the caller is authorized to pull the source.
 */
const copy: AccessOf = (p, q) => {
  const to = firstValue(q.to);
  const source = repository(name(p), 'pull');
  if (to === undefined || to === '') return [source];
  return [source, repository(parseTarget(to, name(p)).repository, 'pull', 'push')];
};

const Cursor = z.tuple([z.string(), z.string(), z.number(), z.string()]);

function encodeCursor(sort: string, direction: string, key: { value: number; name: string }): string {
  return Buffer.from(JSON.stringify([sort, direction, key.value, key.name])).toString('base64url');
}

/** The key a cursor holds; 400 INVALID unless it comes from a listing with this sort and order. */
function decodeCursor(raw: string | undefined, sort: string, direction: string) {
  if (raw === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const parsed = Cursor.safeParse(decoded);
  if (!parsed.success) throw new InvalidInputError('cursor', 'not a cursor of this API');
  const [cursorSort, cursorOrder, value, keyName] = parsed.data;
  if (cursorSort !== sort || cursorOrder !== direction) {
    throw new InvalidInputError('cursor', `it pages a listing sorted by ${cursorSort} ${cursorOrder}`);
  }
  return { value, name: keyName };
}

const defaultOrder = (sort: string) => (sort === 'name' ? 'asc' : 'desc');

function repositoryView(summary: RepositorySummary) {
  return {
    name: summary.name,
    description: summary.description,
    size: summary.size,
    tagCount: summary.tagCount,
    manifestCount: summary.manifestCount,
    createdAt: iso(summary.createdAt),
    lastPushAt: isoOrNull(summary.lastPushAt),
    lastPullAt: isoOrNull(summary.lastPullAt),
    pullCount: summary.pullCount,
  };
}

function tagView(tag: TagView) {
  return {
    name: tag.name,
    digest: tag.digest,
    mediaType: tag.mediaType,
    artifactType: tag.artifactType,
    size: tag.size,
    platforms: tag.platforms,
    created: tag.created,
    pushedAt: iso(tag.pushedAt),
    lastPulledAt: isoOrNull(tag.lastPulledAt),
    annotations: tag.annotations,
    referrers: tag.referrers,
    immutable: tag.immutable,
  };
}

/** A copy is a push of the manifest under the target tag (made from the answer, which names both). */
function tagCopied(ctx: Context): RegistryEvent | undefined {
  const body = ctx.body as { repository: string; name: string; mediaType: string };
  const event = manifestPushed(ctx, { name: body.repository, reference: body.name });
  if (!event) return undefined;
  event.target.mediaType = body.mediaType;
  delete event.target.size;
  return event;
}

export function repositoryRoutes(registry: Registry): RouteSpec[] {
  const { catalog: service } = registry;
  const repositoryPath = `${API_PREFIX}/repositories/*name`;
  const tagPath = `${repositoryPath}/-/tags/:tag`;
  const notFound = { 404: { description: 'no such repository or tag' } };
  return [
    defineRoute({
      method: 'POST',
      path: `${tagPath}/copy`,
      summary: 'Copy (retag) a tag server-side, also to another repository (?to=[<repository>:]<tag>)',
      group: TAGS,
      access: { scopes: copy },
      params: TagParams,
      query: CopyQuery,
      body: NoBody,
      responses: {
        201: { description: 'the target tag', body: CopiedTag },
        403: { description: 'an immutable target tag or a quota refused it' },
        ...notFound,
      },
      async handler(ctx, { params, query }) {
        const target = parseTarget(query.to, params.name);
        const copied = await service.copyTag(
          { repository: params.name, reference: { kind: 'tag', tag: params.tag } },
          target,
        );
        ctx.status = 201;
        ctx.set('Docker-Content-Digest', copied.digest);
        ctx.body = { repository: target.repository, ...tagView(copied) };
      },
      event: tagCopied,
    }),
    defineRoute({
      method: 'GET',
      path: tagPath,
      summary: 'A tag: its manifest, size, platforms, created time, pushes and pulls, referrers',
      group: TAGS,
      access: { scopes: pull },
      params: TagParams,
      responses: { 200: { description: 'the tag', body: TagViewSchema }, ...notFound },
      async handler(ctx, { params }) {
        ctx.body = tagView(await service.tag(params.name, params.tag));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: tagPath,
      summary: 'Delete a tag (its manifest stays)',
      group: TAGS,
      access: { scopes: remove },
      params: TagParams,
      responses: {
        204: { description: 'deleted' },
        403: { description: 'the tag is immutable' },
        ...notFound,
      },
      async handler(ctx, { params }) {
        await service.deleteTag(params.name, params.tag);
        respondEmpty(ctx, 204);
      },
      event: (ctx, p) => manifestDeleted(ctx, { name: p.name, reference: p.tag }),
    }),
    defineRoute({
      method: 'GET',
      path: `${repositoryPath}/-/tags`,
      summary: 'Tags with their manifests, sorted by push time, name (numeric-aware) or semver',
      group: TAGS,
      access: { scopes: pull },
      params: NameParams,
      query: TagListQuery,
      responses: { 200: { description: 'a page of tags', body: TagList }, ...notFound },
      async handler(ctx, { params, query }) {
        const direction = query.order ?? defaultOrder(query.sort);
        const key = decodeCursor(query.cursor, query.sort, direction);
        const listing = await service.listTags(params.name, {
          pattern: query.pattern,
          sort: query.sort,
          order: direction,
          limit: query.limit,
          after: key && ({ pushedAt: key.value, name: key.name as Tag } satisfies TagKey),
        });
        const next = listing.next;
        ctx.body = {
          repository: params.name,
          tags: listing.tags.map(tagView),
          total: listing.total,
          next: next ? encodeCursor(query.sort, direction, { value: next.pushedAt, name: next.name }) : null,
        };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${repositoryPath}/-/manifests/:reference`,
      summary: 'Delete a manifest (by digest) and the tags pointing at it',
      group: TAGS,
      access: { scopes: remove },
      params: DigestParams,
      responses: {
        204: { description: 'deleted' },
        403: { description: 'an immutable tag points at it' },
        ...notFound,
      },
      async handler(ctx, { params }) {
        await service.deleteManifest(params.name, params.reference);
        respondEmpty(ctx, 204);
      },
      event: (ctx, p) => manifestDeleted(ctx, { name: p.name, reference: p.reference }),
    }),
    defineRoute({
      method: 'GET',
      path: `${repositoryPath}/-/manifests/:reference`,
      summary: 'A manifest by tag or digest: its JSON, its image config and its referrers',
      group: TAGS,
      access: { scopes: pull },
      params: ReferenceParams,
      responses: { 200: { description: 'the manifest', body: ManifestInspectionView }, ...notFound },
      async handler(ctx, { params }) {
        ctx.body = await registry.inspection.inspect(params.name, params.reference);
      },
    }),
    defineRoute({
      method: 'GET',
      path: repositoryPath,
      summary: 'A repository: size, tag and manifest counts, pushes and pulls, description',
      group: REPOSITORIES,
      access: { scopes: pull },
      params: NameParams,
      responses: { 200: { description: 'the repository', body: RepositoryView }, ...notFound },
      async handler(ctx, { params }) {
        ctx.body = repositoryView(await service.repository(params.name));
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: repositoryPath,
      summary: "Set a repository's description (null clears it)",
      group: REPOSITORIES,
      access: { scopes: push },
      params: NameParams,
      body: DescriptionChange,
      responses: { 200: { description: 'the repository', body: RepositoryView }, ...notFound },
      async handler(ctx, { params, body }) {
        ctx.body = repositoryView(await service.setDescription(params.name, body.description));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: repositoryPath,
      summary: 'Delete a repository: its tags, manifests and blob links (bytes go with garbage collection)',
      group: REPOSITORIES,
      access: { scopes: remove },
      params: NameParams,
      responses: {
        200: { description: 'what was deleted', body: RepositoryDeleted },
        403: { description: 'an immutable tag protects it' },
        ...notFound,
      },
      event: repositoryDeleted,
      async handler(ctx, { params }) {
        const deleted = await service.deleteRepository(params.name);
        ctx.body = { name: params.name, deleted };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/repositories`,
      summary: 'Repositories the caller may read, searched, sorted and paged, with the total',
      group: REPOSITORIES,
      access: { scopes: () => [catalog] },
      query: RepositoryListQuery,
      responses: { 200: { description: 'a page of repositories', body: RepositoryList } },
      async handler(ctx, { query }) {
        const direction = query.order ?? defaultOrder(query.sort);
        const key = decodeCursor(query.cursor, query.sort, direction);
        const readable = authState(ctx).readable;
        const listing = await service.listRepositories({
          search: query.q,
          sort: query.sort,
          order: direction,
          limit: query.limit,
          after: key && ({ value: key.value, name: key.name as RepoName } satisfies RepositoryKey),
          readable,
        });
        ctx.body = {
          repositories: listing.repositories.map(repositoryView),
          total: listing.total,
          next: listing.next ? encodeCursor(query.sort, direction, listing.next) : null,
        };
      },
    }),
  ];
}
