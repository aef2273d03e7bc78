// The UI's API client (ui/src/lib/api.ts): credentials on every request, one retry after a renewed
// token, JSON bodies, Berth's errors as ApiError, and paths as the OpenAPI document declares them.
import { describe, expect, it } from 'vitest';
import { createApi } from '../../ui/src/lib/api.js';
import { ApiError, describeError } from '../../ui/src/lib/http.js';

const DOC = {
  paths: {
    '/api/v1/repositories/{name}/-/tags/{tag}/copy': {
      post: { parameters: [{ name: 'to', in: 'query' }], requestBody: {} },
    },
  },
};

function fakeSession(tokens: string[]) {
  let current = tokens.shift();
  return {
    renewals: 0,
    async authorization() {
      return current && `Bearer ${current}`;
    },
    async unauthorized() {
      this.renewals++;
      current = tokens.shift();
      return current !== undefined;
    },
  };
}

function fakeFetch(answer: (url: string, init: RequestInit) => Response) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, init });
    if (url === '/api/v1/openapi.json') return Response.json(DOC);
    return answer(url, init);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const header = (init: RequestInit, name: string) => new Headers(init.headers).get(name);

describe('the API client', () => {
  it('retries once with a renewed token after a 401, and not again', async () => {
    const session = fakeSession(['old', 'new']);
    const { fetch, calls } = fakeFetch((_url, init) =>
      header(init, 'authorization') === 'Bearer new'
        ? Response.json({ repositories: [], total: 0, next: null })
        : Response.json(
            { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
            { status: 401 },
          ),
    );
    const api = createApi({ fetch, session });
    expect(await api.listRepositories({ q: 'app', cursor: undefined })).toEqual({
      repositories: [],
      total: 0,
      next: null,
    });
    expect(calls.map((c) => [c.url, header(c.init, 'authorization')])).toEqual([
      ['/api/v1/repositories?q=app', 'Bearer old'],
      ['/api/v1/repositories?q=app', 'Bearer new'],
    ]);
    expect(session.renewals).toBe(1);
  });

  it("turns Berth's error body into an ApiError with its reason", async () => {
    const { fetch } = fakeFetch(() =>
      Response.json(
        {
          errors: [
            {
              code: 'DENIED',
              message: 'requested access to the resource is denied',
              detail: { reason: 'the tag is immutable' },
            },
          ],
        },
        { status: 403 },
      ),
    );
    const api = createApi({ fetch, session: fakeSession(['t']) });
    const err = await api.deleteTag('team/app', 'v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: 'DENIED', reason: 'the tag is immutable' });
    expect(describeError(err)).toBe('requested access to the resource is denied: the tag is immutable');
  });

  it('builds repository paths with /-/ and sends changes as JSON', async () => {
    const { fetch, calls } = fakeFetch((_url, init) =>
      init.method === 'DELETE'
        ? new Response(null, { status: 204 })
        : Response.json({ name: 'stable' }, { status: 201 }),
    );
    const api = createApi({ fetch, session: fakeSession([]) });
    await api.deleteTag('team/sub/app', '1.0');
    await api.copyTag('team/app', '1.0', { repository: 'team/app', tag: 'stable' });
    await api.copyTag('team/app', '1.0', { repository: 'other/app', tag: 'x' });
    const changes = calls.filter((c) => c.url !== '/api/v1/openapi.json');
    expect(changes.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'DELETE /api/v1/repositories/team/sub/app/-/tags/1.0',
      'POST /api/v1/repositories/team/app/-/tags/1.0/copy?to=stable',
      'POST /api/v1/repositories/team/app/-/tags/1.0/copy?to=other%2Fapp%3Ax',
    ]);
    expect(header(changes[1]?.init ?? {}, 'content-type')).toBe('application/json');
    expect(changes[1]?.init.body).toBe('{}');
    expect(calls.filter((c) => c.url === '/api/v1/openapi.json')).toHaveLength(1);
  });
});
