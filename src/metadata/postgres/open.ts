// The PostgreSQL side of src/metadata/open.ts (loaded only when metadata.driver is postgres): the
// metadata index, the accounts, the login throttle's state, the mirror's state and the webhook outbox
// of one database, on one pool per process.
import type { LoginThrottleStore } from '../../auth/login-throttle-store.js';
import type { AccountStore } from '../../auth/model.js';
import type { GcStore } from '../../gc/gc-store.js';
import type { CatalogStore } from '../../registry/catalog-store.js';
import type { MirrorStore } from '../../mirror/mirror-store.js';
import type { OutboxStore } from '../../notifications/outbox-store.js';
import type { PolicyStore } from '../../policies/policy-store.js';
import type { MetadataStore } from '../../registry/metadata-store.js';
import type { PostgresOptions, PostgresPool } from './db.js';
import { openPostgresMetadata } from './postgres-store.js';

export interface PostgresStores {
  metadata: MetadataStore;
  accounts: AccountStore;
  loginThrottle: LoginThrottleStore;
  mirror: MirrorStore;
  outbox: OutboxStore;
  catalog: CatalogStore;
  policies: PolicyStore;
  gc: GcStore;
  pool: PostgresPool;
  /** Waits for queries in flight, then closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** Connects to `options.url` and migrates the schema (advisory-locked) before answering. */
export async function openPostgresStores(
  options: PostgresOptions & { now?: () => number },
): Promise<PostgresStores> {
  const { store, accounts, loginThrottle, mirror, outbox, catalog, policies, gc, pool, close } =
    await openPostgresMetadata(options);
  return { metadata: store, accounts, loginThrottle, mirror, outbox, catalog, policies, gc, pool, close };
}
