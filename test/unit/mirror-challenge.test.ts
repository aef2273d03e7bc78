// WWW-Authenticate challenges of upstream registries (RFC 9110 11.6.1; Docker token spec token.md).
import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../src/mirror/challenge.js';

describe('parseChallenge', () => {
  it('reads a Docker Hub Bearer challenge with realm, service and scope', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/nginx:pull',
      },
    });
  });

  it('reads a Basic challenge and lowercases the scheme and parameter names', () => {
    expect(parseChallenge('BASIC Realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
  });

  it('accepts spaces around separators, unquoted tokens and escaped quotes', () => {
    expect(
      parseChallenge('Bearer  realm = "https://r.example/t" ,  service=registry.example , error="a \\"b\\""'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://r.example/t', service: 'registry.example', error: 'a "b"' },
    });
  });

  it('keeps commas and spaces inside quoted values', () => {
    expect(
      parseChallenge('Bearer realm="https://r.example/t",scope="repository:a:pull,push repository:b:pull"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://r.example/t', scope: 'repository:a:pull,push repository:b:pull' },
    });
  });

  it('reads a scheme without parameters', () => {
    expect(parseChallenge('Negotiate')).toEqual({ scheme: 'negotiate', params: {} });
  });

  it('answers undefined for a missing or malformed header', () => {
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
    expect(parseChallenge('="x"')).toBeUndefined();
    expect(parseChallenge('   ')).toBeUndefined();
  });
});
