// Latency and errors of the operations of a store (storage driver, metadata index), by operation name.
// One histogram and one counter per kind of store; each wrapped method holds its own series, so a call
// costs two clock reads, one observation and the promise reaction that sees it settle.
import type { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

export interface OperationMetricsOptions {
  /** Metric name prefix, e.g. `berth_storage`. */
  prefix: string;
  /** What is measured, for the help texts, e.g. `storage driver`. */
  subject: string;
  buckets: number[];
}

export interface OperationTimer {
  /** Times a promise-returning operation until it settles; counts a rejection when `isFailure` says so. */
  timed<A extends unknown[], R>(
    operation: string,
    fn: (...args: A) => Promise<R>,
    isFailure?: (err: unknown, args: A) => boolean,
  ): (...args: A) => Promise<R>;
  /** Times an async iteration from its first step to its end (or the consumer stopping). */
  timedIteration<A extends unknown[], T>(
    operation: string,
    fn: (...args: A) => AsyncIterable<T>,
  ): (...args: A) => AsyncIterable<T>;
}

const always = () => true;

export function createOperationMetrics(registry: Registry, options: OperationMetricsOptions): OperationTimer {
  const durations = new FastHistogram(registry, {
    name: `${options.prefix}_operation_duration_seconds`,
    help: `Latency of ${options.subject} operations, by operation`,
    labelNames: ['operation'],
    buckets: options.buckets,
  });
  const failures = new FastCounter(registry, {
    name: `${options.prefix}_operation_errors_total`,
    help: `Failed ${options.subject} operations, by operation`,
    labelNames: ['operation'],
  });
  const seconds = (started: number) => (performance.now() - started) / 1000;

  return {
    timed(operation, fn, isFailure = always) {
      const duration = durations.series(operation);
      const errors = failures.series(operation);
      return (...args) => {
        const started = performance.now();
        let result;
        try {
          result = fn(...args);
        } catch (err) {
          duration.observe(seconds(started));
          if (isFailure(err, args)) errors.inc();
          throw err;
        }
        return result.then(
          (value) => {
            duration.observe(seconds(started));
            return value;
          },
          (err: unknown) => {
            duration.observe(seconds(started));
            if (isFailure(err, args)) errors.inc();
            throw err;
          },
        );
      };
    },

    timedIteration(operation, fn) {
      const duration = durations.series(operation);
      const errors = failures.series(operation);
      return async function* (...args) {
        const started = performance.now();
        try {
          yield* fn(...args);
        } catch (err) {
          errors.inc();
          throw err;
        } finally {
          duration.observe(seconds(started));
        }
      };
    },
  };
}
