import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDriverConformance } from './conformance.js';
import { createFilesystemDriver } from './filesystem.js';

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
