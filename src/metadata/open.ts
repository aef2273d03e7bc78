// The one place that opens the configured stores (metadata.driver), for `berth serve` and the CLI
// alike: the metadata index, the accounts, the login throttle's state, the pull-through mirror's
// state and the webhook outbox, on the same database.
// - sqlite: <dataDir>/berth.db (or metadata.path), migrated on open; several processes on one host
//   may share it (the read cache follows other connections' commits).
// - postgres: metadata.postgres.url, migrated on open under an advisory lock; no read cache, since
//   other replicas write to the same database. The PostgreSQL client is loaded only when configured.
import { resolve } from 'node:path';
import type { LoginThrottleStore } from '../auth/login-throttle-store.js';
import type { AccountStore } from '../auth/model.js';
import { withoutPassword } from '../config/redact.js';
import { durationMs, type BerthConfig } from '../config/schema.js';
import type { MirrorStore } from '../mirror/mirror-store.js';
import type { OutboxStore } from '../notifications/outbox-store.js';
import type { GcStore } from '../gc/gc-store.js';
import type { CatalogStore } from '../registry/catalog-store.js';
import type { PolicyStore } from '../policies/policy-store.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import { openDatabase, otherConnectionsCommitted } from './db.js';
import { createIndexChangeFlag } from './index-changes.js';
import { withReadCache } from './read-cache.js';
import { createSqliteAccountStore } from './sqlite-account-store.js';
import { createSqliteCatalogStore } from './sqlite-catalog-store.js';
import { createSqliteGcStore } from './sqlite-gc-store.js';
import { createSqliteLoginThrottleStore } from './sqlite-login-throttle-store.js';
import { createSqliteMirrorStore } from './sqlite-mirror-store.js';
import { createSqliteOutboxStore } from './sqlite-outbox-store.js';
import { createSqlitePolicyStore } from './sqlite-policy-store.js';
import { createSqliteMetadataStore } from './sqlite-store.js';

export interface OpenedStores {
  metadata: MetadataStore;
  accounts: AccountStore;
  /** Failed logins and known addresses (auth.loginLimit), shared by every process on the database. */
  loginThrottle: LoginThrottleStore;
  /** The pull-through mirror's cached tags, cached content and counters, shared likewise. */
  mirror: MirrorStore;
  /** The webhook outbox (notifications.endpoints): pending deliveries and their outcomes, shared likewise. */
  outbox: OutboxStore;
  /** Repositories and tags as the management API lists them, with pull counts, shared likewise. */
  catalog: CatalogStore;
  /** Namespace rules (immutable tags, quotas, retention) and usage, shared likewise. */
  policies: PolicyStore;
  /** Garbage collection's queues, content holds and sweep markers (src/gc), shared likewise. */
  gc: GcStore;
  /** Where the stores live, for logs: a path or a URL without its password. */
  location: string;
  close(): Promise<void>;
}

/** The SQLite database file the configuration names. */
export function sqlitePath(config: BerthConfig): string {
  return resolve(config.metadata.path ?? `${config.dataDir}/berth.db`);
}

export async function openStores(config: BerthConfig, log: Logger): Promise<OpenedStores> {
  if (config.metadata.driver === 'postgres') return openPostgres(config, log);
  const path = sqlitePath(config);
  const db = openDatabase(path);
  const committedElsewhere = otherConnectionsCommitted(db);
  // Stores that change the index on this connection mark it (index-changes.ts).
  const indexChanges = createIndexChangeFlag();
  return {
    metadata: withReadCache(createSqliteMetadataStore(db), {
      changedElsewhere: () => indexChanges.take() || committedElsewhere(),
    }),
    accounts: createSqliteAccountStore(db),
    loginThrottle: createSqliteLoginThrottleStore(db),
    mirror: createSqliteMirrorStore(db),
    outbox: createSqliteOutboxStore(db),
    catalog: createSqliteCatalogStore(db, indexChanges),
    policies: createSqlitePolicyStore(db),
    gc: createSqliteGcStore(db, { onIndexChange: () => indexChanges.mark() }),
    location: path,
    close: async () => void db.close(),
  };
}

async function openPostgres(config: BerthConfig, log: Logger): Promise<OpenedStores> {
  const { openPostgresStores } = await import('./postgres/open.js');
  const settings = config.metadata.postgres;
  const url = settings.url ?? ''; // the schema requires it for this driver
  const opened = await openPostgresStores({
    url,
    poolSize: settings.poolSize,
    statementTimeoutMs: durationMs(settings.statementTimeout),
    // pg-pool hangs the whole client (connection settings included) on the error: log only what failed.
    onIdleError: (err: Error) =>
      log.warn(
        { error: err.message, code: (err as { code?: unknown }).code },
        'a pooled PostgreSQL connection failed',
      ),
  });
  return { ...opened, location: withoutPassword(url) };
}
