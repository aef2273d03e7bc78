import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReadStream, FileShorterThanExpectedError, READ_CHUNK } from './file-read-stream.js';
import { createFilesystemDriver } from './filesystem.js';
import { isSendable } from './types.js';

/**
 * A sink that answers each write late, like a socket whose buffer is full, and checks that a chunk's
 * bytes did not change between write() and the callback: a buffer reused before it was released fails.
 */
function slowCheckingSink(options: { delayMs?: number; failAfterBytes?: number } = {}) {
  const received: Buffer[] = [];
  let reusedEarly = 0;
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      const copy = Buffer.from(chunk);
      bytes += chunk.length;
      if (options.failAfterBytes !== undefined && bytes > options.failAfterBytes) {
        sink.destroy();
        return;
      }
      setTimeout(() => {
        if (!copy.equals(chunk)) reusedEarly += 1;
        received.push(copy);
        callback();
      }, options.delayMs ?? 2);
    },
  });
  return { sink, received: () => Buffer.concat(received), reusedEarly: () => reusedEarly };
}

describe('FileReadStream.sendTo', () => {
  let dir: string;
  let path: string;
  const data = randomBytes(3 * READ_CHUNK + 12_345);
  const openDescriptors = async () => (await readdir('/proc/self/fd')).length;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-file-read-'));
    path = join(dir, 'blob');
    await writeFile(path, data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the whole file across chunk boundaries, reusing no buffer before its write completed', async () => {
    const { sink, received, reusedEarly } = slowCheckingSink();
    const stream = new FileReadStream(await open(path, 'r'), path, 0, data.length);
    await stream.sendTo(sink);
    expect(received().equals(data)).toBe(true);
    expect(reusedEarly()).toBe(0);
    expect(stream.destroyed).toBe(true);
  });

  it('writes a range that starts and ends inside chunks', async () => {
    const start = READ_CHUNK - 7;
    const end = 2 * READ_CHUNK + 99;
    const { sink, received } = slowCheckingSink({ delayMs: 0 });
    await new FileReadStream(await open(path, 'r'), path, start, end).sendTo(sink);
    expect(received().equals(data.subarray(start, end))).toBe(true);
  });

  it('sends again with pooled buffers without mixing bodies', async () => {
    const other = randomBytes(2 * READ_CHUNK);
    const otherPath = join(dir, 'other');
    await writeFile(otherPath, other);
    const first = slowCheckingSink({ delayMs: 1 });
    const second = slowCheckingSink({ delayMs: 1 });
    await Promise.all([
      new FileReadStream(await open(path, 'r'), path, 0, data.length).sendTo(first.sink),
      new FileReadStream(await open(otherPath, 'r'), otherPath, 0, other.length).sendTo(second.sink),
    ]);
    expect(first.received().equals(data)).toBe(true);
    expect(second.received().equals(other)).toBe(true);
    expect(first.reusedEarly() + second.reusedEarly()).toBe(0);
  });

  it('rejects and closes the file when the sink closes midway, without waiting for it', async () => {
    const before = await openDescriptors();
    const { sink } = slowCheckingSink({ failAfterBytes: READ_CHUNK + 1 });
    const stream = new FileReadStream(await open(path, 'r'), path, 0, data.length);
    await expect(stream.sendTo(sink)).rejects.toThrow(/closed before/);
    await new Promise((resolve) => stream.once('close', resolve));
    expect(await openDescriptors()).toBe(before);
  });

  it('rejects when the file turns out shorter than expected', async () => {
    const shortPath = join(dir, 'short');
    await writeFile(shortPath, data);
    const handle = await open(shortPath, 'r');
    await truncate(shortPath, READ_CHUNK + 10);
    const { sink } = slowCheckingSink({ delayMs: 0 });
    await expect(new FileReadStream(handle, shortPath, 0, data.length).sendTo(sink)).rejects.toBeInstanceOf(
      FileShorterThanExpectedError,
    );
  });

  it('refuses to send a stream that is already being read', async () => {
    const stream = new FileReadStream(await open(path, 'r'), path, 0, data.length);
    stream.resume();
    await expect(stream.sendTo(slowCheckingSink().sink)).rejects.toThrow(/already being read/);
    stream.destroy();
  });

  it('is what the filesystem driver returns, so blob GETs use it', async () => {
    const driver = createFilesystemDriver({ root: dir, fsync: false });
    await driver.write('key', data.subarray(0, 100));
    const stream = await driver.read('key');
    expect(isSendable(stream)).toBe(true);
    stream.destroy();
  });
});
