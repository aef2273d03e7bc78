// Where settings come from, later sources winning: schema defaults, then the config file (YAML),
// then BERTH_* environment variables, then command-line flags.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ConfigError, defaultConfig, parseConfig, type BerthConfig } from './schema.js';

type Tree = { [key: string]: unknown };

const ENV_PREFIX = 'BERTH_';
/** BERTH_* variables that are not settings (read elsewhere, e.g. by the CLI). */
const NON_SETTING_ENV = new Set(['BERTH_CONFIG', 'BERTH_ADMIN_PASSWORD']);

const isTree = (value: unknown): value is Tree =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function merge(base: Tree, override: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(override)) {
    out[key] = isTree(value) && isTree(base[key]) ? merge(base[key], value) : value;
  }
  return out;
}

const toEnvWord = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Every setting's environment variable, e.g. storage.delete.enabled -> BERTH_STORAGE_DELETE_ENABLED. */
export function environmentVariables(): Map<string, { path: string[]; example: unknown }> {
  const found = new Map<string, { path: string[]; example: unknown }>();
  const walk = (tree: Tree, path: string[]) => {
    for (const [key, value] of Object.entries(tree)) {
      if (isTree(value)) walk(value, [...path, key]);
      else
        found.set(ENV_PREFIX + [...path, key].map(toEnvWord).join('_'), {
          path: [...path, key],
          example: value,
        });
    }
  };
  walk(defaultConfig() as unknown as Tree, []);
  return found;
}

function coerce(raw: string, example: unknown): unknown {
  if (typeof example === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (typeof example === 'number') return raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  return raw;
}

function fromEnvironment(env: NodeJS.ProcessEnv): { tree: Tree; origins: Map<string, string> } {
  const variables = environmentVariables();
  const origins = new Map<string, string>();
  let tree: Tree = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || NON_SETTING_ENV.has(name)) continue;
    const setting = variables.get(name);
    if (!setting) throw new ConfigError(`unknown environment variable ${name}: no setting has this name`);
    const leaf = setting.path.reduceRight<unknown>(
      (value, key) => ({ [key]: value }),
      coerce(raw, setting.example),
    );
    tree = merge(tree, leaf as Tree);
    origins.set(setting.path.join('.'), `${name}=${JSON.stringify(raw)}`);
  }
  return { tree, origins };
}

/**
 * The YAML parser, loaded only when a config file is given: a configuration from defaults, environment
 * and flags never loads it (yaml is CommonJS, so a synchronous require keeps loadConfig synchronous).
 */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  return parse(text);
}

function fromFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`config file ${path} must hold a mapping of settings`);
  return parsed;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings from command-line flags, already shaped like the config tree. */
  flags?: Tree;
}

export function loadConfig({ file, env = process.env, flags = {} }: ConfigSources = {}): BerthConfig {
  let tree: Tree = {};
  if (file) {
    tree = merge(tree, fromFile(file));
  }
  const environment = fromEnvironment(env);
  tree = merge(tree, environment.tree);
  tree = merge(tree, flags);
  const source = file ? `configuration (from ${file}, environment and flags)` : 'configuration';
  return parseConfig(tree, source, environment.origins);
}
