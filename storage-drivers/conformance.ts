// The behaviour every storage driver must show. A driver's test file calls
// `describeDriverConformance('name', async () => ({ driver, cleanup }))` and nothing else.
// Exported so third-party drivers can run the same suite.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidKeyError, ObjectNotFoundError, type StorageDriver } from './types.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  cleanup?: () => Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function listAll(driver: StorageDriver, prefix: string) {
  const found = [];
  for await (const info of driver.list(prefix)) found.push(info);
  return found.sort((a, b) => a.key.localeCompare(b.key));
}

function failingStream(goodBytes: Buffer): Readable {
  return new Readable({
    read() {
      this.push(goodBytes);
      this.destroy(new Error('client went away'));
    },
  });
}

export function describeDriverConformance(name: string, create: () => Promise<DriverUnderTest>): void {
  describe(`storage driver conformance: ${name}`, () => {
    let subject: DriverUnderTest;
    let driver: StorageDriver;
    beforeEach(async () => {
      subject = await create();
      driver = subject.driver;
    });
    afterEach(async () => {
      await driver.delete('');
      expect(await listAll(driver, '')).toEqual([]);
      await subject.cleanup?.();
    });

    it.each([
      ['empty', 0],
      ['tiny', 1],
      ['multi-chunk', 3 * 1024 * 1024 + 17],
    ])('round-trips a %s object', async (_label, size) => {
      const data = randomBytes(size);
      expect(await driver.write('a/b/object', Readable.from([data]))).toBe(size);
      expect(await driver.stat('a/b/object')).toEqual({ key: 'a/b/object', size });
      expect((await readAll(await driver.read('a/b/object'))).equals(data)).toBe(true);
    });

    it('accepts a Uint8Array body', async () => {
      const data = Buffer.from('hello');
      await driver.write('bytes', data);
      expect((await readAll(await driver.read('bytes'))).toString()).toBe('hello');
    });

    it('reads closed, open-ended and past-the-end ranges', async () => {
      const data = randomBytes(1000);
      await driver.write('ranged', data);
      const read = async (start: number, end?: number) =>
        readAll(await driver.read('ranged', { range: { start, end } }));
      expect((await read(10, 19)).equals(data.subarray(10, 20))).toBe(true);
      expect((await read(990)).equals(data.subarray(990))).toBe(true);
      expect((await read(995, 5000)).equals(data.subarray(995))).toBe(true);
    });

    it('reports absent objects', async () => {
      expect(await driver.stat('missing')).toBeUndefined();
      await expect(driver.read('missing')).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(driver.move('missing', 'elsewhere')).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('leaves nothing visible when a write fails midway', async () => {
      await expect(driver.write('broken', failingStream(randomBytes(4096)))).rejects.toThrow();
      expect(await driver.stat('broken')).toBeUndefined();
      expect(await listAll(driver, '')).toEqual([]);
    });

    it('keeps the old value when an overwrite fails, and replaces it when one succeeds', async () => {
      await driver.write('value', Buffer.from('old'));
      await expect(driver.write('value', failingStream(Buffer.from('partial')))).rejects.toThrow();
      expect((await readAll(await driver.read('value'))).toString()).toBe('old');
      await driver.write('value', Buffer.from('new!'));
      expect((await readAll(await driver.read('value'))).toString()).toBe('new!');
    });

    it('leaves nothing visible when a write is aborted', async () => {
      const controller = new AbortController();
      const slow = new Readable({ read() {} });
      slow.push(randomBytes(1024));
      const pending = driver.write('aborted', slow, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await expect(pending).rejects.toThrow();
      expect(await driver.stat('aborted')).toBeUndefined();
    });

    it('appends to an object across calls', async () => {
      expect(await driver.append('up/data', Readable.from([Buffer.from('abc')]))).toBe(3);
      expect(await driver.append('up/data', Readable.from([Buffer.from('defg')]))).toBe(7);
      expect((await readAll(await driver.read('up/data'))).toString()).toBe('abcdefg');
    });

    it('keeps the object whole or with a tail of the failed body when an append fails, and appends on', async () => {
      await driver.append('up/data', Readable.from([Buffer.from('abc')]));
      const partial = Buffer.from('partial');
      await expect(driver.append('up/data', failingStream(partial))).rejects.toThrow();
      const size = (await driver.stat('up/data'))?.size ?? 0;
      expect([3, 3 + partial.length]).toContain(size);
      const stored = await readAll(await driver.read('up/data'));
      expect(stored.equals(Buffer.concat([Buffer.from('abc'), partial]).subarray(0, size))).toBe(true);
      expect(await driver.append('up/data', Readable.from([Buffer.from('!')]))).toBe(size + 1);
    });

    it('stats, reads ranges of, lists and moves an object built by appends', async () => {
      const chunks = [randomBytes(1000), randomBytes(0), randomBytes(24), randomBytes(3000)];
      for (const chunk of chunks) await driver.append('up/data', Readable.from([chunk]));
      const whole = Buffer.concat(chunks);
      expect(await driver.stat('up/data')).toEqual({ key: 'up/data', size: whole.length });
      const span = await readAll(await driver.read('up/data', { range: { start: 990, end: 1030 } }));
      expect(span.equals(whole.subarray(990, 1031))).toBe(true);
      expect(await listAll(driver, 'up/')).toEqual([{ key: 'up/data', size: whole.length }]);
      await driver.move('up/data', 'blob/data');
      expect(await driver.stat('up/data')).toBeUndefined();
      expect((await readAll(await driver.read('blob/data'))).equals(whole)).toBe(true);
      expect(await listAll(driver, '')).toEqual([{ key: 'blob/data', size: whole.length }]);
    });

    it('appends to a written object, and a write replaces an appended one', async () => {
      const text = async (key: string) => (await readAll(await driver.read(key))).toString();
      await driver.write('mixed', Buffer.from('abc'));
      expect(await driver.append('mixed', Readable.from([Buffer.from('def')]))).toBe(6);
      expect(await text('mixed')).toBe('abcdef');
      await driver.write('mixed', Buffer.from('xyz'));
      expect(await driver.stat('mixed')).toEqual({ key: 'mixed', size: 3 });
      expect(await driver.append('mixed', Readable.from([Buffer.from('!')]))).toBe(4);
      expect(await text('mixed')).toBe('xyz!');
      expect(await listAll(driver, '')).toEqual([{ key: 'mixed', size: 4 }]);
    });

    it('moves an object, replacing the destination', async () => {
      await driver.write('from/x', Buffer.from('one'));
      await driver.write('to/x', Buffer.from('two'));
      await driver.move('from/x', 'to/x');
      expect(await driver.stat('from/x')).toBeUndefined();
      expect((await readAll(await driver.read('to/x'))).toString()).toBe('one');
    });

    it('lists recursively with sizes, beyond 1,000 keys', async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i % 7)}/k${String(i)}`);
      await Promise.all(keys.map((key, i) => driver.write(key, Buffer.alloc(i % 5))));
      await driver.write('other/file', Buffer.from('x'));
      const listed = await listAll(driver, 'many/');
      expect(listed.map((o) => o.key)).toEqual([...keys].sort((a, b) => a.localeCompare(b)));
      expect(listed.find((o) => o.key === 'many/3/k3')?.size).toBe(3);
    });

    it('deletes keys and prefixes idempotently', async () => {
      await driver.write('d/one', Buffer.from('1'));
      await driver.write('d/sub/two', Buffer.from('2'));
      await driver.write('keep', Buffer.from('3'));
      await driver.delete('d/one');
      await driver.delete('d/one');
      expect(await driver.stat('d/one')).toBeUndefined();
      await driver.delete('d/');
      await driver.delete('d/');
      expect(await listAll(driver, 'd/')).toEqual([]);
      expect(await driver.stat('keep')).toEqual({ key: 'keep', size: 1 });
    });

    it.each(['', '/abs', 'a//b', '../escape', 'a/../b', 'a/./b', 'a/b/', 'sp ace', 'a\\b'])(
      'rejects the invalid key %j',
      async (key) => {
        await expect(driver.write(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(driver.stat(key)).rejects.toBeInstanceOf(InvalidKeyError);
      },
    );

    it('ends concurrent writers of one key with one complete value', async () => {
      const values = Array.from({ length: 8 }, () => randomBytes(256 * 1024));
      await Promise.all(values.map((value) => driver.write('contended', Readable.from([value]))));
      const stored = await readAll(await driver.read('contended'));
      expect(values.some((value) => value.equals(stored))).toBe(true);
    });
  });
}
