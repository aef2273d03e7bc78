import { InvalidKeyError } from './types.js';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Keys are relative, '/'-separated paths of segments made of [A-Za-z0-9._-]. Empty segments,
 * '.' and '..', absolute keys and anything else that could escape a driver's root are refused.
 * A prefix may end with '/'; '' is the root prefix.
 */
export function assertValidKey(key: string, { prefix = false } = {}): void {
  if (prefix && key === '') return;
  const body = prefix && key.endsWith('/') ? key.slice(0, -1) : key;
  if (body.length === 0) throw new InvalidKeyError(key, 'empty key');
  if (body.length > 1024) throw new InvalidKeyError(key, 'longer than 1024 characters');
  for (const segment of body.split('/')) {
    if (!SEGMENT.test(segment)) throw new InvalidKeyError(key, `bad segment ${JSON.stringify(segment)}`);
  }
}
