// What a garbage collection run did (or, in a dry run, would do), and its one-line summary for logs
// and `berth gc`.

export interface GcReport {
  dryRun: boolean;
  /** The review delay the run used, in ms. */
  delayMs: number;
  startedAt: number;
  durationMs: number;
  /** Untagged manifests deleted (no tag, no index of their repository, no kept subject). */
  manifestsDeleted: number;
  /** Repository links to blobs that no manifest of the repository references. */
  linksRemoved: number;
  /** Storage objects of blobs and manifests deleted with their records. */
  blobsDeleted: number;
  /** Bytes of those objects. */
  bytesFreed: number;
  /** Storage objects that no record knew, deleted after their grace period. */
  orphansDeleted: number;
  orphanBytes: number;
  /**
   * Unknown storage objects left alone because too many were unknown (orphans.ts): the database
   * and the storage of this run may not belong together. 0 normally.
   */
  orphansLeft: number;
  /** Abandoned upload sessions deleted (idle for longer than uploads.maxAge). */
  uploadsPurged: number;
  /** Storage left behind by ended upload sessions, deleted. */
  uploadLeftovers: number;
  /** Candidates skipped because a push held them: the next run reviews them. */
  held: number;
}

export function emptyReport(dryRun: boolean, delayMs: number, startedAt: number): GcReport {
  return {
    dryRun,
    delayMs,
    startedAt,
    durationMs: 0,
    manifestsDeleted: 0,
    linksRemoved: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    orphansDeleted: 0,
    orphanBytes: 0,
    orphansLeft: 0,
    uploadsPurged: 0,
    uploadLeftovers: 0,
    held: 0,
  };
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function summarize(report: GcReport): string {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  return (
    `${verb} ${report.manifestsDeleted} manifests, ${report.linksRemoved} blob links, ` +
    `${report.blobsDeleted} blobs (${formatBytes(report.bytesFreed)}), ` +
    `${report.orphansDeleted} orphaned objects (${formatBytes(report.orphanBytes)}), ` +
    `${report.uploadsPurged} abandoned uploads, ${report.uploadLeftovers} upload leftovers` +
    (report.held > 0 ? `; ${report.held} held by pushes, left for the next run` : '') +
    (report.orphansLeft > 0
      ? `; ${report.orphansLeft} storage objects unknown to the database left alone: most of storage is ` +
        "unknown to it, are this database and this storage the same registry's?"
      : '') +
    ` in ${(report.durationMs / 1000).toFixed(1)}s`
  );
}
