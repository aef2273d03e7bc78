// PolicyStore on SQLite: the only place with the namespace rules' SQL for it (tables and usage triggers
// of migrations/010-policies.ts). Each call is one statement, or one transaction of a few, run
// synchronously through the connection's lock (connection-lock.ts). Nothing here changes the index
// (tags, manifests, links): retention deletes through the registry, so the read cache needs no mark.
import type {
  ImmutableTagRule,
  InventoryManifest,
  NamespaceUsage,
  PolicyStore,
  RepositoryInventory,
  RetentionPolicy,
  RetentionScope,
  StoredRetentionPolicy,
} from '../policies/policy-store.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';
import { asAsync, type Synchronous } from './as-async.js';
import { connectionLock } from './connection-lock.js';
import type { SqliteDatabase } from './db.js';

interface UsageRow {
  namespace: string;
  limit_bytes: number | null;
  bytes: number | null;
}

interface RetentionRow {
  scope: RetentionScope['kind'];
  name: string;
  keep_latest_count: number | null;
  keep_latest_by: 'pushed' | 'pulled' | null;
  keep_patterns: string;
  untagged_after: string | null;
  updated_at: number;
}

const toUsage = (row: UsageRow): NamespaceUsage => ({
  namespace: row.namespace,
  limitBytes: row.limit_bytes,
  usedBytes: row.bytes ?? 0,
});

const toRetentionPolicy = (row: RetentionRow): RetentionPolicy => ({
  keepLatest:
    row.keep_latest_count === null || row.keep_latest_by === null
      ? null
      : { count: row.keep_latest_count, by: row.keep_latest_by },
  keepPatterns: JSON.parse(row.keep_patterns) as string[],
  untaggedAfter: row.untagged_after,
});

/** The namespace's repositories are itself and the names below `namespace/`: a range of the name index. */
const namespaceRange = (namespace: string) => ({ namespace, from: `${namespace}/`, to: `${namespace}0` });

