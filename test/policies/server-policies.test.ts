// Namespace policies in a whole in-process Berth (server.ts composition, SQLite, filesystem storage,
// auth mode none) over HTTP: rules set through /api/v1 apply to /v2 at once (a push over quota and a
// re-push of an immutable tag answer 403 DENIED with the message clients print), the repository
// retention routes are not taken for repository routes, and scheduled runs (retention.interval)
// delete what policies say.
import { afterEach, describe, expect, it } from 'vitest';
import type { BerthConfigInput } from '../../src/config/schema.js';
import { quotaExceededMessage } from '../../src/policies/quotas.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { send } from '../support/fuzz.js';
import { pushImage } from '../support/fuzz-registry.js';
import { digestOf, waitFor } from '../support/http.js';

describe('namespace policies in the server', () => {
  let berth: RunningBerth | undefined;
  afterEach(async () => {
    await berth?.stop();
    berth = undefined;
  });

  const start = async (config: BerthConfigInput = {}) => {
    berth = await startBerth({ retention: { interval: '0s' }, ...config });
    return berth.url;
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${berth?.url}/api/v1${path}`, {
      method,
      headers: body === undefined && method !== 'POST' ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  const tags = async (repository: string) =>
    (
      JSON.parse((await send(berth?.url ?? '', 'GET', `/v2/${repository}/tags/list`)).text) as {
        tags: string[];
      }
    ).tags;

  it('refuses a blob over quota and a moved immutable tag with 403 DENIED and their messages', async () => {
    const url = await start();
    await pushImage(url, 'team/app', 'v1', 'first');
    const { usedBytes } = (await api('GET', '/namespaces/team/quota')).json as { usedBytes: number };
    expect(usedBytes).toBeGreaterThan(2_000);

    expect((await api('PUT', '/namespaces/team/quota', { limitBytes: usedBytes + 100 })).status).toBe(200);
    const blob = Buffer.alloc(200, 7);
    const refused = await send(url, 'POST', `/v2/team/app/blobs/uploads/?digest=${digestOf(blob)}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob,
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toEqual({
      errors: [
        {
          code: 'DENIED',
          message: quotaExceededMessage('team', usedBytes + 200, usedBytes + 100),
          detail: { reason: 'quota exceeded' },
        },
      ],
    });
    expect((await api('DELETE', '/namespaces/team/quota')).status).toBe(204);

    expect((await api('PUT', '/namespaces/team/immutable-tags', { rules: [{ tags: 'v*' }] })).status).toBe(
      200,
    );
    await pushImage(url, 'team/app', 'v1', 'first'); // the same image again: allowed
    await expect(pushImage(url, 'team/app', 'v1', 'second')).rejects.toThrow(
      /got 403 .*DENIED.*tag team\/app:v1 is immutable \(rule .*v\*.* of namespace .*team.*\): push a new tag instead/s,
    );
    expect((await send(url, 'DELETE', '/v2/team/app/manifests/v1')).status).toBe(403);
    expect(await tags('team/app')).toEqual(['v1']);
  });

  it("sets a repository's retention policy at <name>/retention, not taken for a repository name", async () => {
    const url = await start();
    await pushImage(url, 'team/app', 'v1');
    const put = await api('PUT', '/repositories/team/app/-/retention', { keepPatterns: ['v*'] });
    expect(put).toEqual({
      status: 200,
      json: {
        scope: 'repository',
        name: 'team/app',
        policy: { keepLatest: null, keepPatterns: ['v*'], untaggedAfter: null },
      },
    });
    expect((await api('GET', '/repositories/team/app/-/retention')).json).toMatchObject({
      policy: { keepPatterns: ['v*'] },
    });
    expect((await api('DELETE', '/repositories/team/app/-/retention')).status).toBe(204);
    expect((await api('GET', '/repositories/team/app/-/retention')).json).toMatchObject({ policy: null });
    expect(await tags('team/app')).toEqual(['v1']);
  });

  it('runs retention on its schedule, on the policies set', async () => {
    const url = await start({ retention: { interval: '200ms' } });
    for (const tag of ['a', 'b', 'c', 'd']) await pushImage(url, 'team/app', tag, tag);
    expect(
      (await api('PUT', '/repositories/team/app/-/retention', { keepPatterns: ['c', 'd'] })).status,
    ).toBe(200);
    await waitFor('the scheduled retention run', async () => (await tags('team/app')).length === 2);
    expect(await tags('team/app')).toEqual(['c', 'd']);
  });

  it('runs no retention while deletes are disabled, and reports why a run on request deletes nothing', async () => {
    const url = await start({ retention: { interval: '100ms' }, storage: { delete: { enabled: false } } });
    for (const tag of ['a', 'b']) await pushImage(url, 'team/app', tag, tag);
    await api('PUT', '/namespaces/team/retention', { keepPatterns: ['b'] });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await tags('team/app')).toEqual(['a', 'b']);
    const run = await api('POST', '/namespaces/team/retention/run');
    expect(run.json).toMatchObject({
      dryRun: false,
      totals: { tags: 0, manifests: 0, skipped: 1 },
      repositories: [
        {
          skipped: [
            { tag: 'a', reason: 'the operation is unsupported: deletes are disabled by configuration' },
          ],
        },
      ],
    });
  });
});
