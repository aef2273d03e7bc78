// Numbered, append-only schema migrations of the PostgreSQL metadata database (its own numbering,
// independent of the SQLite one). Never edit a released migration: add the next number.
import type { Migration } from '../../migrations/index.js';
import * as m001 from './001-initial.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [{ version: 1, up: m001.up }];
