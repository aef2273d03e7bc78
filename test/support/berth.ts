// In-process Berth for HTTP-level tests: a fresh data directory (or in-memory storage) per call.
// Contract used by every suite: startBerth() resolves once the server listens on 127.0.0.1 and
// stop() closes it and removes the temporary data directory it created.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type BerthConfigInput } from '../../src/config/schema.js';
import type { AuthSecrets } from '../../src/auth-composition.js';
import { startServer } from '../../src/server.js';

export interface RunningBerth {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash; https:// with server.tls). */
  url: string;
  /** host:port, as docker/skopeo want it. */
  host: string;
  dataDir: string;
  /** With server.tls: reads the certificate files again (RunningServer.reloadTls). */
  reloadTls?: () => Promise<boolean>;
  stop(): Promise<void>;
}

export async function startBerth(
  overrides: BerthConfigInput = {},
  secrets: AuthSecrets = {},
): Promise<RunningBerth> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const config = parseConfig({
    ...overrides,
    dataDir,
    server: { ...overrides.server, listen: '127.0.0.1:0' },
    log: { level: 'silent', ...overrides.log },
  });
  const server = await startServer(config, undefined, { announce: () => {}, ...secrets });
  return {
    url: `${server.scheme}://${server.address}`,
    host: server.address,
    dataDir,
    reloadTls: server.reloadTls,
    async stop() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
