import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDriverConformance } from './conformance.js';
import { createFilesystemDriver, FLUSH_EVERY } from './filesystem.js';

describeDriverConformance('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-driver-'));
  return {
    driver: createFilesystemDriver({ root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('filesystem driver descriptors', () => {
  const openDescriptors = async () => (await readdir('/proc/self/fd')).length;

  function failingBody(): Readable {
    return new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
        setImmediate(() => this.destroy(new Error('client went away')));
      },
    });
  }

  // A failed append used to close its descriptor twice: once in the stream, once by its owner. The
  // second close hit whatever file or socket had been given the number in between.
  it("closes each descriptor once when appends, writes and reads fail, touching no one else's", async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-fds-'));
    const driver = createFilesystemDriver({ root, fsync: false });
    try {
      await driver.write('read/me', Buffer.alloc(4 * 1024 * 1024));
      const before = await openDescriptors();
      const bystanders = [];
      for (let round = 0; round < 20; round += 1) {
        const failures = Array.from({ length: 8 }, (_, i) =>
          i % 2 === 0
            ? driver.append(`up/${round}-${i}/data`, failingBody())
            : driver.write(`obj/${round}-${i}`, failingBody()),
        );
        // Files opened while the failures unwind are likely to get their descriptor numbers.
        const opened = Array.from({ length: 8 }, () => open(join(root, 'read/me'), 'r'));
        const reads = Array.from({ length: 4 }, async () => (await driver.read('read/me')).destroy());
        const outcomes = await Promise.allSettled(failures);
        for (const outcome of outcomes) {
          // A second close of a free number fails with EBADF; the body's own error must come out.
          expect(outcome.status === 'rejected' && (outcome.reason as Error).message).toBe('client went away');
        }
        await Promise.allSettled(reads);
        bystanders.push(...(await Promise.all(opened)));
      }
      for (const handle of bystanders) expect((await handle.stat()).size).toBe(4 * 1024 * 1024);
      await Promise.all(bystanders.map((handle) => handle.close()));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await openDescriptors()).toBe(before);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('filesystem driver flushes', () => {
  /** A body of `chunks` × 1 MiB, handed over slowly enough for background flushes to start. */
  function body(chunks: number): Readable {
    let sent = 0;
    return new Readable({
      read() {
        if (sent === chunks) return this.push(null);
        sent += 1;
        setImmediate(() => this.push(Buffer.alloc(1024 * 1024, sent)));
      },
    });
  }

  it('flushes in the background while a large object is written, one flush at a time, then once more', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-flush-'));
    const probe = await open(join(root, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    let running = 0;
    let overlapping = 0;
    let calls = 0;
    const original = prototype.datasync;
    const spy = vi.spyOn(prototype, 'datasync').mockImplementation(async function (this: unknown) {
      calls += 1;
      running += 1;
      if (running > 1) overlapping += 1;
      try {
        return await original.call(this);
      } finally {
        running -= 1;
      }
    });
    try {
      const driver = createFilesystemDriver({ root });
      const chunks = (3 * FLUSH_EVERY) / (1024 * 1024) + 1;
      expect(await driver.write('big', body(chunks))).toBe(chunks * 1024 * 1024);
      // At least one background flush per FLUSH_EVERY bytes written while no other ran, plus the last.
      expect(calls).toBeGreaterThanOrEqual(2);
      expect(overlapping).toBe(0);
      calls = 0;
      await createFilesystemDriver({ root, fsync: false }).write('unsynced', body(chunks));
      expect(calls).toBe(0);
    } finally {
      spy.mockRestore();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('fails the write when a background flush fails', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-flush-'));
    const probe = await open(join(root, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const spy = vi.spyOn(prototype, 'datasync').mockRejectedValueOnce(new Error('EIO: i/o error, fdatasync'));
    try {
      const driver = createFilesystemDriver({ root });
      await expect(driver.write('big', body(FLUSH_EVERY / (1024 * 1024) + 2))).rejects.toThrow(/EIO/);
      expect(await driver.stat('big')).toBeUndefined();
    } finally {
      spy.mockRestore();
      await rm(root, { recursive: true, force: true });
    }
  });
});
