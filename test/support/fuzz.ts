// Property-based fuzzing of a running Berth (fast-check): the seeded, time-boxed runner, one
// Berth per test file inside a sentinel directory tree, and the invariants every case must keep.
//
// Reproducing a failure: the failure message starts with the exact commands, e.g.
//   FUZZ_SEED=48679 FUZZ_PATH='7:1:0' npx vitest run test/fuzz/routes.test.ts -t 'answers every method'
// FUZZ_SEED picks the inputs of every property (default FUZZ_DEFAULT_SEED, so runs repeat); with
// it alone a file replays the whole sequence of cases. FUZZ_PATH (fast-check's counterexample
// path) replays one counterexample and goes with `-t` naming its test. Cases share one server, so
// a failure that depends on earlier cases replays with FUZZ_SEED alone. Time budgets bound every
// property, so a slower machine runs fewer cases of the same sequence. (Not BERTH_*: Berth refuses
// unknown BERTH_* variables.)
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { BerthConfigInput } from '../../src/config/schema.js';
import { startBerth, type RunningBerth } from './berth.js';
import { openRequest, type RawResponse } from './http.js';

export const FUZZ_DEFAULT_SEED = 0x0be27;

function seedFromEnv(): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return FUZZ_DEFAULT_SEED;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return seed;
}

export const FUZZ_SEED = seedFromEnv();
const FUZZ_PATH = process.env.FUZZ_PATH || undefined;

export interface FuzzBudget {
  numRuns: number;
  /** Wall-clock limit for all runs and shrinking of the property (interruptAfterTimeLimit). */
  timeLimitMs: number;
  /** Limit for one case; a hanging request fails the case rather than the whole test. */
  caseTimeoutMs?: number;
}

/** Time the vitest test needs around a property with `budget`: the budget plus set-up and checks. */
export const testTimeout = (budget: FuzzBudget, extraMs = 20_000) => budget.timeLimitMs + extraMs;

/**
 * Runs `property` of the current vitest test with the fixed seed and `budget`; on failure, throws
 * fast-check's report (seed, path, counterexample, the error) headed by the commands that replay it.
 */
export async function runProperty<T extends [unknown, ...unknown[]]>(
  property: fc.IAsyncProperty<T>,
  budget: FuzzBudget,
): Promise<void> {
  const state = expect.getState();
  const title = state.currentTestName?.split(' > ').at(-1) ?? 'unknown test';
  const file = relative(process.cwd(), state.testPath ?? '');
  const details = await fc.check(property, {
    seed: FUZZ_SEED,
    numRuns: budget.numRuns,
    path: FUZZ_PATH,
    endOnFailure: FUZZ_PATH !== undefined,
    includeErrorInReport: true,
    // Lists every failing input met while shrinking, the first one as generated: cases share one
    // server, so a failure caused by an earlier case may shrink towards an innocent input.
    verbose: fc.VerbosityLevel.Verbose,
    plugins: [fc.interruptAfterTimeLimit(budget.timeLimitMs), fc.timeout(budget.caseTimeoutMs ?? 20_000)],
  });
  const ran = `${details.numRuns} runs${details.interrupted ? ' (stopped by the time budget)' : ''}`;
  console.info(`fuzz ${JSON.stringify(title)}: ${ran}, seed ${details.seed}`);
  if (!details.failed) return;
  const only = `-t '${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, "'\\''")}'`;
  throw new Error(
    `fuzz property failed with FUZZ_SEED=${details.seed}. Replay the counterexample alone:\n` +
      `  FUZZ_SEED=${details.seed} FUZZ_PATH='${details.counterexamplePath ?? ''}' npx vitest run ${file} ${only}\n` +
      `or the whole sequence of cases that led to it (without -t, with the file's earlier tests too):\n` +
      `  FUZZ_SEED=${details.seed} npx vitest run ${file} ${only}\n\n` +
      (await fc.asyncDefaultReportMessage(details)),
  );
}

