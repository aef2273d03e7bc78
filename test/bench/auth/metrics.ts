// The metrics of `npm run bench:auth`: manifest GET by tag without authentication (the baseline) and
// with a Bearer token, and Berth's token endpoint. In token mode Berth checks tokens it issued itself;
// Distribution checks tokens from one Berth "issuer" kept running for the whole run, whose signing key
// it trusts through a self-signed certificate (test/support/token-interop.ts).
import { join } from 'node:path';
import type { RegistryProcess } from '../../support/processes.js';
import {
  BERTH_ADMIN,
  basicAuthorization,
  berthSigningKeyPath,
  berthTokenModeEnv,
  certifyKey,
  distributionTrustingBerth,
  fetchBerthToken,
  tokenUrl,
} from '../../support/token-interop.js';
import { runWrk, type LoadResult } from '../lib/loadgen.js';
import { MB, type Metric, type RoundValues, type RowDef } from '../lib/metric.js';
import type { BenchOptions } from '../lib/options.js';
import { watchRss } from '../lib/proc.js';
import type { Measurement } from '../lib/report.js';
import { measure, measureManifestGet, REQUESTS_REPO } from '../metrics/requests.js';

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
 * Password checks (scrypt, tens of ms of CPU each) run on libuv's thread pool and are not abandoned when
 * a client gives up, so the Basic run uses few connections: with the usual 64, every warm-up left a
 * queue of checks that took seconds to drain into the measured run. The anonymous run warms the server.
 */
const BASIC_CONNECTIONS = 4;

/** Berth only: CNCF Distribution 2.8 verifies tokens but has no token server. */
export function tokenEndpointMetric(options: BenchOptions): Metric {
  const basicOptions = { ...options, loadConnections: BASIC_CONNECTIONS };
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
        key: 'basic.rps',
        label: `Tokens issued, GET /auth/token with Basic auth (${loadLabel(basicOptions)})`,
        unit: 'req/s',
        better: 'higher',
      },
      { key: 'basic.p99', label: 'Token p99 latency, Basic auth', unit: 'ms', better: 'lower' },
      {
        key: 'basic.cpu',
        label: 'Server CPU time per token, Basic auth (scrypt password check)',
        unit: 'ms',
        better: 'lower',
      },
      { key: 'basic.rss', label: 'Peak server RSS during the Basic auth run', unit: 'MB', better: 'lower' },
    ],
    server: () => TOKEN_MODE,
    async round(_ctx, server) {
      const url = tokenUrl(server.url, [PUSH_SCOPE]);
      const anonymous = await measure(options, server, { url, method: 'GET', headers: {} }, runWrk);
      const rss = watchRss(server.pid);
      const basic = await measure(
        basicOptions,
        server,
        { url, method: 'GET', headers: { Authorization: basicAuthorization(ADMIN) } },
        runWrk,
        0,
      );
      return {
        'anonymous.rps': anonymous.requestsPerSecond,
        'anonymous.p99': anonymous.p99Ms,
        'anonymous.cpu': anonymous.cpuMicros,
        'basic.rps': basic.requestsPerSecond,
        'basic.p99': basic.p99Ms,
        'basic.cpu': basic.cpuMicros / 1000,
        'basic.rss': rss.stop().peak / MB,
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
