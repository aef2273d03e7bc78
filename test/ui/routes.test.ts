import { describe, expect, it } from 'vitest';
import { parseRepositoryRoute, routes, safeNext } from '../../ui/src/lib/routes.js';
import { pullCommand } from '../../ui/src/lib/pull.js';
import { readCapabilities } from '../../ui/src/lib/capabilities.js';

const DIGEST = `sha256:${'0f'.repeat(32)}`;

describe('UI routes', () => {
  it('separates a repository name, which holds /, from its pages with /-/', () => {
    expect(routes.repository('team/app')).toBe('/repositories/team/app');
    expect(routes.tag('team/sub/app', '1.0')).toBe('/repositories/team/sub/app/-/tags/1.0');
    expect(parseRepositoryRoute('team/sub/app')).toEqual({ kind: 'repository', name: 'team/sub/app' });
    expect(parseRepositoryRoute('team/sub/app/-/tags/1.0')).toEqual({
      kind: 'tag',
      name: 'team/sub/app',
      tag: '1.0',
    });
    expect(parseRepositoryRoute(`a/-/manifests/${DIGEST}`)).toEqual({
      kind: 'manifest',
      name: 'a',
      digest: DIGEST,
    });
    expect(routes.manifest('a', DIGEST)).toBe(`/repositories/a/-/manifests/${DIGEST}`);
    expect(parseRepositoryRoute('a/-/other/x')).toBeUndefined();
    expect(parseRepositoryRoute('')).toBeUndefined();
  });

  it('returns after sign-in only to a page of this UI', () => {
    expect(safeNext('/repositories/team/app')).toBe('/repositories/team/app');
    expect(safeNext('//evil.example/')).toBe('/');
    expect(safeNext('/\\evil.example')).toBe('/');
    expect(safeNext('https://evil.example/')).toBe('/');
    expect(safeNext(undefined)).toBe('/');
  });

  it('writes docker pull commands by tag and by digest', () => {
    expect(pullCommand('registry.example:5000', 'team/app', '1.0')).toBe(
      'docker pull registry.example:5000/team/app:1.0',
    );
    expect(pullCommand('127.0.0.1:5000', 'team/app', DIGEST)).toBe(
      `docker pull 127.0.0.1:5000/team/app@${DIGEST}`,
    );
  });
});

describe('capabilities from the OpenAPI document', () => {
  const op = {};
  it('finds garbage collection runs, and a copy that takes its target in the body', () => {
    const caps = readCapabilities({
      paths: {
        '/api/v1/repositories/{name}/-/tags/{tag}/copy': { post: { requestBody: {} } },
        '/api/v1/gc/runs': { get: op, post: op },
      },
    });
    expect(caps).toMatchObject({ gcRuns: true, copyInBody: true });
    expect(caps.has('POST', '/api/v1/gc/runs')).toBe(true);
  });

  it('sends the copy target as ?to= when the document says so, and shows no GC runs without the endpoint', () => {
    const caps = readCapabilities({
      paths: {
        '/api/v1/repositories/{name}/-/tags/{tag}/copy': {
          post: { parameters: [{ name: 'to', in: 'query' }], requestBody: {} },
        },
      },
    });
    expect(caps).toMatchObject({ gcRuns: false, copyInBody: false });
  });
});