// Errors nobody caught: in production each would take the process down.
const processFaults: string[] = [];
process.on('uncaughtException', (err) => processFaults.push(`uncaught exception: ${err.stack ?? err}`));
process.on('unhandledRejection', (err) =>
  processFaults.push(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`),
);

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Every traversal input aims at a file or directory of this name. */
export const ESCAPE = 'berth-fuzz-escape';

// OCI Distribution Spec v1.1, "Error Codes".
const SPEC_ERROR_CODES = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
]);

export interface AnyResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export function describeResponse(res: AnyResponse): string {
  return `${res.status} ${JSON.stringify(res.headers)} ${JSON.stringify(res.text.slice(0, 400))}`;
}

/** Why `res` is not a well-formed OCI error body, or undefined when it is one. */
function ociErrorProblem(res: AnyResponse): string | undefined {
  const type = String(res.headers['content-type'] ?? '');
  if (!/^application\/json\b/.test(type)) return `Content-Type ${JSON.stringify(type)} is not JSON`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    return 'the body is not JSON';
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return 'no non-empty "errors" array';
  for (const error of errors as Array<Record<string, unknown> | null>) {
    if (typeof error !== 'object' || error === null) return 'an error entry is not an object';
    if (!SPEC_ERROR_CODES.has(String(error.code)))
      return `code ${JSON.stringify(error.code)} is not the spec's`;
    if (typeof error.message !== 'string') return 'an error has no string "message"';
    if (!('detail' in error)) return 'an error has no "detail"';
  }
  return undefined;
}

/**
 * The per-response invariants: never 5xx, and every error that Berth wrote (it carries the API
 * version header; the HTTP parser's own bare 400 for an unparsable request does not) has an OCI
 * error body, except the body-less answer to HEAD.
 */
export function assertSaneResponse(method: string, res: AnyResponse, context: string): void {
  const where = `${context}\n  -> ${describeResponse(res)}`;
  if (res.status >= 500) throw new Error(`server error ${res.status}: ${where}`);
  if (res.status < 400) return;
  const fromBerth = res.headers['docker-distribution-api-version'] !== undefined;
  if (method.toUpperCase() === 'HEAD' || (!fromBerth && res.body.length === 0)) return;
  const problem = ociErrorProblem(res);
  if (problem) throw new Error(`error response is not an OCI error body (${problem}): ${where}`);
}

export function errorCode(res: AnyResponse): string | undefined {
  try {
    return (JSON.parse(res.text) as { errors: Array<{ code: string }> }).errors[0]?.code;
  } catch {
    return undefined;
  }
}

export interface FetchOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  timeoutMs?: number;
}

/** One node:http request (raw path, own connection) that fails after `timeoutMs`. */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  { headers = {}, body, timeoutMs = 10_000 }: FetchOptions = {},
): Promise<RawResponse> {
  const bodyless = method === 'GET' || method === 'HEAD';
  const sized = bodyless ? headers : { 'Content-Length': Buffer.byteLength(body ?? ''), ...headers };
  const { req, response } = openRequest(baseUrl, method, path, sized, { timeoutMs });
  req.end(body);
  return response.catch((err: Error) => {
    throw new Error(`${method} ${path}: ${err.message}`, { cause: err });
  });
}

async function walkFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.map((e) => join(e.parentPath, e.name)).sort();
}

// The documented layout (README "How it stores things", src/registry/layout.ts).
const DATA_DIR_LAYOUT = [
  /^berth\.db(-wal|-shm|-journal)?$/,
  /^storage$/,
  /^storage\/(blobs|uploads|\.tmp)$/,
  /^storage\/blobs\/(sha256|sha512)$/,
  /^storage\/blobs\/(sha256|sha512)\/[0-9a-f]{2}$/,
  /^storage\/blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}(\/data)?$/,
  /^storage\/blobs\/sha512\/[0-9a-f]{2}\/[0-9a-f]{128}(\/data)?$/,
  /^storage\/uploads\/[0-9a-f-]{36}(\/data)?$/,
  /^storage\/\.tmp\/[0-9a-f-]{36}$/,
];

