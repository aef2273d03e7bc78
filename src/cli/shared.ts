// What several `berth` commands share: the config and data-directory options, and opening the
// metadata database the server uses.
import { Option } from 'commander';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { BerthConfig } from '../config/schema.js';
import { openDatabase, type SqliteDatabase } from '../metadata/db.js';

export interface CommonFlags {
  config?: string;
  listen?: string;
  data?: string;
  auth?: string;
}

/** Command-line flags as a partial config tree, so they win over file and environment. */
export function flagsToConfig(flags: CommonFlags) {
  return {
    ...(flags.data ? { dataDir: flags.data } : {}),
    ...(flags.listen ? { server: { listen: flags.listen } } : {}),
    ...(flags.auth ? { auth: { mode: flags.auth } } : {}),
  };
}

export function configOption() {
  return new Option('-c, --config <file>', 'YAML config file (see config/default.yaml)').env('BERTH_CONFIG');
}

export function authOption() {
  return new Option('-a, --auth <mode>', 'authentication: none, htpasswd or token (auth.mode)').choices([
    'none',
    'htpasswd',
    'token',
  ]);
}

export function dataOption() {
  return new Option('-d, --data <dir>', 'data directory (dataDir)');
}

/** The effective configuration: defaults, file, environment, then these flags. */
export function configFromFlags(flags: CommonFlags): BerthConfig {
  return loadConfig({ file: flags.config, flags: flagsToConfig(flags) });
}

/** metadata.path, or berth.db in the data directory: the database `berth serve` uses. */
export function openMetadataDatabase(config: BerthConfig): SqliteDatabase {
  return openDatabase(resolve(config.metadata.path ?? `${config.dataDir}/berth.db`));
}