export function createSqlitePolicyStore(db: SqliteDatabase): PolicyStore {
  const repoId = '(SELECT id FROM repositories WHERE name = @repository)';
  const statements = {
    listRules: db.prepare(
      `SELECT tag_pattern, repository_pattern FROM immutable_tag_rules WHERE namespace = ? ORDER BY position`,
    ),
    deleteRules: db.prepare('DELETE FROM immutable_tag_rules WHERE namespace = ?'),
    insertRule: db.prepare(
      `INSERT INTO immutable_tag_rules (namespace, position, tag_pattern, repository_pattern)
       VALUES (@namespace, @position, @tags, @repositories)`,
    ),
    getUsage: db.prepare(
      `SELECT @namespace AS namespace,
         (SELECT limit_bytes FROM namespace_quotas WHERE namespace = @namespace) AS limit_bytes,
         (SELECT bytes FROM namespace_usage WHERE namespace = @namespace) AS bytes`,
    ),
    listUsage: db.prepare(
      `SELECT n.namespace, q.limit_bytes, u.bytes
       FROM (SELECT namespace FROM namespace_quotas UNION SELECT namespace FROM namespace_usage WHERE bytes > 0) n
       LEFT JOIN namespace_quotas q ON q.namespace = n.namespace
       LEFT JOIN namespace_usage u ON u.namespace = n.namespace
       ORDER BY n.namespace`,
    ),
    setQuota: db.prepare(
      `INSERT INTO namespace_quotas (namespace, limit_bytes, updated_at) VALUES (@namespace, @limit, @at)
       ON CONFLICT (namespace) DO UPDATE SET limit_bytes = excluded.limit_bytes, updated_at = excluded.updated_at`,
    ),
    deleteQuota: db.prepare('DELETE FROM namespace_quotas WHERE namespace = ?'),
    quotaStanding: db.prepare(
      `SELECT (SELECT limit_bytes FROM namespace_quotas WHERE namespace = @namespace) AS limit_bytes,
         (SELECT bytes FROM namespace_usage WHERE namespace = @namespace) AS bytes,
         EXISTS (SELECT 1 FROM namespace_digests WHERE namespace = @namespace AND digest = @digest) AS counted`,
    ),
    getRetention: db.prepare('SELECT * FROM retention_policies WHERE scope = @scope AND name = @name'),
    setRetention: db.prepare(
      `INSERT INTO retention_policies
         (scope, name, keep_latest_count, keep_latest_by, keep_patterns, untagged_after, updated_at)
       VALUES (@scope, @name, @count, @by, @patterns, @untaggedAfter, @at)
       ON CONFLICT (scope, name) DO UPDATE SET keep_latest_count = excluded.keep_latest_count,
         keep_latest_by = excluded.keep_latest_by, keep_patterns = excluded.keep_patterns,
         untagged_after = excluded.untagged_after, updated_at = excluded.updated_at`,
    ),
    deleteRetention: db.prepare('DELETE FROM retention_policies WHERE scope = @scope AND name = @name'),
    listRetention: db.prepare('SELECT * FROM retention_policies ORDER BY scope, name'),
    namespaceRepositories: db.prepare(
      `SELECT name FROM repositories r
       WHERE (name = @namespace OR (name >= @from AND name < @to))
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
       ORDER BY name`,
    ),
    inventoryTags: db.prepare(
      `SELECT name, digest, updated_at, last_pulled_at FROM tags WHERE repository_id = ${repoId} ORDER BY name`,
    ),
    inventoryManifests: db.prepare(
      `SELECT digest, created_at, last_pulled_at, subject_digest FROM manifests
       WHERE repository_id = ${repoId} ORDER BY digest`,
    ),
    inventoryChildren: db.prepare(
      `SELECT manifest_digest, target_digest FROM manifest_references
       WHERE repository_id = ${repoId} AND kind = 'manifest'`,
    ),
    tagsOf: db.prepare(
      `SELECT name FROM tags WHERE repository_id = ${repoId} AND digest = @digest ORDER BY name`,
    ),
  };

  const setRules = db.transaction((namespace: string, rules: readonly ImmutableTagRule[]) => {
    statements.deleteRules.run(namespace);
    rules.forEach((rule, position) =>
      statements.insertRule.run({ namespace, position, tags: rule.tags, repositories: rule.repositories }),
    );
  });

  // One read transaction: the tags, manifests and references of one moment.
  const inventory = db.transaction((repository: RepoName): RepositoryInventory => {
    const tags = (
      statements.inventoryTags.all({ repository }) as Array<{
        name: Tag;
        digest: Digest;
        updated_at: number;
        last_pulled_at: number | null;
      }>
    ).map((row) => ({
      name: row.name,
      digest: row.digest,
      pushedAt: row.updated_at,
      pulledAt: row.last_pulled_at,
    }));
    const children = new Map<Digest, Digest[]>();
    for (const row of statements.inventoryChildren.all({ repository }) as Array<{
      manifest_digest: Digest;
      target_digest: Digest;
    }>) {
      children.set(row.manifest_digest, [...(children.get(row.manifest_digest) ?? []), row.target_digest]);
    }
    const manifests = (
      statements.inventoryManifests.all({ repository }) as Array<{
        digest: Digest;
        created_at: number;
        last_pulled_at: number | null;
        subject_digest: Digest | null;
      }>
    ).map((row): InventoryManifest => ({
      digest: row.digest,
      pushedAt: row.created_at,
      pulledAt: row.last_pulled_at,
      subject: row.subject_digest,
      children: (children.get(row.digest) ?? []).sort(),
    }));
    return { tags, manifests };
  });

  const store: Synchronous<PolicyStore> = {
    listImmutableRules: (namespace) =>
      (
        statements.listRules.all(namespace) as Array<{
          tag_pattern: string;
          repository_pattern: string | null;
        }>
      ).map((row) => ({ tags: row.tag_pattern, repositories: row.repository_pattern })),
    setImmutableRules: (namespace, rules) => setRules(namespace, rules),

    getUsage: (namespace) => toUsage(statements.getUsage.get({ namespace }) as UsageRow),
    listUsage: () => (statements.listUsage.all() as UsageRow[]).map(toUsage),
    setQuota(namespace, limit, at) {
      if (limit === null) statements.deleteQuota.run(namespace);
      else statements.setQuota.run({ namespace, limit, at });
    },
    quotaStanding(namespace, digest) {
      const row = statements.quotaStanding.get({ namespace, digest }) as {
        limit_bytes: number | null;
        bytes: number | null;
        counted: number;
      };
      return { limitBytes: row.limit_bytes, usedBytes: row.bytes ?? 0, counted: row.counted === 1 };
    },

    getRetentionPolicy(scope) {
      const row = statements.getRetention.get({ scope: scope.kind, name: scope.name }) as
        RetentionRow | undefined;
      return row && toRetentionPolicy(row);
    },
    setRetentionPolicy(scope, policy, at) {
      statements.setRetention.run({
        scope: scope.kind,
        name: scope.name,
        count: policy.keepLatest?.count ?? null,
        by: policy.keepLatest?.by ?? null,
        patterns: JSON.stringify(policy.keepPatterns),
        untaggedAfter: policy.untaggedAfter,
        at,
      });
    },
    deleteRetentionPolicy: (scope) =>
      statements.deleteRetention.run({ scope: scope.kind, name: scope.name }).changes > 0,
    listRetentionPolicies: () =>
      (statements.listRetention.all() as RetentionRow[]).map((row): StoredRetentionPolicy => ({
        scope:
          row.scope === 'namespace'
            ? { kind: 'namespace', name: row.name }
            : { kind: 'repository', name: row.name as RepoName },
        policy: toRetentionPolicy(row),
        updatedAt: row.updated_at,
      })),

    listNamespaceRepositories: (namespace) =>
      statements.namespaceRepositories.pluck().all(namespaceRange(namespace)) as RepoName[],
    repositoryInventory: (repository) => inventory(repository),
    tagsOf: (repository, digest) => statements.tagsOf.pluck().all({ repository, digest }) as Tag[],
  };
  return asAsync<PolicyStore>(store, connectionLock(db).run);
}
