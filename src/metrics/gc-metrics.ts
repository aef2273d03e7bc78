// Garbage collection's counters (src/gc), added to after each scheduled run of this process:
// berth_gc_runs_total, and what the runs deleted. Registered with the first report, so a process
// that never collects exports none.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { GcReport } from '../gc/report.js';

export function createGcMetrics(registry: Registry) {
  let metrics: ReturnType<typeof register> | undefined;
  function register() {
    const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
    return {
      runs: counter('berth_gc_runs_total', 'Garbage collection runs completed by this process'),
      manifests: counter(
        'berth_gc_manifests_deleted_total',
        'Untagged manifests deleted by garbage collection',
      ),
      links: counter('berth_gc_blob_links_removed_total', 'Repository links to unused blobs removed'),
      blobs: counter('berth_gc_blobs_deleted_total', 'Blob and manifest storage objects deleted'),
      bytes: counter('berth_gc_bytes_freed_total', 'Bytes of storage freed (blobs, manifests and orphans)'),
      orphans: counter('berth_gc_orphans_deleted_total', 'Storage objects that no record knew, deleted'),
      uploads: counter('berth_gc_uploads_purged_total', 'Abandoned upload sessions deleted'),
      duration: new Histogram({
        name: 'berth_gc_run_duration_seconds',
        help: 'Duration of garbage collection runs',
        buckets: [0.1, 1, 10, 60, 300, 1800, 3600],
        registers: [registry],
      }),
    };
  }
  return function countGc(report: GcReport): void {
    if (report.dryRun) return;
    metrics ??= register();
    metrics.runs.inc();
    metrics.manifests.inc(report.manifestsDeleted);
    metrics.links.inc(report.linksRemoved);
    metrics.blobs.inc(report.blobsDeleted);
    metrics.bytes.inc(report.bytesFreed + report.orphanBytes);
    metrics.orphans.inc(report.orphansDeleted);
    metrics.uploads.inc(report.uploadsPurged);
    metrics.duration.observe(report.durationMs / 1000);
  };
}
