// X-Request-Id: a client's (or proxy's) id is echoed when it is a short token, else one is made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('X-Request-Id', () => {
  let berth: RunningBerth;
  beforeAll(async () => {
    berth = await startBerth();
  });
  afterAll(async () => {
    await berth?.stop();
  });

  const idOf = async (headers: Record<string, string> = {}, path = '/v2/') => {
    const res = await fetch(`${berth.url}${path}`, { headers });
    await res.arrayBuffer();
    return res.headers.get('x-request-id');
  };

  it('echoes an id the client sent', async () => {
    expect(await idOf({ 'X-Request-Id': 'lb-7f3a.42:1' })).toBe('lb-7f3a.42:1');
  });

  it('makes a fresh id for each request without one, errors included', async () => {
    const first = await idOf();
    const second = await idOf({}, '/v2/no/such/manifests/latest');
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(second).not.toBe(first);
  });

  it('replaces an id that could forge log lines or is too long', async () => {
    expect(await idOf({ 'X-Request-Id': 'a b"c' })).toMatch(UUID);
    expect(await idOf({ 'X-Request-Id': 'x'.repeat(129) })).toMatch(UUID);
  });
});
