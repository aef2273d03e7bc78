// `berth gc`: one online garbage collection run by hand (src/gc/collector.ts), against the storage and
// database that `berth serve` uses with the same configuration; safe while servers run. It takes the
// same job lease as the servers' scheduled runs: while one of those runs, it waits (or, with
// --no-wait, exits 3). Each run, dry or not, is recorded in the run history (src/gc/runs.ts) as the
// servers' are, with this host's name. A progress bar is drawn on standard error when it is a terminal; the summary
// goes to standard output (one line, or the report as JSON with --json). Output contract as for the
// other commands: `berth: <message>` and exit 2 on a refusal.
import { Command, Option, type CommanderError } from 'commander';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs, type BerthConfig } from '../config/schema.js';
import type { GcProgress } from '../gc/progress.js';
import type { GcReport } from '../gc/report.js';
import type { Logger } from '../registry/deps.js';
import { configFromFlags, configOption, dataOption, type CommonFlags } from './shared.js';

interface GcFlags extends CommonFlags {
  dryRun?: boolean;
  delay?: string;
  orphanGrace?: string;
  /** Undefined unless --orphans or --no-orphans is given: gc.orphans decides. */
  orphans?: boolean;
  json?: boolean;
  wait: boolean;
}

function refuse(message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(2);
}

export function gcCommand(): Command {
  return new Command('gc')
    .description(
      'online garbage collection: delete untagged manifests, blobs no manifest uses and storage that no ' +
        'record knows; safe while servers run (one run at a time, with theirs); every run is recorded ' +
        '(GET /api/v1/gc/runs)',
    )
    .configureOutput({ outputError: (text, write) => write(`berth: ${text.replace(/^error: /, '')}`) })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addOption(configOption())
    .addOption(dataOption())
    .addOption(new Option('--dry-run', 'delete nothing: report what a run would delete'))
    .addOption(
      new Option(
        '--delay <duration>',
        'review candidates whose latest event is older than this, e.g. 1h or 0 (gc.delay)',
      ),
    )
    .addOption(
      new Option(
        '--orphan-grace <duration>',
        'delete unknown storage objects seen this long ago (gc.orphanGrace)',
      ),
    )
    .addOption(new Option('--orphans', 'look for storage objects that no record knows (gc.orphans)'))
    .addOption(new Option('--no-orphans', 'do not list storage for objects that no record knows'))
    .addOption(new Option('--json', 'print the report as JSON'))
    .addOption(
      new Option('--no-wait', 'exit with status 3 instead of waiting while another process collects'),
    )
    .action(async (flags: GcFlags) => {
      const config = configFromFlags(flags);
      const delay = flags.delay === undefined ? undefined : parseDelay(flags.delay);
      if (delay === null) refuse(`--delay: not a duration: ${flags.delay} (e.g. 0, 30s, 15m, 24h, 7d)`);
      const grace = flags.orphanGrace === undefined ? undefined : parseDelay(flags.orphanGrace);
      if (grace === null) refuse(`--orphan-grace: not a duration: ${flags.orphanGrace}`);
      const code = await runGc(config, {
        dryRun: flags.dryRun === true,
        delayMs: delay,
        orphanGraceMs: grace,
        orphans: flags.orphans,
        json: flags.json === true,
        wait: flags.wait,
      });
      process.exitCode = code;
    });
}

/** Milliseconds in "0" or a duration such as "30s"; null when it is neither. */
export function parseDelay(value: string): number | null {
  if (value === '0') return 0;
  try {
    return durationMs(value);
  } catch {
    return null;
  }
}

export interface GcRunFlags {
  dryRun: boolean;
  delayMs?: number;
  orphanGraceMs?: number;
  orphans?: boolean;
  json: boolean;
  wait: boolean;
}

/** Exit status when --no-wait finds another process collecting. */
const BUSY = 3;
const WAIT_POLL_MS = 500;

/** Warnings and errors of the run (a sweep marker that expired, a lease not renewed) on stderr. */
const stderrLog: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => process.stderr.write(`berth gc: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`berth gc: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
};

