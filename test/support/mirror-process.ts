// Berth as a pull-through mirror in a real process (`node dist/src/main.js serve`), for the e2e suites
// that put real clients (dockerd, containerd, skopeo) in front of it: either `serve --mirror URL` (the
// root upstream, no config file) or a YAML config file listing upstreams, with the request log attached.
// Also the environment that keeps a client's fallback to Docker Hub on this machine: proxy variables
// pointing at a loopback port where nothing listens, with loopback itself exempt.
//
// Contracts: startMirrorProcess() resolves once /v2/ answers; stop() stops the process and removes the
// config directory it wrote (idempotent). requestsSince()/eventsSince() wait until Berth's log has caught
// up (RequestLog.settle). withLog() appends Berth's output tail to a failure message.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { BerthConfigInput } from '../../src/config/schema.js';
import { freePort, startBerthProcess, type RegistryProcess } from './processes.js';
import { createRequestLog, type LoggedRequest, type RequestLog } from './request-log.js';

export type MirrorUpstreamInput = NonNullable<NonNullable<BerthConfigInput['mirror']>['upstreams']>[number];

export interface MirrorProcess {
  registry: RegistryProcess;
  log: RequestLog;
  /** Requests Berth logged after `log.mark()` returned `mark`, once its log has caught up. */
  requestsSince(mark: number): Promise<LoggedRequest[]>;
  /** Other log records (e.g. `{"msg":"mirror cached a blob"}`) after `mark`. */
  eventsSince(mark: number): Promise<Record<string, unknown>[]>;
  /** `message` followed by the tail of Berth's output. */
  withLog(message: string): string;
  stop(): Promise<void>;
}

export type MirrorSetup =
  /** `berth serve --mirror URL`: URL is the root upstream. */
  | { mirrorFlag: string }
  /** `berth serve --config FILE` with `mirror.upstreams` set to these. */
  | { upstreams: MirrorUpstreamInput[] };

export async function startMirrorProcess(setup: MirrorSetup): Promise<MirrorProcess> {
  const log = createRequestLog();
  let configDir: string | undefined;
  const args: string[] = [];
  if ('mirrorFlag' in setup) {
    args.push('--mirror', setup.mirrorFlag);
  } else {
    configDir = await mkdtemp(join(tmpdir(), 'berth-mirror-config-'));
    const configPath = join(configDir, 'berth.yaml');
    await writeFile(configPath, toYaml({ mirror: { upstreams: setup.upstreams } }));
    args.push('--config', configPath);
  }
  let registry: RegistryProcess;
  try {
    registry = await startBerthProcess({ args, onStdout: (chunk) => log.onStdout(chunk) });
  } catch (err) {
    if (configDir) await rm(configDir, { recursive: true, force: true });
    throw err;
  }
  return {
    registry,
    log,
    async requestsSince(mark) {
      await log.settle(registry.url);
      return log.since(mark);
    },
    async eventsSince(mark) {
      await log.settle(registry.url);
      return log.eventsSince(mark);
    },
    withLog: (message) => `${message}\nBerth (mirror) output tail:\n${registry.output()}`,
    async stop() {
      await registry.stop();
      if (configDir) await rm(configDir, { recursive: true, force: true });
    },
  };
}

/**
 * Proxy variables (both spellings) that send every non-loopback HTTP(S) request to a loopback port where
 * nothing listens, so a client's fallback to Docker Hub is refused here instead of leaving the machine.
 */
export async function refusedProxyEnv(): Promise<Record<string, string>> {
  const proxy = `http://127.0.0.1:${await freePort()}`;
  const noProxy = '127.0.0.1,localhost';
  return {
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    NO_PROXY: noProxy,
    http_proxy: proxy,
    https_proxy: proxy,
    no_proxy: noProxy,
  };
}

/** `GET /v2/_catalog` (no paging: the suites hold a few repositories). */
export async function catalog(baseUrl: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/v2/_catalog`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /v2/_catalog: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { repositories?: string[] | null }).repositories ?? [];
}

/** `GET /v2/<repo>/blobs/<digest>`: the status and the whole body. */
export async function fetchBlob(
  baseUrl: string,
  repo: string,
  digest: string,
): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${baseUrl}/v2/${repo}/blobs/${digest}`, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** The digests of the config and layers of an image manifest (Docker v2 schema 2 or OCI). */
export function blobsOf(manifest: Buffer): { config: string; layers: string[] } {
  const parsed = JSON.parse(manifest.toString('utf8')) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  return { config: parsed.config.digest, layers: parsed.layers.map((l) => l.digest) };
}
