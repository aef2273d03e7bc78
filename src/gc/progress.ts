// Progress of a garbage collection run (`berth gc` draws it on a terminal), and the checks a run makes
// between its steps: cancelled (its AbortSignal), or its lease lost to another process.

export type GcPhase = 'manifests' | 'blobs' | 'uploads' | 'orphans';

export interface GcProgress {
  phase: GcPhase;
  done: number;
  /** Known for the queues; unknown while storage is being listed. */
  total?: number;
}

/** Progress of a run and the checks between its steps (cancelled, lease lost). */
export interface Step {
  begin(phase: GcPhase, total?: number): void;
  advance(): void;
  check(): void;
}

export function createStep(
  options: { signal?: AbortSignal; onProgress?: (progress: GcProgress) => void },
  /** Throws when the run must stop (its lease lost). */
  stop: () => void,
): Step {
  let phase: GcPhase = 'manifests';
  let done = 0;
  let total: number | undefined;
  return {
    begin(next, nextTotal) {
      phase = next;
      done = 0;
      total = nextTotal;
      options.onProgress?.({ phase, done, total });
    },
    advance() {
      done += 1;
      if (total !== undefined && done > total) total = done;
      options.onProgress?.({ phase, done, total });
    },
    check() {
      options.signal?.throwIfAborted();
      stop();
    },
  };
}
