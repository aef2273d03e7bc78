// The metrics of `npm run bench:auth`: manifest GET by tag without authentication (the baseline) and
// with a Bearer token, and Berth's token endpoint. In token mode Berth checks tokens it issued itself;
// Distribution checks tokens from one Berth "issuer" kept running for the whole run, whose signing key
// it trusts through a self-signed certificate (test/support/token-interop.ts). The token endpoint is
// measured three ways: anonymous; Basic with the same credentials again and again, which Berth verified
// in the last minute and accepts without a password check; and Basic as the first login of each of
// many accounts, every one of which pays a scrypt check.
import { join } from 'node:path';
import { createAccountService } from '../../../src/auth/accounts.js';
import { openDatabase } from '../../../src/metadata/db.js';
import { createSqliteAccountStore } from '../../../src/metadata/sqlite-account-store.js';
import type { RegistryProcess } from '../../support/processes.js';
import {
  BERTH_ADMIN,
  basicAuthorization,
  type BasicCredentials,
  berthSigningKeyPath,
  berthTokenModeEnv,
  certifyKey,
  distributionTrustingBerth,
  fetchBerthToken,
  tokenUrl,
} from '../../support/token-interop.js';
import { pool, RegistryClient } from '../lib/http.js';
import { runWrk, type LoadResult } from '../lib/loadgen.js';
import { MB, type Metric, type RoundValues, type RowDef } from '../lib/metric.js';
import type { BenchOptions } from '../lib/options.js';
import { cpuSeconds, watchRss } from '../lib/proc.js';
import type { Measurement } from '../lib/report.js';
import { measure, measureManifestGet, REQUESTS_REPO, WARMUP_SECONDS } from '../metrics/requests.js';

const ADMIN = { username: BERTH_ADMIN, password: 'bench-admin-password' };
const TOKEN_MODE = { berthEnv: berthTokenModeEnv(ADMIN.password) };
const PUSH_SCOPE = `repository:${REQUESTS_REPO}:pull,push`;

function loadLabel(options: BenchOptions): string {
  return `${options.loadConnections} connections, ${options.loadSeconds} s, wrk -t${options.loadThreads}`;
}

/** The rows of one manifest GET run; their keys start with `prefix` ("none" or "token"). */
function manifestRows(options: BenchOptions, prefix: string, mode: string): RowDef[] {
  return [
    {
      key: `${prefix}.rps`,
      label: `Manifest GET by tag, ${mode} (${loadLabel(options)})`,
      unit: 'req/s',
      better: 'higher',
    },
    { key: `${prefix}.p99`, label: `Manifest GET p99 latency, ${mode}`, unit: 'ms', better: 'lower' },
    { key: `${prefix}.cpu`, label: `Server CPU time per manifest GET, ${mode}`, unit: 'µs', better: 'lower' },
  ];
}

function manifestValues(prefix: string, result: LoadResult & { cpuMicros: number }): RoundValues {
  return {
    [`${prefix}.rps`]: result.requestsPerSecond,
    [`${prefix}.p99`]: result.p99Ms,
    [`${prefix}.cpu`]: result.cpuMicros,
  };
}

export function manifestNoAuthMetric(options: BenchOptions): Metric {
  return {
    id: 'manifest-none',
    title: 'Manifest GET by tag, auth none',
    rows: manifestRows(options, 'none', 'auth none'),
    async round(_ctx, server) {
      return manifestValues('none', await measureManifestGet(options, server));
    },
  };
}

