// One upstream download of a blob, streamed to every client that wants it while it arrives.
// The bytes go to a spool file (hashed in the same pass), each reader follows the file as it grows
// with a descriptor of its own, and the blob is published to storage only once its digest is verified.
// Until then a reader never gets the blob's last byte: a download that breaks off or turns out to be
// wrong gives its readers a cut connection, never a complete wrong body (clients check the length).
// The fill belongs to no request: a reader that leaves does not stop it.
import { EventEmitter, once } from 'node:events';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DigestInvalidError } from '../registry/errors.js';
import { newHash } from '../registry/hashing.js';
import { digestAlgorithm, digestHex, type Digest } from '../registry/references.js';

/** What the origin answered: the declared length and the body. */
export interface FillOrigin {
  size: number;
  body: AsyncIterable<Buffer> & { destroy(error?: Error): void };
}

/** Bytes read from the spool per push to a reader. */
const READ_CHUNK = 256 * 1024;

export class BlobFillError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BlobFillError';
  }
}

export class BlobFill {
  /** Declared size, known once `started` resolves. */
  size = 0;
  /** Bytes in the spool so far. */
  written = 0;
  private state: 'starting' | 'filling' | 'verified' | 'failed' = 'starting';
  private failure: Error | undefined;
  private readonly events = new EventEmitter();
  /** Readers between creation and having their own descriptor: the spool stays until they do. */
  private opening = 0;
  /** Resolves when the origin answered (size known); rejects when it could not start. */
  readonly started: Promise<void>;
  /** Resolves when the fill is over (published or failed) and its spool removed; never rejects. */
  readonly settled: Promise<void>;

  constructor(
    readonly digest: Digest,
    private readonly spoolPath: string,
    openOrigin: () => Promise<FillOrigin>,
    /** Stores the verified spool; must not throw (it logs its own failures: readers were served). */
    private readonly publish: (spoolPath: string, size: number) => Promise<void>,
  ) {
    this.events.setMaxListeners(0);
    let markStarted!: () => void;
    let markFailedStart!: (err: Error) => void;
    this.started = new Promise<void>((resolve, reject) => {
      markStarted = resolve;
      markFailedStart = reject;
    });
    this.started.catch(() => {}); // a fill nobody waits for may fail unobserved
    this.settled = this.run(openOrigin, markStarted, markFailedStart);
  }

  get verified(): boolean {
    return this.state === 'verified';
  }

  /** A stream of bytes [start, end] (inclusive; the whole blob by default) following the spool. */
  reader(range?: { start: number; end: number }): Readable {
    return new SpoolReader(this, this.spoolPath, range?.start ?? 0, range ? range.end + 1 : undefined);
  }

  failed(): Error | undefined {
    return this.failure;
  }

  /** Resolves at the next change (more bytes, verified or failed). */
  changed(): Promise<unknown> {
    return once(this.events, 'change');
  }

  readerOpening(): void {
    this.opening += 1;
  }

  readerOpened(): void {
    this.opening -= 1;
    if (this.opening === 0) this.events.emit('opened');
  }

  private async run(
    openOrigin: () => Promise<FillOrigin>,
    markStarted: () => void,
    markFailedStart: (err: Error) => void,
  ): Promise<void> {
    let handle: FileHandle | undefined;
    let origin: FillOrigin | undefined;
    try {
      handle = await open(this.spoolPath, 'wx', 0o600);
      origin = await openOrigin();
      this.size = origin.size;
      this.state = 'filling';
      markStarted();
      const hash = newHash(digestAlgorithm(this.digest));
      for await (const chunk of origin.body) {
        if (this.written + chunk.length > this.size) {
          throw new BlobFillError(`upstream sent more than the declared ${this.size} bytes`);
        }
        hash.update(chunk);
        await writeFully(handle, chunk, this.written);
        this.written += chunk.length;
        this.events.emit('change');
      }
      if (this.written !== this.size) {
        throw new BlobFillError(`upstream ended after ${this.written} of ${this.size} bytes`);
      }
      const computed = hash.digest('hex');
      if (computed !== digestHex(this.digest)) {
        throw new DigestInvalidError('upstream content does not match its digest', {
          expected: this.digest,
          computed: `${digestAlgorithm(this.digest)}:${computed}`,
        });
      }
      await handle.close();
      handle = undefined;
      this.state = 'verified';
      this.events.emit('change');
      await this.publish(this.spoolPath, this.size);
    } catch (err) {
      origin?.body.destroy();
      if (this.state !== 'verified') {
        this.failure = err as Error;
        if (this.state === 'starting') markFailedStart(err as Error);
        this.state = 'failed';
        this.events.emit('change');
      }
    } finally {
      // Cleanup failures (a descriptor that will not close, a spool that will not go) must not reject
      // `settled`: nobody awaits it to the end, and an unhandled rejection ends the process.
      await handle?.close().catch(() => {});
      if (this.opening > 0) await once(this.events, 'opened');
      await rm(this.spoolPath, { force: true }).catch(() => {});
    }
  }
}

/** FileHandle.write may write less than asked: repeat with what is left. */
async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    if (bytesWritten === 0) throw new Error('the file system accepted no bytes');
    done += bytesWritten;
  }
}

/** Follows a growing spool file with a descriptor of its own (its only owner). */
class SpoolReader extends Readable {
  private handle: FileHandle | undefined;
  private position: number;
  private pumping = false;

  constructor(
    private readonly fill: BlobFill,
    private readonly path: string,
    start: number,
    /** Exclusive end; undefined means the end of the blob. */
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.position = start;
    fill.readerOpening(); // counted now: _construct runs on the next tick
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.path, 'r').then(
      (handle) => {
        this.handle = handle;
        this.fill.readerOpened();
        callback();
      },
      (err: Error) => {
        this.fill.readerOpened();
        callback(this.fill.failed() ?? err);
      },
    );
  }

  override _read(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.pump().then(
      () => (this.pumping = false),
      (err: Error) => this.destroy(err),
    );
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.destroyed) return;
      const failure = this.fill.failed();
      if (failure) throw failure;
      const end = this.end ?? this.fill.size;
      const verified = this.fill.verified;
      if (this.position >= end && verified) {
        this.push(null);
        return;
      }
      // Until the digest is verified, the last byte a reader asked for is held back (of a range
      // too: containerd resumes with ranges), so no reader gets a complete wrong answer.
      const limit = verified ? end : Math.min(this.fill.written, end - 1);
      if (this.position < limit) {
        const length = Math.min(READ_CHUNK, limit - this.position);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await (this.handle as FileHandle).read(buffer, 0, length, this.position);
        if (bytesRead === 0) throw new BlobFillError('spool shorter than recorded');
        this.position += bytesRead;
        this.push(buffer.subarray(0, bytesRead));
        return;
      }
      await this.fill.changed();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return callback(error);
    handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
