// The management API's namespace rules, as routes of Berth's one route table (routes.ts): glue between
// the zod-checked input and the policy store and retention (src/policies).
// - Namespaces are the first component of repository names (`team` for team/app), in every auth mode:
//   rules need no accounts-store namespace. Paths sit below the accounts API's /namespaces/:name.
// - Who may: a quota is set by global administrators and seen with its usage by the namespace's
//   members; immutable-tag rules and retention policies are set by the namespace's administrators
//   (a repository's policy: whoever may delete in it). In auth modes without accounts, whoever the
//   registry admits.
// - A repository name holds '/', hence `*name`; its sub-resources follow `/-/` (as in GitLab's API), a
//   component no repository name can hold, so `/repositories/team/app/-/retention` is unambiguous.
// - An absent quota or policy reads as null; PUT replaces the whole quota, rule list or policy.
import { z } from 'zod';
import { durationMs } from '../../config/schema.js';
import { REPOSITORY_PATTERN, TAG_PATTERN } from '../../policies/glob.js';
import type { PolicyStore, RetentionPolicy, RetentionScope } from '../../policies/policy-store.js';
import type { Retention, RetentionReport } from '../../policies/retention.js';
import { NAME_COMPONENT, parseRepoName } from '../../registry/references.js';
import { repository } from '../access.js';
import { respondEmpty } from '../respond.js';
import { API_PREFIX, defineRoute, type AccessOf, type RouteSpec } from '../route-spec.js';

const GROUP = 'Namespace policies';
const MAX_RULES = 100;
const MAX_PATTERNS = 100;
const MAX_KEEP = 100_000;

const isoTime = z.string().describe('ISO 8601 time');
const isDuration = (value: string) => {
  try {
    return durationMs(value) > 0;
  } catch {
    return false;
  }
};

const namespace = z.string().regex(new RegExp(`^${NAME_COMPONENT}$`), 'a repository name component');
const NamespaceParams = z.object({ namespace });
const RepositoryParams = z.object({ name: z.string().transform((raw) => parseRepoName(raw)) });

const tagPattern = z.string().regex(TAG_PATTERN, 'tag characters and * only');
const QuotaView = z.object({
  namespace: z.string(),
  limitBytes: z.number().int().nullable().describe('null: no quota'),
  usedBytes: z.number().int().describe('deduplicated bytes of its blobs and manifests'),
});
const QuotaList = z.object({ namespaces: z.array(QuotaView) });
const QuotaChange = z.strictObject({ limitBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });

const ImmutableTagRule = z.strictObject({
  tags: tagPattern.describe('a glob over tag names: * matches any run of characters'),
  repositories: z
    .string()
    .regex(REPOSITORY_PATTERN, 'repository name characters and * only')
    .nullable()
    .default(null)
    .describe('a glob over whole repository names; null or absent: every repository of the namespace'),
});
const ImmutableTagRules = z.object({
  namespace: z.string(),
  rules: z.array(ImmutableTagRule.required()),
});
const ImmutableTagRulesChange = z.strictObject({ rules: z.array(ImmutableTagRule).max(MAX_RULES) });

const RetentionPolicySchema = z.strictObject({
  keepLatest: z
    .strictObject({
      count: z.number().int().min(1).max(MAX_KEEP),
      by: z.enum(['pushed', 'pulled']).default('pushed'),
    })
    .nullable()
    .default(null)
    .describe('keep the `count` tags most recently pushed (or pulled)'),
  keepPatterns: z.array(tagPattern).max(MAX_PATTERNS).default([]).describe('keep the tags matching these'),
  untaggedAfter: z
    .string()
    .refine(isDuration, 'a duration such as "12h" or "7d"')
    .nullable()
    .default(null)
    .describe('delete untagged manifests neither pushed nor pulled for this long'),
});
const RetentionView = z.object({
  scope: z.enum(['namespace', 'repository']),
  name: z.string(),
  policy: RetentionPolicySchema.required().nullable().describe('null: none set here'),
});
const TagDeletion = z.object({ tag: z.string(), digest: z.string(), reason: z.string() });
const ManifestDeletion = z.object({ digest: z.string(), reason: z.string() });
const RetentionReportView = z.object({
  dryRun: z.boolean(),
  startedAt: isoTime,
  repositoriesExamined: z.number().int(),
  repositories: z.array(
    z.object({
      repository: z.string(),
      policy: z.enum(['namespace', 'repository']).describe('where the policy applied was set'),
      tags: z.array(TagDeletion).describe('deleted (a dry run: would be), first'),
      manifests: z.array(ManifestDeletion).describe('deleted after the tags, each before what it refers to'),
      skipped: z.array(z.object({ tag: z.string().optional(), digest: z.string(), reason: z.string() })),
    }),
  ),
  totals: z.object({ tags: z.number().int(), manifests: z.number().int(), skipped: z.number().int() }),
});
const RunQuery = z.object({
  dryRun: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true')
    .describe('true: report what would be deleted, delete nothing'),
});
const NoBody = z.strictObject({}).optional();

const repoName = (p: Record<string, string>) => parseRepoName(p.name ?? '');
const pull: AccessOf = (p) => [repository(repoName(p), 'pull')];
const remove: AccessOf = (p) => [repository(repoName(p), 'delete')];

const reportView = (report: RetentionReport) => ({
  ...report,
  startedAt: new Date(report.startedAt).toISOString(),
});

export interface PolicyRoutesDeps {
  store: PolicyStore;
  retention: Retention;
  clock: () => number;
}

