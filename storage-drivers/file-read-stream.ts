// Reading a file for the filesystem driver: an ordinary Readable for every consumer, which can also
// write itself into a Writable (a blob GET's response) with a few buffers it reuses. Reused buffers
// are what make the second path cheap: every fresh 1 MiB buffer costs the kernel 256 page faults and a
// zeroing pass, more than the copy into the socket itself (measured in docs/benchmarks.md, "Blob GET").
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { StorageDriverError, type SendableStream } from './types.js';

/** Bytes per read() call. */
export const READ_CHUNK = 1024 * 1024;
/** Buffers a send keeps in flight: one being read from the file while the others go to the socket. */
const SEND_BUFFERS = 3;
/** Free chunk buffers kept between sends (at most POOL_MAX × READ_CHUNK bytes stay allocated). */
const POOL_MAX = 8;

const pool: Buffer[] = [];

function takeBuffer(length: number): Buffer {
  // A body smaller than a chunk gets a buffer of its own size: small reads do not pin 1 MiB.
  if (length < READ_CHUNK) return Buffer.allocUnsafe(length);
  return pool.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
}

function giveBack(buffer: Buffer): void {
  if (buffer.length === READ_CHUNK && pool.length < POOL_MAX) pool.push(buffer);
}

export class FileShorterThanExpectedError extends StorageDriverError {
  constructor(path: string, position: number) {
    super(`file ${path} ended at byte ${position}, before the expected end`);
  }
}

/**
 * The bytes [start, end) of an open file. The stream owns `handle` and closes it exactly once, when it
 * ends, fails or is destroyed — also after sendTo(), which destroys the stream when it is done.
 */
export class FileReadStream extends Readable implements SendableStream {
  private position: number;
  private sending = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.position = start;
  }

  override _read(): void {
    const length = Math.min(READ_CHUNK, this.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    // Pushed buffers belong to the consumer from then on: the Readable path never reuses them.
    const buffer = Buffer.allocUnsafe(length);
    readFully(this.handle, this.path, buffer, length, this.position).then(
      (bytes) => {
        this.position += bytes;
        this.push(buffer);
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(err),
      (closeErr: Error) => callback(err ?? closeErr),
    );
  }

  /**
   * Writes every remaining byte into `sink` (not ending it), reading the next chunk while earlier ones
   * are written. A buffer is read into again only after `sink`'s write callback released it. Rejects
   * when the file is shorter than expected or `sink` closes first; destroys this stream either way.
   * Resolves to the number of bytes written.
   */
  async sendTo(sink: Writable): Promise<number> {
    if (this.sending || this.readableFlowing !== null) {
      throw new Error('FileReadStream: sendTo() on a stream that is already being read');
    }
    this.sending = true;
    const closed = closedBeforeDone(sink);
    const first = this.position;
    const buffers: Buffer[] = [];
    try {
      // No more buffers than the body has chunks: a blob of one chunk takes one buffer.
      const chunks = Math.ceil((this.end - this.position) / READ_CHUNK);
      const slots = Array.from({ length: Math.min(SEND_BUFFERS, chunks) }, () => {
        const buffer = takeBuffer(Math.min(READ_CHUNK, this.end - this.position));
        buffers.push(buffer);
        return { buffer, released: Promise.resolve() };
      });
      type Slot = (typeof slots)[number];
      let next = this.position;
      const startRead = (slot: Slot): Promise<{ slot: Slot; bytes: number }> => {
        const position = next;
        const length = Math.min(slot.buffer.length, this.end - position);
        next += length;
        const read = slot.released
          .then(() => readFully(this.handle, this.path, slot.buffer, length, position))
          .then((bytes) => ({ slot, bytes }));
        read.catch(() => {}); // a read still in flight when the sink closes is abandoned, not unhandled
        return read;
      };
      const reads: Promise<{ slot: Slot; bytes: number }>[] = [];
      for (const slot of slots) if (next < this.end) reads.push(startRead(slot));
      while (reads.length > 0) {
        const { slot, bytes } = await Promise.race([reads.shift()!, closed.promise]);
        const chunk = bytes === slot.buffer.length ? slot.buffer : slot.buffer.subarray(0, bytes);
        slot.released = new Promise<void>((release) => sink.write(chunk, () => release()));
        this.position += bytes;
        if (next < this.end) reads.push(startRead(slot));
      }
      // Every write has been handed to the sink; the last ones must be out before the buffers go back.
      await Promise.race([Promise.all(slots.map((slot) => slot.released)), closed.promise]);
      for (const buffer of buffers) giveBack(buffer);
      return this.position - first;
    } finally {
      closed.dispose();
      this.destroy();
    }
  }
}

/** Reads exactly `length` bytes at `position` into `buffer`, or rejects when the file ends first. */
async function readFully(
  handle: FileHandle,
  path: string,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new FileShorterThanExpectedError(path, position + done);
    done += bytesRead;
  }
  return done;
}

/** A promise that rejects when `sink` closes or fails before dispose() is called. */
function closedBeforeDone(sink: Writable): { promise: Promise<never>; dispose(): void } {
  let onClose = (): void => {};
  const promise = new Promise<never>((_resolve, reject) => {
    onClose = () => reject(new Error('the receiving stream closed before the file was sent'));
  });
  promise.catch(() => {}); // raced against reads; an unobserved rejection is not an error here
  if (sink.destroyed || sink.closed) onClose();
  sink.once('close', onClose);
  sink.once('error', onClose);
  return {
    promise,
    dispose() {
      sink.off('close', onClose);
      sink.off('error', onClose);
    },
  };
}
