// Berth with token authentication as a real process, set up the way an operator would: the admin
// password from BERTH_ADMIN_PASSWORD, then users, robots and namespaces through the `berth` CLI on the
// same data directory while the server runs (the server reads accounts on every request).
//
// Contracts: startTokenBerth() resolves once /v2/ answers (401) and the request log is attached;
// requestsSince()/eventsSince() first wait until Berth's log has caught up (RequestLog.settle); every
// accounts.* call runs one CLI command and rejects with its output unless it exits 0; manifestAs()
// fetches a token from /auth/token with Basic credentials and reads the manifest with it, so tests can
// check the registry's state without trusting the client under test.
import { expect } from 'vitest';
import { runBerth } from './cli.js';
import { startBerthProcess, type RegistryProcess } from './processes.js';
import { createRequestLog, type LoggedRequest, type RequestLog } from './request-log.js';

export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'e2e-admin-password';

export type Role = 'read' | 'write' | 'admin';

export interface AccountsCli {
  addUser(name: string, password: string): Promise<void>;
  addNamespace(name: string, opts?: { public?: boolean }): Promise<void>;
  grant(namespace: string, account: string, role: Role): Promise<void>;
  /** `berth robot add NAME --grant NS:ROLE …`; resolves with the secret it prints (login as robot+NAME). */
  addRobot(name: string, grants: Record<string, Role>): Promise<string>;
}

export interface TokenBerth {
  registry: RegistryProcess;
  log: RequestLog;
  /** Requests Berth logged after `log.mark()` returned `mark`, once its log has caught up. */
  requestsSince(mark: number): Promise<LoggedRequest[]>;
  /** Other log records (e.g. `{"event":"login failed"}`) after `mark`, once the log has caught up. */
  eventsSince(mark: number): Promise<Record<string, unknown>[]>;
  accounts: AccountsCli;
  /** GET (or HEAD) a manifest as `user` (default: the administrator); status and Docker-Content-Digest. */
  manifestAs(
    repo: string,
    reference: string,
    user?: [string, string],
  ): Promise<{ status: number; digest: string; body: Buffer }>;
}

const ACCEPT_MANIFESTS = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export async function startTokenBerth(): Promise<TokenBerth> {
  const log = createRequestLog();
  const registry = await startBerthProcess({
    env: { BERTH_AUTH_MODE: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
    onStdout: (chunk) => log.onStdout(chunk),
  });
  const accounts = accountsCli(registry.dataDir);

  const manifestAs: TokenBerth['manifestAs'] = async (
    repo,
    reference,
    user = [ADMIN_USER, ADMIN_PASSWORD],
  ) => {
    const query = new URLSearchParams({ service: 'berth', scope: `repository:${repo}:pull` });
    const tokenRes = await fetch(`${registry.url}/auth/token?${query}`, {
      headers: { Authorization: `Basic ${Buffer.from(user.join(':')).toString('base64')}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (tokenRes.status !== 200)
      throw new Error(`token for ${user[0]}: ${tokenRes.status} ${await tokenRes.text()}`);
    const { token } = (await tokenRes.json()) as { token: string };
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: ACCEPT_MANIFESTS },
      signal: AbortSignal.timeout(10_000),
    });
    const result = {
      status: res.status,
      digest: res.headers.get('docker-content-digest') ?? '',
      body: Buffer.from(await res.arrayBuffer()),
    };
    // Read this check's own log lines now, so a later log.mark() never counts them as a client's.
    await log.settle(registry.url);
    return result;
  };

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
    accounts,
    manifestAs,
  };
}

/** Asserts that Berth refused the manifest PUT of `repo:tag` after `mark` (403) and stored nothing. */
export async function expectPushDenied(
  berth: TokenBerth,
  mark: number,
  repo: string,
  tag: string,
): Promise<void> {
  expect(await berth.requestsSince(mark)).toContainEqual({
    method: 'PUT',
    path: `/v2/${repo}/manifests/${tag}`,
    status: 403,
  });
  expect((await berth.manifestAs(repo, tag)).status).toBe(404);
}

/** The account commands of the built CLI, on `dataDir`. */
export function accountsCli(dataDir: string): AccountsCli {
  const berth = async (args: string[], stdin?: string): Promise<string> => {
    const result = await runBerth([...args, '--data', dataDir], { stdin });
    if (result.code !== 0) {
      throw new Error(
        `\`berth ${args.join(' ')}\` exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
      );
    }
    return result.stdout;
  };
  return {
    async addUser(name, password) {
      await berth(['user', 'add', name, '--password-stdin'], `${password}\n`);
    },
    async addNamespace(name, opts = {}) {
      await berth(['namespace', 'add', name, ...(opts.public ? ['--public'] : [])]);
    },
    async grant(namespace, account, role) {
      await berth(['namespace', 'grant', namespace, account, role]);
    },
    async addRobot(name, grants) {
      const flags = Object.entries(grants).flatMap(([ns, role]) => ['--grant', `${ns}:${role}`]);
      const secret = (await berth(['robot', 'add', name, ...flags])).trim();
      if (!secret || secret.includes('\n'))
        throw new Error(`berth robot add printed no single secret: ${secret}`);
      return secret;
    },
  };
}
