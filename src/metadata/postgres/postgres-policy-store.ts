// PolicyStore on PostgreSQL, shared by every replica: the only place with the namespace rules' SQL for
// it (tables and usage triggers of migrations/009-policies.ts). Each call is one statement at READ
// COMMITTED on any pooled connection, prepared once per connection (db.ts `statement`), or one
// transaction (replacing a namespace's rules; the inventory, read at REPEATABLE READ so its tags,
// manifests and references are of one moment). BIGINT columns arrive as strings and are converted to
// numbers (toNumber). Failures of an unreachable server become StoreUnavailableError (unavailable.ts).
import type {
  ImmutableTagRule,
  InventoryManifest,
  NamespaceUsage,
  PolicyStore,
  RetentionPolicy,
  RetentionScope,
} from '../../policies/policy-store.js';
import type { Digest, RepoName, Tag } from '../../registry/references.js';
import { inTransaction, statement, toNumber, type BigintColumn, type PostgresPool } from './db.js';
import { reportingUnavailable } from './unavailable.js';

interface UsageRow {
  namespace: string;
  limit_bytes: BigintColumn | null;
  bytes: BigintColumn | null;
}

interface RetentionRow {
  scope: RetentionScope['kind'];
  name: string;
  keep_latest_count: number | null;
  keep_latest_by: 'pushed' | 'pulled' | null;
  keep_patterns: string[];
  untagged_after: string | null;
  updated_at: BigintColumn;
}

const toUsage = (row: UsageRow): NamespaceUsage => ({
  namespace: row.namespace,
  limitBytes: row.limit_bytes === null ? null : toNumber(row.limit_bytes),
  usedBytes: row.bytes === null ? 0 : toNumber(row.bytes),
});

const toRetentionPolicy = (row: RetentionRow): RetentionPolicy => ({
  keepLatest:
    row.keep_latest_count === null || row.keep_latest_by === null
      ? null
      : { count: row.keep_latest_count, by: row.keep_latest_by },
  keepPatterns: row.keep_patterns,
  untaggedAfter: row.untagged_after,
});

const toScope = (row: RetentionRow): RetentionScope =>
  row.scope === 'namespace'
    ? { kind: 'namespace', name: row.name }
    : { kind: 'repository', name: row.name as RepoName };

const repoId = (param: string) => `(SELECT id FROM repositories WHERE name = ${param})`;

