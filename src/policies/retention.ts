// Retention runs: for each repository under a retention policy (its own, else its namespace's: a
// repository's policy wins whole, nothing is merged), plan (retention-plan.ts) and delete through the
// registry's manifests service, so immutability, the read cache and events apply as to any delete.
// Tags go first, then manifests, each index or referrer before what it refers to. A dry run plans
// alike and deletes nothing: on a registry nobody writes to meanwhile, its report lists exactly what
// a real run then deletes. The bytes are freed later, by garbage collection.
//
// Between planning and deleting, a tag may be pushed again or a manifest tagged: each deletion checks
// first that its target is as planned (the tag still points at the planned manifest, the manifest is
// still untagged) and is skipped otherwise. What is left is a window of one lookup: a push landing in
// it is deleted, as by a client deleting at that moment. Deletions the registry refuses (deletes
// disabled by configuration, a tag made immutable since) or that someone else did first are reported
// as skipped; an unreachable database ends the run.
import { namespaceOf } from '../auth/model.js';
import { durationMs } from '../config/schema.js';
import type { Logger } from '../registry/deps.js';
import { RegistryError } from '../registry/errors.js';
import type { ManifestService } from '../registry/manifests.js';
import type { Digest, RepoName, Tag } from '../registry/references.js';
import type { Immutability } from './immutable-tags.js';
import type { PolicyStore, RetentionPolicy, RetentionScope, StoredRetentionPolicy } from './policy-store.js';
import { planRetention, type PlannedManifestDeletion, type PlannedTagDeletion } from './retention-plan.js';

export interface SkippedDeletion {
  tag?: Tag;
  digest: Digest;
  reason: string;
}

export interface RepositoryRetentionReport {
  repository: RepoName;
  /** Where the policy applied was set: on the repository, or on its namespace. */
  policy: RetentionScope['kind'];
  /** Deleted (a dry run: would be deleted). */
  tags: PlannedTagDeletion[];
  manifests: PlannedManifestDeletion[];
  /** Planned but not deleted, and why. Always empty in a dry run. */
  skipped: SkippedDeletion[];
}

export interface RetentionReport {
  dryRun: boolean;
  /** When planning started (ms since the epoch). */
  startedAt: number;
  /** Repositories under a policy that were looked at. */
  repositoriesExamined: number;
  /** Those with something deleted, planned or skipped, by name. */
  repositories: RepositoryRetentionReport[];
  totals: { tags: number; manifests: number; skipped: number };
}

/** A deletion made by retention, for events (webhooks, audit) as a DELETE request would make. */
export interface RetentionDeletion {
  repository: RepoName;
  tag?: Tag;
  digest: Digest;
}

export interface RetentionDeps {
  store: PolicyStore;
  manifests: Pick<ManifestService, 'delete'>;
  immutability: Pick<Immutability, 'predicateFor'>;
  clock: () => number;
  log: Logger;
  /** Told after each deletion; a failure is logged, and the run goes on. */
  onDeleted?: (deletion: RetentionDeletion) => Promise<void> | void;
}

export interface RunOptions {
  dryRun: boolean;
}

export interface Retention {
  /** Every repository of the namespace under a policy (the namespace's, or its own). */
  runNamespace(namespace: string, options: RunOptions): Promise<RetentionReport>;
  /** Every repository under any policy (the scheduled run). */
  runAll(options: RunOptions): Promise<RetentionReport>;
}

/** A failure that concerns one deletion only (refused, already gone), not the run. */
const isDeletionRefusal = (err: unknown): err is RegistryError =>
  err instanceof RegistryError && err.code !== 'UNAVAILABLE';

