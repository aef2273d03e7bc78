// Every process and directory the benchmark creates is registered here, so that an error or Ctrl-C
// stops it by its own PID (via its stop()) before the benchmark exits.

type Cleanup = () => Promise<void>;

const pending = new Set<Cleanup>();
/** Cleanups that have begun and not ended (e.g. begun by the signal handler). */
const running = new Set<Promise<void>>();
let interrupted = false;

/** Registers `cleanup` and returns a function that runs it once and unregisters it. */
export function track(cleanup: Cleanup): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once: Cleanup = () => {
    if (!done) {
      const current = (async () => {
        pending.delete(once);
        await cleanup();
      })();
      done = current;
      running.add(current);
      void current.then(
        () => running.delete(current),
        () => running.delete(current),
      );
    }
    return done;
  };
  pending.add(once);
  return once;
}

/** Runs `body` with a tracked resource, releasing it afterwards whatever happens. */
export async function using<T extends { stop(): Promise<void> }, R>(
  start: Promise<T>,
  body: (resource: T) => Promise<R>,
): Promise<R> {
  const resource = await start;
  const release = track(() => resource.stop());
  try {
    return await body(resource);
  } finally {
    await release();
  }
}

/**
 * Runs every pending cleanup, newest first, then waits for those that others began (so that an exit
 * never cuts one short); errors are reported, not thrown.
 */
export async function cleanupAll(): Promise<void> {
  for (const cleanup of [...pending].reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error(`cleanup failed: ${(err as Error).message}`);
    }
  }
  await Promise.allSettled([...running]);
}

export function isInterrupted(): boolean {
  return interrupted;
}

/** On SIGINT/SIGTERM: stop everything that is tracked, then exit 130/143. A second signal exits at once. */
export function installSignalHandlers(): void {
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(sig, () => {
      if (interrupted) process.exit(code);
      interrupted = true;
      console.error(`\n${sig}: stopping the benchmark's processes…`);
      void cleanupAll().finally(() => process.exit(code));
    });
  }
}

/** Runs a benchmark script's `main`, then every pending cleanup, and exits with main's code (1 if it threw). */
export async function runToExit(main: () => Promise<number>): Promise<never> {
  let exitCode = 1;
  try {
    exitCode = await main();
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  } finally {
    await cleanupAll();
  }
  process.exit(exitCode);
}
