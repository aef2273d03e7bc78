// Liveness and readiness endpoints: open to all, 200 while the database and storage answer, 503 with
// what is unavailable when one does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor } from '../support/http.js';
import { freePort } from '../support/processes.js';

describe('health endpoints', () => {
  let berth: RunningBerth;
  beforeAll(async () => {
    berth = await startBerth({ auth: { mode: 'token' } }, { adminPassword: 'health-check-admin' });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('answers /healthz and /readyz with 200 and no credentials, even in token mode', async () => {
    const api = clientFor(berth.url);
    const live = await api('GET', '/healthz');
    expect(live.status).toBe(200);
    expect(JSON.parse(live.text)).toEqual({ status: 'ok' });
    const ready = await api('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: 'ready', checks: { metadata: 'ok', storage: 'ok' } });
    expect((await api('GET', '/v2/')).status).toBe(401);
  });
});

describe('readiness with an unreachable storage backend', () => {
  let berth: RunningBerth;
  beforeAll(async () => {
    berth = await startBerth({
      storage: {
        driver: 's3',
        s3: {
          bucket: 'nowhere',
          endpoint: `http://127.0.0.1:${await freePort()}`,
          forcePathStyle: true,
          accessKeyId: 'key',
          secretAccessKey: 'secret',
          maxAttempts: 1,
          requestTimeout: '2s',
        },
      },
    });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('answers /readyz with 503 naming storage, while /healthz stays 200', async () => {
    const api = clientFor(berth.url);
    const ready = await api('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toEqual({
      status: 'unavailable',
      checks: { metadata: 'ok', storage: 'unavailable' },
    });
    expect((await api('GET', '/healthz')).status).toBe(200);
  });
});
