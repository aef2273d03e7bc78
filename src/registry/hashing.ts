// One-pass hashing: bytes are hashed and counted as they stream to storage, never buffered.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { SizeInvalidError } from './errors.js';
import type { DigestAlgorithm } from './references.js';

/** Passes bytes through while feeding `hash`; fails as soon as more than `maxBytes` arrive. */
export class HashingCounter extends Transform {
  bytes = 0;

  constructor(
    private readonly hash: Hash,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new SizeInvalidError(`body is longer than the declared ${this.maxBytes} bytes`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

export function newHash(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export async function hashStream(stream: Readable, algorithm: DigestAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
