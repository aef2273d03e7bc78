// Numbered, append-only schema migrations. Never edit a released migration: add the next number.
import * as m001 from './001-initial.js';

export interface Migration {
  version: number;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [{ version: 1, up: m001.up }];