export function manifestTokenMetric(options: BenchOptions): Metric {
  let issuer: RegistryProcess | undefined;
  let cert = '';
  return {
    id: 'manifest-token',
    title: 'Manifest GET by tag, Bearer token',
    rows: [
      ...manifestRows(options, 'token', 'Bearer token'),
      {
        key: 'token.share',
        label: 'Token mode throughput, as a share of the same round with auth none',
        unit: '%',
        better: 'higher',
      },
      {
        key: 'token.extraCpu',
        label: 'Server CPU time the token check adds per manifest GET (token minus none)',
        unit: 'µs',
        better: 'lower',
      },
    ],
    async setup(ctx) {
      if (!ctx.options.targets.includes('distribution')) return;
      issuer = await ctx.startTarget('berth', 'issuer', TOKEN_MODE);
      cert = await certifyKey(berthSigningKeyPath(issuer.dataDir), join(ctx.workDir, 'issuer-cert.pem'));
    },
    async teardown() {
      await issuer?.stop();
    },
    server(target) {
      if (target === 'berth') return TOKEN_MODE;
      if (!issuer) throw new Error('the token issuer for Distribution was not started (setup)');
      return { distributionConfig: distributionTrustingBerth(issuer.url, cert) };
    },
    async round(_ctx, server, target) {
      const tokenServer = target === 'berth' ? server.url : issuer!.url;
      const token = await fetchBerthToken(tokenServer, [PUSH_SCOPE], ADMIN);
      return manifestValues(
        'token',
        await measureManifestGet(options, server, { Authorization: `Bearer ${token}` }),
      );
    },
  };
}

/**
 * Adds the derived token rows to each manifest-token measurement that has an auth-none measurement of
 * the same target and round.
 */
export function deriveTokenCost(measurements: readonly Measurement[]): void {
  for (const token of measurements) {
    if (token.metric !== 'manifest-token' || !token.values) continue;
    const none = measurements.find(
      (m) => m.metric === 'manifest-none' && m.target === token.target && m.round === token.round,
    )?.values;
    if (!none) continue;
    token.values['token.share'] = (100 * token.values['token.rps']!) / none['none.rps']!;
    token.values['token.extraCpu'] = token.values['token.cpu']! - none['none.cpu']!;
  }
}

/**
 * Berth remembers a verified name and password for a minute (src/auth/token-service.ts), so the
 * repeated-login run logs in once before its warm-up and must end within that minute, with a margin
 * for starting wrk twice.
 */
const REPEATED_LOGIN_MAX_SECONDS = 60 - 5;

/**
 * Accounts created for the first-login run. Creating one costs a scrypt hash in the benchmark process
 * (about 0.14 s of CPU), so there are few; at about 14 checks/s they make a run of about 7 s.
 */
const FIRST_LOGIN_ACCOUNTS = 100;

/**
 * Logins in flight during the first-login run: auth.loginLimit.concurrentChecks' default, so the server
 * checks at full speed while no request waits in its queue (latency is one check, not a queue).
 */
const FIRST_LOGIN_CONCURRENCY = 2;

/**
 * Adds `count` users to the Berth data directory's database, as `berth user add` would, hashing as many
 * passwords at a time as the first-login run sends logins.
 */
async function addUsers(dataDir: string, count: number): Promise<BasicCredentials[]> {
  const db = openDatabase(join(dataDir, 'berth.db'));
  try {
    const accounts = createAccountService({
      store: createSqliteAccountStore(db),
      clock: Date.now,
      personalNamespaces: true,
    });
    const users = Array.from({ length: count }, (_, i) => ({
      username: `login-${i}`,
      password: `bench-password-${i}`,
    }));
    await pool(count, FIRST_LOGIN_CONCURRENCY, async (i) => {
      const { username, password } = users[i]!;
      await accounts.addUser(username, password);
    });
    return users;
  } finally {
    db.close();
  }
}

/**
 * One `GET /auth/token` with Basic credentials per user, `concurrency` at a time, each for push and
 * pull in the user's personal namespace: every request is that account's first login, so it pays a
 * full password check. Any answer but 200 fails the round.
 */
async function measureFirstLogins(
  server: RegistryProcess,
  users: readonly BasicCredentials[],
  concurrency: number,
): Promise<{ loginsPerSecond: number; p99Ms: number; cpuMicros: number }> {
  const client = new RegistryClient(server.url, concurrency);
  const latencies: number[] = [];
  try {
    const cpuBefore = cpuSeconds(server.pid);
    const started = performance.now();
    await pool(users.length, concurrency, async (i) => {
      const user = users[i]!;
      const sent = performance.now();
      await client.request('GET', tokenUrl(server.url, [`repository:${user.username}/app:pull,push`]), {
        headers: { Authorization: basicAuthorization(user) },
        expect: [200],
      });
      latencies.push(performance.now() - sent);
    });
    const seconds = (performance.now() - started) / 1000;
    const cpuMicros = ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / users.length;
    latencies.sort((a, b) => a - b);
    const p99Ms = latencies[Math.ceil(0.99 * latencies.length) - 1]!;
    return { loginsPerSecond: users.length / seconds, p99Ms, cpuMicros };
  } finally {
    client.close();
  }
}

