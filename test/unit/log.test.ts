import { describe, expect, it } from 'vitest';
import { isPrettyLog } from '../../src/log.js';

describe('log.format', () => {
  it('is human-readable on a terminal and JSON otherwise when auto', () => {
    expect(isPrettyLog('auto', true)).toBe(true);
    expect(isPrettyLog('auto', false)).toBe(false);
  });

  it('follows an explicit choice whatever stdout is', () => {
    expect(isPrettyLog('json', true)).toBe(false);
    expect(isPrettyLog('pretty', false)).toBe(true);
  });
});
