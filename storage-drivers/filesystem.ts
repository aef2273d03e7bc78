// Filesystem driver: one file per key below `root`. Whole-object writes go to a temporary file in
// `<root>/.tmp` (same filesystem) and are renamed into place, so a crash never leaves a partial
// object under its key. With `fsync` on, data is flushed before the rename makes it visible.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { addAbortSignal, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileReadStream } from './file-read-stream.js';
import { assertValidKey } from './keys.js';
import { ObjectNotFoundError, type ObjectInfo, type StorageDriver } from './types.js';

export interface FilesystemDriverOptions {
  root: string;
  /** Flush file data to disk before an object becomes visible (default true). */
  fsync?: boolean;
}

const TMP_DIR = '.tmp';
const STREAM_CHUNK = 1024 * 1024;

/** With fsync on, a background fdatasync starts after each FLUSH_EVERY bytes written (see fileSink). */
export const FLUSH_EVERY = 16 * 1024 * 1024;

type FileSink = Writable & {
  readonly bytesWritten: number;
  /** Waits for a background flush still running; rejects with its error, if one failed. */
  flushesSettled(): Promise<void>;
};

/**
 * A Writable that writes to `handle` and never closes it: the caller that opened the handle is its one
 * owner and closes it (FileHandle.close() waits for a write still in flight). Node's fs.WriteStream
 * closes its fd when destroyed, even with `autoClose: false`, so a failed pipeline followed by the
 * owner's close closed one descriptor number twice, the second time possibly someone else's socket.
 * Chunks queued while a write is in flight go out together in one writev.
 *
 * With `flushInBackground`, an fdatasync starts (in the thread pool, one at a time) each time another
 * FLUSH_EVERY bytes have been written, so the disk writes back while more bytes arrive and the final
 * fdatasync, which the caller still makes, has only the tail left (Linux has sync_file_range for
 * this; Node does not expose it).
 */
function fileSink(handle: FileHandle, flushInBackground: boolean): FileSink {
  let bytesWritten = 0;
  let flushedAt = 0;
  let flushing: Promise<void> | undefined;
  let flushError: unknown;
  const startFlush = () => {
    flushedAt = bytesWritten;
    flushing = handle.datasync().then(
      () => {
        flushing = undefined;
      },
      (err: unknown) => {
        flushing = undefined;
        flushError ??= err;
      },
    );
  };
  const sink = new Writable({
    highWaterMark: STREAM_CHUNK,
    writev(chunks, callback) {
      const buffers = chunks.map(({ chunk }) => chunk as Buffer);
      writeFully(handle, buffers).then((written) => {
        bytesWritten += written;
        if (flushInBackground && !flushing && bytesWritten - flushedAt >= FLUSH_EVERY) startFlush();
        callback();
      }, callback);
    },
  });
  return Object.defineProperties(sink, {
    bytesWritten: { get: () => bytesWritten },
    flushesSettled: {
      value: async () => {
        await flushing;
        if (flushError !== undefined) throw flushError;
      },
    },
  }) as FileSink;
}

/** FileHandle.writev may write less than asked (like writev(2)): repeat with what is left. */
async function writeFully(handle: FileHandle, buffers: Buffer[]): Promise<number> {
  let total = 0;
  let pending = buffers.filter((buffer) => buffer.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    if (bytesWritten === 0) throw new Error('the file system accepted no bytes');
    total += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) skip -= buffer.length;
      else {
        rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    pending = rest;
  }
  return total;
}

export function createFilesystemDriver({ root, fsync = true }: FilesystemDriverOptions): StorageDriver {
  const tmpRoot = join(root, TMP_DIR);
  const pathOf = (key: string) => join(root, key);

  const isNotFound = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

  /** Runs `operation`, creating the parent directory of `path` and retrying once if it was missing. */
  async function withParent<T>(path: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await mkdir(dirname(path), { recursive: true });
      return operation();
    }
  }

  async function writeAll(handle: FileHandle, body: Readable | Uint8Array, signal?: AbortSignal) {
    if (body instanceof Uint8Array) {
      // Small whole bodies (manifests) skip the stream machinery.
      signal?.throwIfAborted();
      await handle.writeFile(body);
      if (fsync) await handle.datasync();
      return body.length;
    }
    const sink = fileSink(handle, fsync);
    try {
      await pipeline(body, sink, { signal });
    } catch (err) {
      await sink.flushesSettled().catch(() => {}); // the pipeline's error is the one to report
      throw err;
    }
    await sink.flushesSettled();
    if (fsync) await handle.datasync();
    return sink.bytesWritten;
  }

  return {
    name: 'filesystem',
    async stat(key) {
      assertValidKey(key);
      try {
        const info = await stat(pathOf(key));
        return info.isFile() ? { key, size: info.size } : undefined;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async read(key, { range, signal } = {}) {
      assertValidKey(key);
      const path = pathOf(key);
      let handle: FileHandle;
      try {
        handle = await open(path, 'r');
      } catch (err) {
        if (isNotFound(err)) throw new ObjectNotFoundError(key);
        throw err;
      }
      // From here on the stream owns the handle and closes it when it ends or is destroyed.
      try {
        // A range past the end reads to the end, as a file stream does (callers resolve ranges first).
        const { size } = await handle.stat();
        const end = range?.end !== undefined ? Math.min(range.end + 1, size) : size;
        const stream = new FileReadStream(handle, path, range?.start ?? 0, end);
        return signal ? addAbortSignal(signal, stream) : stream;
      } catch (err) {
        await handle.close();
        throw err;
      }
    },
    async write(key, body, { signal } = {}) {
      assertValidKey(key);
      const tmp = join(tmpRoot, randomUUID());
      const handle = await withParent(tmp, () => open(tmp, 'wx'));
      try {
        const size = await writeAll(handle, body, signal).finally(() => handle.close());
        await withParent(pathOf(key), () => rename(tmp, pathOf(key)));
        return size;
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
    async append(key, body, { signal } = {}) {
      assertValidKey(key);
      const path = pathOf(key);
      const handle = await withParent(path, () => open(path, 'a'));
      try {
        await writeAll(handle, body, signal);
        return (await handle.stat()).size;
      } finally {
        await handle.close();
      }
    },
    async move(from, to) {
      assertValidKey(from);
      assertValidKey(to);
      try {
        await withParent(pathOf(to), () => rename(pathOf(from), pathOf(to)));
      } catch (err) {
        if (isNotFound(err)) throw new ObjectNotFoundError(from);
        throw err;
      }
    },
    async delete(keyOrPrefix) {
      assertValidKey(keyOrPrefix, { prefix: true });
      if (keyOrPrefix === '') {
        for (const entry of await readdir(root).catch(() => [])) {
          await rm(join(root, entry), { recursive: true, force: true });
        }
        return;
      }
      await rm(pathOf(keyOrPrefix), { recursive: keyOrPrefix.endsWith('/'), force: true });
    },
    async *list(prefix): AsyncIterable<ObjectInfo> {
      assertValidKey(prefix, { prefix: true });
      // A prefix names a directory ("a/b/") or a key-name prefix ("a/b" matches "a/bc").
      const dir = prefix.endsWith('/') || prefix === '' ? pathOf(prefix) : dirname(pathOf(prefix));
      let entries;
      try {
        entries = await readdir(dir, { recursive: true, withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        const full = join(entry.parentPath, entry.name);
        const key = relative(root, full).split(sep).join('/');
        if (key.startsWith(`${TMP_DIR}/`) || !key.startsWith(prefix)) continue;
        const info = await stat(full).catch(() => undefined);
        if (info) yield { key, size: info.size };
      }
    },
  };
}