/** One run with the configured stores and storage; resolves with the exit status. */
export async function runGc(config: BerthConfig, flags: GcRunFlags): Promise<number> {
  // Loaded here: the storage drivers and the stores are what `berth serve` loads.
  const { createDriver } = await import('../server.js');
  const { openStores } = await import('../metadata/open.js');
  const { createGcParts, gcRunOptions } = await import('../gc/compose.js');
  const { createGcRuns } = await import('../gc/runs.js');
  const { GcBusyError } = await import('../gc/collector.js');
  const { summarize } = await import('../gc/report.js');
  const { createUploadService } = await import('../registry/uploads.js');
  const { noPushPolicy } = await import('../registry/push-policy.js');

  const driver = await createDriver(config);
  const stores = await openStores(config, { ...stderrLog, warn() {} });
  const cancel = new AbortController();
  const interrupt = () => cancel.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const progress = !flags.json && process.stderr.isTTY ? await progressBar() : undefined;
  try {
    const parts = createGcParts({
      store: stores.gc,
      metadata: stores.metadata,
      driver,
      log: stderrLog,
      clock: Date.now,
      newId: randomUUID,
    });
    const uploads = createUploadService({
      driver,
      metadata: stores.metadata,
      log: stderrLog,
      limits: config.limits,
      blobRedirects: { enabled: false, expiresInSeconds: 1 },
      deleteEnabled: true,
      clock: Date.now,
      newId: randomUUID,
      guard: parts.guard,
      policy: noPushPolicy,
    });
    const collector = createGcRuns({
      store: stores.gc,
      collector: parts.collector((olderThan) => uploads.purgeStale(olderThan)),
      host: hostname(),
      clock: Date.now,
      log: stderrLog,
    }).recorded('cli');
    const configured = gcRunOptions(config);
    const options = {
      ...configured,
      dryRun: flags.dryRun,
      delayMs: flags.delayMs ?? configured.delayMs,
      orphanGraceMs: flags.orphanGraceMs ?? configured.orphanGraceMs,
      orphans: flags.orphans ?? configured.orphans,
      signal: cancel.signal,
      onProgress: progress?.update,
    };
    let report: GcReport | undefined;
    for (let told = false; !report;) {
      try {
        report = await collector.run(options);
      } catch (err) {
        if (!(err instanceof GcBusyError)) throw err;
        if (!flags.wait) {
          process.stderr.write(
            'berth gc: another process is collecting (a server or berth gc); not waiting\n',
          );
          return BUSY;
        }
        if (!told)
          process.stderr.write('berth gc: waiting for the run of another process (a server or berth gc)\n');
        told = true;
        await sleep(WAIT_POLL_MS, undefined, { signal: cancel.signal });
      }
    }
    progress?.stop();
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${summarize(report)}\n`);
    return 0;
  } catch (err) {
    progress?.stop();
    if (cancel.signal.aborted) {
      process.stderr.write(
        'berth gc: interrupted; what was deleted so far stays deleted, the rest waits for the next run\n',
      );
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await stores.close();
    await driver.close?.();
  }
}

const PHASES: Record<GcProgress['phase'], string> = {
  manifests: 'manifests',
  blobs: 'blobs',
  uploads: 'uploads',
  orphans: 'storage',
};

/** One bar per phase on stderr (cli-progress, loaded only on a terminal). */
async function progressBar() {
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      format: '{phase} |{bar}| {value}/{total}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    Presets.shades_classic,
  );
  let phase: string | undefined;
  return {
    update(progress: GcProgress) {
      const label = PHASES[progress.phase].padEnd(9);
      const total = progress.total ?? progress.done;
      if (phase !== progress.phase) {
        if (phase !== undefined) bar.stop();
        phase = progress.phase;
        bar.start(total, progress.done, { phase: label });
        return;
      }
      bar.setTotal(total);
      bar.update(progress.done, { phase: label });
    },
    stop() {
      if (phase !== undefined) bar.stop();
      phase = undefined;
    },
  };
}