/** Berth only: CNCF Distribution 2.8 verifies tokens but has no token server. */
export function tokenEndpointMetric(options: BenchOptions): Metric {
  const firstLogins = `${FIRST_LOGIN_ACCOUNTS} accounts, ${FIRST_LOGIN_CONCURRENCY} at a time`;
  return {
    id: 'token-endpoint',
    title: "Berth's token endpoint",
    rows: [
      {
        key: 'anonymous.rps',
        label: `Tokens issued, anonymous GET /auth/token (${loadLabel(options)})`,
        unit: 'req/s',
        better: 'higher',
      },
      { key: 'anonymous.p99', label: 'Token p99 latency, anonymous', unit: 'ms', better: 'lower' },
      { key: 'anonymous.cpu', label: 'Server CPU time per token, anonymous', unit: 'µs', better: 'lower' },
      {
        key: 'repeat.rps',
        label: `Tokens issued, Basic, repeated login (verified in the last minute; ${loadLabel(options)})`,
        unit: 'req/s',
        better: 'higher',
      },
      { key: 'repeat.p99', label: 'Token p99 latency, Basic, repeated login', unit: 'ms', better: 'lower' },
      {
        key: 'repeat.cpu',
        label: 'Server CPU time per token, Basic, repeated login',
        unit: 'µs',
        better: 'lower',
      },
      {
        key: 'first.rate',
        label: `Logins, Basic, first login of an account (scrypt check; ${firstLogins})`,
        unit: 'logins/s',
        better: 'higher',
      },
      { key: 'first.p99', label: 'Login p99 latency, Basic, first login', unit: 'ms', better: 'lower' },
      {
        key: 'first.cpu',
        label: 'Server CPU time per login, Basic, first login (scrypt check)',
        unit: 'ms',
        better: 'lower',
      },
      { key: 'first.rss', label: 'Peak server RSS during the first-login run', unit: 'MB', better: 'lower' },
    ],
    server: () => TOKEN_MODE,
    async round(_ctx, server) {
      if (WARMUP_SECONDS + options.loadSeconds > REPEATED_LOGIN_MAX_SECONDS) {
        throw new Error(
          `the repeated-login run needs BENCH_LOAD_SECONDS of at most ${REPEATED_LOGIN_MAX_SECONDS - WARMUP_SECONDS}, ` +
            'to end within the minute Berth remembers a verified login',
        );
      }
      const url = tokenUrl(server.url, [PUSH_SCOPE]);
      const anonymous = await measure(options, server, { url, method: 'GET', headers: {} }, runWrk);
      await fetchBerthToken(server.url, [PUSH_SCOPE], ADMIN);
      const repeat = await measure(
        options,
        server,
        { url, method: 'GET', headers: { Authorization: basicAuthorization(ADMIN) } },
        runWrk,
      );
      const users = await addUsers(server.dataDir, FIRST_LOGIN_ACCOUNTS);
      const rss = watchRss(server.pid);
      const first = await measureFirstLogins(server, users, FIRST_LOGIN_CONCURRENCY);
      return {
        'anonymous.rps': anonymous.requestsPerSecond,
        'anonymous.p99': anonymous.p99Ms,
        'anonymous.cpu': anonymous.cpuMicros,
        'repeat.rps': repeat.requestsPerSecond,
        'repeat.p99': repeat.p99Ms,
        'repeat.cpu': repeat.cpuMicros,
        'first.rate': first.loginsPerSecond,
        'first.p99': first.p99Ms,
        'first.cpu': first.cpuMicros / 1000,
        'first.rss': rss.stop().peak / MB,
      };
    },
    notes: () => [
      'Token endpoint rows: Berth only. CNCF Distribution 2.8 has no token server (its `auth.token` only ' +
        'verifies tokens), so these rows have no ratio.',
      'An anonymous request for a private repository gets a token with an empty `access` claim (nothing ' +
        'is public in this run); it still goes through scope parsing, the policy and an ES256 signature.',
    ],
  };
}
