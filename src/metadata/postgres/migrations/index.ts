// Numbered, append-only schema migrations of the PostgreSQL metadata database (its own numbering,
// independent of the SQLite one). Never edit a released migration: add the next number.
import type { PostgresClient } from '../db.js';
import * as m001 from './001-initial.js';
import * as m002 from './002-job-leases.js';
import * as m003 from './003-accounts.js';
import * as m004 from './004-login-throttle.js';
import * as m005 from './005-mirror.js';
import * as m006 from './006-outbox.js';
import * as m007 from './007-catalog.js';
import * as m008 from './008-gc.js';
import * as m009 from './009-policies.js';
import * as m010 from './010-gc-runs.js';
import * as m011 from './011-tag-sort-keys.js';

export interface PostgresMigration {
  version: number;
  up: string;
  /** Code run after `up`, in the same transaction: what SQL cannot compute (011-tag-sort-keys). */
  backfill?: (client: PostgresClient) => Promise<void>;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  { version: 1, up: m001.up },
  { version: 2, up: m002.up },
  { version: 3, up: m003.up },
  { version: 4, up: m004.up },
  { version: 5, up: m005.up },
  { version: 6, up: m006.up },
  { version: 7, up: m007.up },
  { version: 8, up: m008.up },
  { version: 9, up: m009.up },
  { version: 10, up: m010.up },
  { version: 11, up: m011.up, backfill: m011.backfill },
];