/**
 * Keeps opening descriptors on `file` (about one a millisecond, at most 64) until stop(), which
 * reports those that were closed or replaced under us. POSIX hands out the lowest free number, so
 * a descriptor number that the server closes twice is likely to be one of these by the second close.
 */
export function watchDescriptors(file: string): { stop(): string[] } {
  const { ino } = statSync(file);
  const held: number[] = [];
  const timer = setInterval(() => {
    if (held.length < 64) held.push(openSync(file, 'r'));
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      const problems: string[] = [];
      for (const fd of held) {
        let current: number | undefined;
        try {
          current = fstatSync(fd).ino;
        } catch (err) {
          problems.push(
            `descriptor ${fd} was closed by someone else (${(err as NodeJS.ErrnoException).code})`,
          );
          continue;
        }
        // Another file under our number: closing it would close someone else's descriptor.
        if (current !== ino) problems.push(`descriptor ${fd} now refers to another file`);
        else closeSync(fd);
      }
      return problems;
    },
  };
}

export interface FuzzBerth {
  berth: RunningBerth;
  url: string;
  /** The dataDir's storage root (filesystem driver). */
  storageRoot: string;
  /** A file outside the data directory, for watchDescriptors. */
  sentinelFile: string;
  /** Every invariant that must hold between cases; throws with `context` on the first broken one. */
  assertHealthy(context: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Berth with its data directory three levels inside a sentinel tree of its own, so that a
 * write escaping the data directory lands where the health check looks.
 */
export async function startFuzzBerth(overrides: BerthConfigInput = {}): Promise<FuzzBerth> {
  const sentinel = await mkdtemp(join(tmpdir(), 'berth-fuzz-'));
  const nest = join(sentinel, 'l1', 'l2', 'l3');
  await mkdir(nest, { recursive: true });
  await writeFile(join(sentinel, 'l1', 'sentinel'), 'untouched');
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = nest;
  let berth: RunningBerth;
  try {
    berth = await startBerth(overrides);
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
  if (!berth.dataDir.startsWith(nest + sep)) throw new Error(`dataDir ${berth.dataDir} is not in ${nest}`);
  const outside = async () => (await walkFiles(sentinel)).filter((f) => !f.startsWith(berth.dataDir));
  const before = await outside();
  const url = berth.url;

  async function assertHealthy(context: string): Promise<void> {
    const faults = processFaults.splice(0);
    if (faults.length > 0)
      throw new Error(`${context}: the process would have crashed:\n${faults.join('\n')}`);
    const version = await send(url, 'GET', '/v2/', { timeoutMs: 5_000 }).catch((err: Error) => err);
    if (version instanceof Error || version.status !== 200) {
      const got = version instanceof Error ? version.message : describeResponse(version);
      throw new Error(`${context}: GET /v2/ no longer answers 200: ${got}`);
    }
    const added = (await outside()).filter((f) => !before.includes(f));
    if (added.length > 0)
      throw new Error(`${context}: written outside the data directory: ${added.join(', ')}`);
    const stray = (await walkFiles(berth.dataDir))
      .map((f) => relative(berth.dataDir, f).split(sep).join('/'))
      .filter((f) => !DATA_DIR_LAYOUT.some((pattern) => pattern.test(f)) || f.includes(ESCAPE));
    if (stray.length > 0) throw new Error(`${context}: outside the documented layout: ${stray.join(', ')}`);
    for (const dir of [tmpdir(), '/', process.cwd()]) {
      if (existsSync(join(dir, ESCAPE))) throw new Error(`${context}: ${join(dir, ESCAPE)} was created`);
    }
  }

  return {
    berth,
    url,
    storageRoot: join(berth.dataDir, 'storage'),
    sentinelFile: join(sentinel, 'l1', 'sentinel'),
    assertHealthy,
    async stop() {
      await berth.stop();
      await rm(sentinel, { recursive: true, force: true });
    },
  };
}
