// What several `berth` commands share: the config and data-directory options, and opening the
// stores the server uses.
import { Option } from 'commander';
import { loadConfig } from '../config/load.js';
import type { BerthConfig } from '../config/schema.js';
import { openStores, type OpenedStores } from '../metadata/open.js';
import { isDockerHubUrl } from '../mirror/routing.js';

export interface CommonFlags {
  config?: string;
  listen?: string;
  data?: string;
  auth?: string;
  mirror?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** `--mirror URL`: the upstream's name, from its host (Docker Hub's is "dockerhub"). */
function upstreamNameOf(url: string): string {
  if (isDockerHubUrl(url)) return 'dockerhub';
  return (
    new URL(url).hostname
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'upstream'
  );
}

/** Command-line flags as a partial config tree, so they win over file and environment. */
export function flagsToConfig(flags: CommonFlags) {
  const tls = {
    ...(flags.tlsCert ? { cert: flags.tlsCert } : {}),
    ...(flags.tlsKey ? { key: flags.tlsKey } : {}),
  };
  const server = {
    ...(flags.listen ? { listen: flags.listen } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
  return {
    ...(flags.data ? { dataDir: flags.data } : {}),
    ...(Object.keys(server).length > 0 ? { server } : {}),
    ...(flags.auth ? { auth: { mode: flags.auth } } : {}),
    ...(flags.mirror
      ? { mirror: { upstreams: [{ name: upstreamNameOf(flags.mirror), url: flags.mirror, root: true }] } }
      : {}),
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

export function mirrorOption() {
  return new Option(
    '-m, --mirror <url>',
    'pull-through mirror of the registry at URL, e.g. https://registry-1.docker.io, for names at the root (replaces mirror.upstreams)',
  );
}

/** --tls-cert: HTTPS with this PEM certificate (server.tls.cert); it goes with --tls-key. */
export function tlsCertOption() {
  return new Option(
    '--tls-cert <file>',
    'PEM certificate (chain) for HTTPS, read again on SIGHUP (server.tls.cert)',
  );
}

export function tlsKeyOption() {
  return new Option('--tls-key <file>', 'PEM private key of --tls-cert (server.tls.key)');
}

export function dataOption() {
  return new Option('-d, --data <dir>', 'data directory (dataDir)');
}

/** The effective configuration: defaults, file, environment, then these flags. */
export function configFromFlags(flags: CommonFlags): BerthConfig {
  return loadConfig({ file: flags.config, flags: flagsToConfig(flags) });
}

/** Commands print their own messages: the stores' log lines (pooled connection failures) are dropped. */
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Runs `work` on the stores `berth serve` would open with this configuration, closing them after. */
export async function withStores<T>(
  config: BerthConfig,
  work: (stores: OpenedStores) => Promise<T>,
): Promise<T> {
  const stores = await openStores(config, quiet);
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}