export function policyRoutes({ store, retention, clock }: PolicyRoutesDeps): RouteSpec[] {
  const namespacePath = `${API_PREFIX}/namespaces/:namespace`;
  const retentionView = async (scope: RetentionScope) => ({
    scope: scope.kind,
    name: scope.name,
    policy: (await store.getRetentionPolicy(scope)) ?? null,
  });
  const retentionRoutes = (
    path: string,
    scopeOf: (params: Record<string, string>) => RetentionScope,
    params: z.ZodType<Record<string, string>>,
    access: { read: RouteSpec['access']; write: RouteSpec['access'] },
    what: string,
  ) => [
    defineRoute({
      method: 'GET',
      path,
      summary: `The retention policy of ${what}`,
      group: GROUP,
      access: access.read,
      params,
      responses: { 200: { description: 'the policy (null when none is set)', body: RetentionView } },
      async handler(ctx, input) {
        ctx.body = await retentionView(scopeOf(input.params));
      },
    }),
    defineRoute({
      method: 'PUT',
      path,
      summary: `Set the retention policy of ${what} (replaces it whole)`,
      group: GROUP,
      access: access.write,
      params,
      body: RetentionPolicySchema,
      responses: { 200: { description: 'the policy as stored', body: RetentionView } },
      async handler(ctx, input) {
        const scope = scopeOf(input.params);
        await store.setRetentionPolicy(scope, input.body as RetentionPolicy, clock());
        ctx.body = await retentionView(scope);
      },
    }),
    defineRoute({
      method: 'DELETE',
      path,
      summary: `Remove the retention policy of ${what}`,
      group: GROUP,
      access: access.write,
      params,
      responses: { 204: { description: 'removed (or there was none)' } },
      async handler(ctx, input) {
        await store.deleteRetentionPolicy(scopeOf(input.params));
        respondEmpty(ctx, 204);
      },
    }),
  ];

  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/quotas`,
      summary: 'Every namespace holding content or having a quota, with its usage',
      group: GROUP,
      access: { account: 'admin' },
      responses: { 200: { description: 'by namespace', body: QuotaList } },
      async handler(ctx) {
        ctx.body = { namespaces: await store.listUsage() };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${namespacePath}/quota`,
      summary: "A namespace's quota and usage (deduplicated bytes)",
      group: GROUP,
      access: { account: 'namespace-member' },
      params: NamespaceParams,
      responses: { 200: { description: 'the quota (null when none) and usage', body: QuotaView } },
      async handler(ctx, { params }) {
        ctx.body = await store.getUsage(params.namespace);
      },
    }),
    defineRoute({
      method: 'PUT',
      path: `${namespacePath}/quota`,
      summary: "Set a namespace's quota in bytes (pushes that would exceed it are refused)",
      group: GROUP,
      access: { account: 'admin' },
      params: NamespaceParams,
      body: QuotaChange,
      responses: { 200: { description: 'the quota and usage', body: QuotaView } },
      async handler(ctx, { params, body }) {
        await store.setQuota(params.namespace, body.limitBytes, clock());
        ctx.body = await store.getUsage(params.namespace);
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${namespacePath}/quota`,
      summary: "Remove a namespace's quota",
      group: GROUP,
      access: { account: 'admin' },
      params: NamespaceParams,
      responses: { 204: { description: 'removed (or there was none)' } },
      async handler(ctx, { params }) {
        await store.setQuota(params.namespace, null, clock());
        respondEmpty(ctx, 204);
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${namespacePath}/immutable-tags`,
      summary: "A namespace's immutable-tag rules",
      group: GROUP,
      access: { account: 'namespace-member' },
      params: NamespaceParams,
      responses: { 200: { description: 'the rules, in order', body: ImmutableTagRules } },
      async handler(ctx, { params }) {
        ctx.body = { namespace: params.namespace, rules: await store.listImmutableRules(params.namespace) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: `${namespacePath}/immutable-tags`,
      summary: "Set a namespace's immutable-tag rules (replaces them; an empty list removes them)",
      group: GROUP,
      access: { account: 'namespace-admin' },
      params: NamespaceParams,
      body: ImmutableTagRulesChange,
      responses: { 200: { description: 'the rules as stored', body: ImmutableTagRules } },
      async handler(ctx, { params, body }) {
        const rules = body.rules.map((rule) => ({
          tags: rule.tags,
          repositories: rule.repositories ?? null,
        }));
        await store.setImmutableRules(params.namespace, rules);
        ctx.body = { namespace: params.namespace, rules: await store.listImmutableRules(params.namespace) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${namespacePath}/retention/run`,
      summary: "Run the namespace's retention policies now (?dryRun=true: only report what would go)",
      group: GROUP,
      access: { account: 'namespace-admin' },
      params: NamespaceParams,
      query: RunQuery,
      body: NoBody,
      responses: {
        200: { description: 'what was (or would be) deleted, and why', body: RetentionReportView },
      },
      async handler(ctx, { params, query }) {
        ctx.body = reportView(await retention.runNamespace(params.namespace, { dryRun: query.dryRun }));
      },
    }),
    ...retentionRoutes(
      `${namespacePath}/retention`,
      (p) => ({ kind: 'namespace', name: p.namespace ?? '' }),
      NamespaceParams,
      { read: { account: 'namespace-member' }, write: { account: 'namespace-admin' } },
      'every repository of a namespace (a repository policy wins over it)',
    ),
    ...retentionRoutes(
      `${API_PREFIX}/repositories/*name/-/retention`,
      (p) => ({ kind: 'repository', name: parseRepoName(p.name ?? '') }),
      RepositoryParams,
      { read: { scopes: pull }, write: { scopes: remove } },
      'one repository (instead of its namespace policy)',
    ),
  ];
}