export function createPostgresPolicyStore(pool: PostgresPool): PolicyStore {
  const rows = async <R extends object>(text: string, values: unknown[]): Promise<R[]> =>
    (await pool.query<R>(statement(text, values))).rows;

  const store: PolicyStore = {
    async listImmutableRules(namespace) {
      const found = await rows<{ tag_pattern: string; repository_pattern: string | null }>(
        'SELECT tag_pattern, repository_pattern FROM immutable_tag_rules WHERE namespace = $1 ORDER BY position',
        [namespace],
      );
      return found.map((row) => ({ tags: row.tag_pattern, repositories: row.repository_pattern }));
    },
    setImmutableRules: (namespace: string, rules: readonly ImmutableTagRule[]) =>
      inTransaction(pool, async (client) => {
        await client.query('DELETE FROM immutable_tag_rules WHERE namespace = $1', [namespace]);
        if (rules.length === 0) return;
        await client.query(
          `INSERT INTO immutable_tag_rules (namespace, position, tag_pattern, repository_pattern)
           SELECT $1, ordinality - 1, tags, repositories
           FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(tags, repositories, ordinality)`,
          [namespace, rules.map((r) => r.tags), rules.map((r) => r.repositories)],
        );
      }),

    async getUsage(namespace) {
      const [row] = await rows<UsageRow>(
        `SELECT $1::text AS namespace,
           (SELECT limit_bytes FROM namespace_quotas WHERE namespace = $1) AS limit_bytes,
           (SELECT bytes FROM namespace_usage WHERE namespace = $1) AS bytes`,
        [namespace],
      );
      return toUsage(row as UsageRow);
    },
    async listUsage() {
      const found = await rows<UsageRow>(
        `SELECT n.namespace, q.limit_bytes, u.bytes
         FROM (SELECT namespace FROM namespace_quotas
               UNION SELECT namespace FROM namespace_usage WHERE bytes > 0) n
         LEFT JOIN namespace_quotas q ON q.namespace = n.namespace
         LEFT JOIN namespace_usage u ON u.namespace = n.namespace
         ORDER BY n.namespace`,
        [],
      );
      return found.map(toUsage);
    },
    async setQuota(namespace, limit, at) {
      if (limit === null) {
        await pool.query(statement('DELETE FROM namespace_quotas WHERE namespace = $1', [namespace]));
        return;
      }
      await pool.query(
        statement(
          `INSERT INTO namespace_quotas (namespace, limit_bytes, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (namespace) DO UPDATE SET limit_bytes = excluded.limit_bytes, updated_at = excluded.updated_at`,
          [namespace, limit, at],
        ),
      );
    },
    async quotaStanding(namespace, digest) {
      const [row] = await rows<{
        limit_bytes: BigintColumn | null;
        bytes: BigintColumn | null;
        counted: boolean;
      }>(
        `SELECT (SELECT limit_bytes FROM namespace_quotas WHERE namespace = $1) AS limit_bytes,
           (SELECT bytes FROM namespace_usage WHERE namespace = $1) AS bytes,
           EXISTS (SELECT 1 FROM namespace_digests WHERE namespace = $1 AND digest = $2) AS counted`,
        [namespace, digest],
      );
      return {
        limitBytes: row?.limit_bytes == null ? null : toNumber(row.limit_bytes),
        usedBytes: row?.bytes == null ? 0 : toNumber(row.bytes),
        counted: row?.counted === true,
      };
    },

    async getRetentionPolicy(scope) {
      const [row] = await rows<RetentionRow>(
        'SELECT * FROM retention_policies WHERE scope = $1 AND name = $2',
        [scope.kind, scope.name],
      );
      return row && toRetentionPolicy(row);
    },
    async setRetentionPolicy(scope, policy, at) {
      await pool.query(
        statement(
          `INSERT INTO retention_policies
             (scope, name, keep_latest_count, keep_latest_by, keep_patterns, untagged_after, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (scope, name) DO UPDATE SET keep_latest_count = excluded.keep_latest_count,
             keep_latest_by = excluded.keep_latest_by, keep_patterns = excluded.keep_patterns,
             untagged_after = excluded.untagged_after, updated_at = excluded.updated_at`,
          [
            scope.kind,
            scope.name,
            policy.keepLatest?.count ?? null,
            policy.keepLatest?.by ?? null,
            JSON.stringify(policy.keepPatterns),
            policy.untaggedAfter,
            at,
          ],
        ),
      );
    },
    async deleteRetentionPolicy(scope) {
      const result = await pool.query(
        statement('DELETE FROM retention_policies WHERE scope = $1 AND name = $2', [scope.kind, scope.name]),
      );
      return (result.rowCount ?? 0) > 0;
    },
    async listRetentionPolicies() {
      const found = await rows<RetentionRow>('SELECT * FROM retention_policies ORDER BY scope, name', []);
      return found.map((row) => ({
        scope: toScope(row),
        policy: toRetentionPolicy(row),
        updatedAt: toNumber(row.updated_at),
      }));
    },

    async listNamespaceRepositories(namespace) {
      const found = await rows<{ name: RepoName }>(
        `SELECT name FROM repositories r
         WHERE (name = $1 OR (name >= $2 AND name < $3))
           AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         ORDER BY name`,
        [namespace, `${namespace}/`, `${namespace}0`],
      );
      return found.map((row) => row.name);
    },
    repositoryInventory: (repository: RepoName) =>
      inTransaction(pool, async (client) => {
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const tags = await client.query<{
          name: Tag;
          digest: Digest;
          updated_at: BigintColumn;
          last_pulled_at: BigintColumn | null;
        }>(
          statement(
            `SELECT name, digest, updated_at, last_pulled_at FROM tags
             WHERE repository_id = ${repoId('$1')} ORDER BY name`,
            [repository],
          ),
        );
        const manifests = await client.query<{
          digest: Digest;
          created_at: BigintColumn;
          last_pulled_at: BigintColumn | null;
          subject_digest: Digest | null;
        }>(
          statement(
            `SELECT digest, created_at, last_pulled_at, subject_digest FROM manifests
             WHERE repository_id = ${repoId('$1')} ORDER BY digest`,
            [repository],
          ),
        );
        const references = await client.query<{ manifest_digest: Digest; target_digest: Digest }>(
          statement(
            `SELECT manifest_digest, target_digest FROM manifest_references
             WHERE repository_id = ${repoId('$1')} AND kind = 'manifest'`,
            [repository],
          ),
        );
        const children = new Map<Digest, Digest[]>();
        for (const row of references.rows) {
          children.set(row.manifest_digest, [
            ...(children.get(row.manifest_digest) ?? []),
            row.target_digest,
          ]);
        }
        return {
          tags: tags.rows.map((row) => ({
            name: row.name,
            digest: row.digest,
            pushedAt: toNumber(row.updated_at),
            pulledAt: row.last_pulled_at === null ? null : toNumber(row.last_pulled_at),
          })),
          manifests: manifests.rows.map((row): InventoryManifest => ({
            digest: row.digest,
            pushedAt: toNumber(row.created_at),
            pulledAt: row.last_pulled_at === null ? null : toNumber(row.last_pulled_at),
            subject: row.subject_digest,
            children: (children.get(row.digest) ?? []).sort(),
          })),
        };
      }),
    async tagsOf(repository, digest) {
      const found = await rows<{ name: Tag }>(
        `SELECT name FROM tags WHERE repository_id = ${repoId('$1')} AND digest = $2 ORDER BY name`,
        [repository, digest],
      );
      return found.map((row) => row.name);
    },
  };
  return reportingUnavailable(store);
}
