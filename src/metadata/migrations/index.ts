// Numbered, append-only schema migrations. Never edit a released migration: add the next number.
import type { SqliteDatabase } from '../db.js';
import * as m001 from './001-initial.js';
import * as m002 from './002-accounts.js';
import * as m003 from './003-upload-leases.js';
import * as m004 from './004-job-leases.js';
import * as m005 from './005-login-throttle.js';
import * as m006 from './006-mirror.js';
import * as m007 from './007-outbox.js';
import * as m008 from './008-catalog.js';
import * as m009 from './009-gc.js';
import * as m010 from './010-policies.js';
import * as m011 from './011-gc-runs.js';
import * as m012 from './012-tag-sort-keys.js';

export interface Migration {
  version: number;
  up: string;
  /** Code run after `up`, in the same transaction: what SQL cannot compute (012-tag-sort-keys). */
  backfill?: (db: SqliteDatabase) => void;
}

export const MIGRATIONS: readonly Migration[] = [
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
  { version: 11, up: m011.up },
  { version: 12, up: m012.up, backfill: m012.backfill },
];
