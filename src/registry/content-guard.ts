// The per-digest guard between writers and the garbage collector (src/gc). A writer holds the digests
// it is about to make reachable (a blob commit or mount its blob, a manifest put every digest the
// manifest references and its own) from before it checks that they exist until their records are
// written; the collector sweeps a digest only while nobody holds it, and a writer waits while the
// collector is sweeping one. So a blob that a manifest is about to reference is never swept, and a
// blob being swept is never linked again before its bytes are gone (a writer then stores them anew).
// Holds are shared between writers (any number of pushes may reuse one base layer at once) and
// exclusive against sweeping; they are recorded in the metadata database, so they hold across
// replicas, and expire on their own when a holder dies.
import type { Digest } from './references.js';

export interface ContentGuard {
  /**
   * Runs `work` while `digests` are held against sweeping, and releases them when it settles.
   * Waits (bounded; then 503 UNAVAILABLE) while the collector is sweeping one of them.
   */
  hold<T>(digests: readonly Digest[], work: () => Promise<T>): Promise<T>;
}

/** No collector runs (tests of the domain alone): nothing to guard against. */
export const unguarded: ContentGuard = {
  hold: (_digests, work) => work(),
};
