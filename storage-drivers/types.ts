// The storage driver contract: bytes under keys, nothing else. Drivers know no digests, repositories,
// SQL or HTTP; the key layout is decided by the caller (src/registry/layout.ts) and drivers only
// validate keys (see keys.ts).
import type { Readable, Writable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
}

/** Inclusive byte range; `end` omitted means "to the end of the object". */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface DriverCallOptions {
  signal?: AbortSignal;
}

export interface StorageDriver {
  readonly name: string;
  /** The object's size, or undefined when no object has this key. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** A stream of the object's bytes (or of a range within it). Throws ObjectNotFoundError. */
  read(key: string, options?: DriverCallOptions & { range?: ByteRange }): Promise<Readable>;
  /**
   * Stores a whole object atomically: readers see the previous value or the complete new one,
   * never a partial one. A failed or aborted write leaves nothing new visible. Returns the size.
   */
  write(key: string, body: Readable | Uint8Array, options?: DriverCallOptions): Promise<number>;
  /**
   * Appends a stream to an object, creating it when absent; used for upload sessions only.
   * Returns the object's new size. When it fails the object may keep a partial tail: callers
   * re-read the size with stat().
   */
  append(key: string, body: Readable, options?: DriverCallOptions): Promise<number>;
  /** Moves an object to a new key atomically, replacing any object already there. */
  move(from: string, to: string): Promise<void>;
  /** Deletes one key, or every key below a prefix that ends with '/'. Deleting nothing is not an error. */
  delete(keyOrPrefix: string): Promise<void>;
  /** Every object below a prefix ('' for all), recursively, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * A short-lived URL from which a client may GET the object's bytes directly, for backends that can
   * serve them (S3 presigned URLs). Only for objects stored whole by write() or move(), not for ones
   * built by append().
   */
  readUrl?(key: string, options: { expiresInSeconds: number }): Promise<string>;
  /** Releases resources (connections, timers). */
  close?(): Promise<void>;
}

/**
 * A stream returned by read() that can also write its bytes into a Writable itself, more cheaply than
 * piping (the filesystem driver reuses its buffers). Use either sendTo() or the Readable, not both.
 */
export interface SendableStream extends Readable {
  /**
   * Writes every byte into `sink` without ending it and resolves to their number; destroys this
   * stream when done or failed.
   */
  sendTo(sink: Writable): Promise<number>;
}

export function isSendable(stream: Readable): stream is SendableStream {
  return typeof (stream as Partial<SendableStream>).sendTo === 'function';
}

export class StorageDriverError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ObjectNotFoundError extends StorageDriverError {
  constructor(readonly key: string) {
    super(`no object at key ${JSON.stringify(key)}`);
  }
}

export class InvalidKeyError extends StorageDriverError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`);
  }
}
