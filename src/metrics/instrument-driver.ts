// A StorageDriver that measures the driver it wraps: latency and failures by operation.
// - read() is timed until the stream is returned, not until it is consumed (the client sets that pace);
//   write() and append() consume their body, so they are timed to the end of the transfer.
// - list() is timed over its whole iteration.
// - Not failures: ObjectNotFoundError (an answer, like stat()'s undefined) and calls whose signal was
//   aborted (the client went away).
import {
  ObjectNotFoundError,
  type DriverCallOptions,
  type StorageDriver,
} from '../../storage-drivers/types.js';
import { createOperationMetrics } from './operation-metrics.js';
import type { Registry } from 'prom-client';

/** Seconds: a stat takes a millisecond, a blob written to S3 may take minutes. */
export const STORAGE_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

const signalOf = (options: unknown) => (options as DriverCallOptions | undefined)?.signal;

const failed =
  (optionsAt: number) =>
  (err: unknown, args: readonly unknown[]): boolean =>
    !(err instanceof ObjectNotFoundError) &&
    (err as Error | undefined)?.name !== 'AbortError' &&
    signalOf(args[optionsAt])?.aborted !== true;

export function createDriverInstrumentation(registry: Registry) {
  const ops = createOperationMetrics(registry, {
    prefix: 'berth_storage',
    subject: 'storage driver',
    buckets: STORAGE_DURATION_BUCKETS,
  });

  return function instrumentDriver(driver: StorageDriver): StorageDriver {
    return {
      name: driver.name,
      stat: ops.timed('stat', driver.stat.bind(driver), failed(1)),
      read: ops.timed('read', driver.read.bind(driver), failed(1)),
      write: ops.timed('write', driver.write.bind(driver), failed(2)),
      append: ops.timed('append', driver.append.bind(driver), failed(2)),
      move: ops.timed('move', driver.move.bind(driver), failed(2)),
      delete: ops.timed('delete', driver.delete.bind(driver), failed(1)),
      list: ops.timedIteration('list', driver.list.bind(driver)),
      ...(driver.readUrl && { readUrl: ops.timed('readUrl', driver.readUrl.bind(driver), failed(2)) }),
      ...(driver.close && { close: driver.close.bind(driver) }),
    };
  };
}
