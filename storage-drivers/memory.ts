// In-memory driver for fast tests. It holds whole objects in memory by design; never use it for
// real data.
import { Readable, addAbortSignal } from 'node:stream';
import { assertValidKey } from './keys.js';
import {
  ObjectNotFoundError,
  type ByteRange,
  type DriverCallOptions,
  type ObjectInfo,
  type StorageDriver,
} from './types.js';

export function createMemoryDriver(): StorageDriver {
  const objects = new Map<string, Buffer>();

  async function collect(body: Readable | Uint8Array, signal?: AbortSignal): Promise<Buffer> {
    if (body instanceof Uint8Array) return Buffer.from(body);
    if (signal) addAbortSignal(signal, body);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  return {
    name: 'memory',
    async stat(key) {
      assertValidKey(key);
      const data = objects.get(key);
      return data ? { key, size: data.length } : undefined;
    },
    async read(key, options: DriverCallOptions & { range?: ByteRange } = {}) {
      assertValidKey(key);
      const data = objects.get(key);
      if (!data) throw new ObjectNotFoundError(key);
      const { start = 0, end = data.length - 1 } = options.range ?? {};
      return Readable.from([data.subarray(start, end + 1)]);
    },
    async write(key, body, options = {}) {
      assertValidKey(key);
      const data = await collect(body, options.signal);
      objects.set(key, data);
      return data.length;
    },
    async append(key, body, options = {}) {
      assertValidKey(key);
      const data = await collect(body, options.signal);
      const next = Buffer.concat([objects.get(key) ?? Buffer.alloc(0), data]);
      objects.set(key, next);
      return next.length;
    },
    async move(from, to) {
      assertValidKey(from);
      assertValidKey(to);
      const data = objects.get(from);
      if (!data) throw new ObjectNotFoundError(from);
      objects.set(to, data);
      objects.delete(from);
    },
    async delete(keyOrPrefix) {
      assertValidKey(keyOrPrefix, { prefix: true });
      if (!keyOrPrefix.endsWith('/') && keyOrPrefix !== '') {
        objects.delete(keyOrPrefix);
        return;
      }
      for (const key of [...objects.keys()]) if (key.startsWith(keyOrPrefix)) objects.delete(key);
    },
    async *list(prefix): AsyncIterable<ObjectInfo> {
      assertValidKey(prefix, { prefix: true });
      for (const [key, data] of [...objects]) if (key.startsWith(prefix)) yield { key, size: data.length };
    },
  };
}