/** Why the registry refused: DENIED messages are written for people; others say more in their detail. */
function refusalOf(err: RegistryError): string {
  const reason = (err.detail as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && err.code !== 'DENIED' ? `${err.message}: ${reason}` : err.message;
}

export function createRetention(deps: RetentionDeps): Retention {
  const { store, manifests, immutability, clock, log, onDeleted } = deps;

  async function announce(deletion: RetentionDeletion): Promise<void> {
    try {
      await onDeleted?.(deletion);
    } catch (err) {
      log.error({ err, ...deletion }, 'the event of a retention deletion could not be recorded');
    }
  }

  async function runRepository(
    repository: RepoName,
    scope: RetentionScope['kind'],
    policy: RetentionPolicy,
    { dryRun }: RunOptions,
  ): Promise<RepositoryRetentionReport> {
    const [inventory, isImmutable] = await Promise.all([
      store.repositoryInventory(repository),
      immutability.predicateFor(repository),
    ]);
    const plan = planRetention({
      policy,
      inventory,
      isImmutable,
      untaggedAfterMs: policy.untaggedAfter === null ? null : durationMs(policy.untaggedAfter),
      now: clock(),
    });
    const report: RepositoryRetentionReport = {
      repository,
      policy: scope,
      tags: [],
      manifests: [],
      skipped: [],
    };
    if (dryRun) return { ...report, ...plan };

    for (const planned of plan.tags) {
      const skip = (reason: string) =>
        report.skipped.push({ tag: planned.tag, digest: planned.digest, reason });
      if (!(await store.tagsOf(repository, planned.digest)).includes(planned.tag)) {
        skip('the tag moved or went since the plan');
        continue;
      }
      try {
        await manifests.delete(repository, { kind: 'tag', tag: planned.tag });
      } catch (err) {
        if (!isDeletionRefusal(err)) throw err;
        skip(refusalOf(err));
        continue;
      }
      report.tags.push(planned);
      await announce({ repository, tag: planned.tag, digest: planned.digest });
    }
    for (const planned of plan.manifests) {
      const skip = (reason: string) => report.skipped.push({ digest: planned.digest, reason });
      if ((await store.tagsOf(repository, planned.digest)).length > 0) {
        skip('the manifest was tagged since the plan');
        continue;
      }
      try {
        await manifests.delete(repository, { kind: 'digest', digest: planned.digest });
      } catch (err) {
        if (!isDeletionRefusal(err)) throw err;
        skip(refusalOf(err));
        continue;
      }
      report.manifests.push(planned);
      await announce({ repository, digest: planned.digest });
    }
    return report;
  }

  async function run(
    targets: Array<{ repository: RepoName; scope: RetentionScope['kind']; policy: RetentionPolicy }>,
    options: RunOptions,
    startedAt: number,
  ): Promise<RetentionReport> {
    const repositories: RepositoryRetentionReport[] = [];
    for (const { repository, scope, policy } of targets) {
      const report = await runRepository(repository, scope, policy, options);
      if (report.tags.length + report.manifests.length + report.skipped.length > 0) repositories.push(report);
    }
    const sum = (count: (r: RepositoryRetentionReport) => number) =>
      repositories.reduce((total, r) => total + count(r), 0);
    const result: RetentionReport = {
      dryRun: options.dryRun,
      startedAt,
      repositoriesExamined: targets.length,
      repositories,
      totals: {
        tags: sum((r) => r.tags.length),
        manifests: sum((r) => r.manifests.length),
        skipped: sum((r) => r.skipped.length),
      },
    };
    log.info(
      {
        dryRun: options.dryRun,
        repositories: targets.length,
        ...result.totals,
        durationMs: clock() - startedAt,
      },
      options.dryRun ? 'retention dry run' : 'retention run',
    );
    return result;
  }

  /** The repositories of `namespaces` under a policy, each with the one that applies to it, by name. */
  async function targetsOf(policies: readonly StoredRetentionPolicy[], namespaces: readonly string[]) {
    const ofNamespace = new Map<string, RetentionPolicy>();
    const ofRepository = new Map<string, RetentionPolicy>();
    for (const { scope, policy } of policies) {
      (scope.kind === 'namespace' ? ofNamespace : ofRepository).set(scope.name, policy);
    }
    const targets = new Map<
      RepoName,
      { repository: RepoName; scope: RetentionScope['kind']; policy: RetentionPolicy }
    >();
    for (const namespace of namespaces) {
      for (const repository of await store.listNamespaceRepositories(namespace)) {
        const own = ofRepository.get(repository);
        const inherited = ofNamespace.get(namespace);
        if (own) targets.set(repository, { repository, scope: 'repository', policy: own });
        else if (inherited) targets.set(repository, { repository, scope: 'namespace', policy: inherited });
      }
    }
    return [...targets.values()].sort((a, b) => (a.repository < b.repository ? -1 : 1));
  }

  return {
    async runNamespace(namespace, options) {
      const startedAt = clock();
      return run(await targetsOf(await store.listRetentionPolicies(), [namespace]), options, startedAt);
    },

    async runAll(options) {
      const startedAt = clock();
      const policies = await store.listRetentionPolicies();
      const namespaces = new Set(
        policies.map(({ scope }) => (scope.kind === 'namespace' ? scope.name : namespaceOf(scope.name))),
      );
      return run(await targetsOf(policies, [...namespaces].sort()), options, startedAt);
    },
  };
}
