// Which token realms the mirror follows with its upstream credentials (issue 10, "Upstream auth"):
// the upstream's own host or registrable domain, never another domain, never https down to http.
import { describe, expect, it } from 'vitest';
import { isRealmAllowed } from '../../src/mirror/upstream-client.js';

describe('isRealmAllowed', () => {
  it("follows a realm on the upstream's own host, whatever the port or path", () => {
    expect(isRealmAllowed('https://ghcr.io', 'https://ghcr.io/token')).toBe(true);
    expect(isRealmAllowed('https://registry.example:5000', 'https://registry.example:5001/auth')).toBe(true);
    expect(isRealmAllowed('http://127.0.0.1:5000', 'http://127.0.0.1:6000/auth/token')).toBe(true);
  });

  it("follows a realm on the upstream's registrable domain", () => {
    expect(isRealmAllowed('https://registry-1.docker.io', 'https://auth.docker.io/token')).toBe(true);
    expect(isRealmAllowed('https://quay.io', 'https://auth.quay.io/v2/auth')).toBe(true);
    expect(isRealmAllowed('https://eu.registry.example.co.uk', 'https://auth.example.co.uk/t')).toBe(true);
  });

  it('refuses a realm on another domain', () => {
    expect(isRealmAllowed('https://registry-1.docker.io', 'https://auth.docker.io.evil.example/token')).toBe(
      false,
    );
    expect(isRealmAllowed('https://registry-1.docker.io', 'https://evil.example/token')).toBe(false);
    expect(isRealmAllowed('https://ghcr.io', 'https://github.com/token')).toBe(false);
    // Public suffixes are not a shared domain.
    expect(isRealmAllowed('https://a.example.co.uk', 'https://b.other.co.uk/t')).toBe(false);
    expect(isRealmAllowed('http://127.0.0.1:5000', 'http://127.0.0.2:5000/auth')).toBe(false);
  });

  it('refuses to go from https down to http, even on the same host', () => {
    expect(isRealmAllowed('https://registry-1.docker.io', 'http://auth.docker.io/token')).toBe(false);
    expect(isRealmAllowed('https://ghcr.io', 'http://ghcr.io/token')).toBe(false);
    expect(isRealmAllowed('http://registry.example', 'https://registry.example/token')).toBe(true);
  });

  it('refuses realms that are not http(s) URLs', () => {
    expect(isRealmAllowed('https://ghcr.io', '')).toBe(false);
    expect(isRealmAllowed('https://ghcr.io', '/token')).toBe(false);
    expect(isRealmAllowed('https://ghcr.io', 'file:///etc/passwd')).toBe(false);
    expect(isRealmAllowed('https://ghcr.io', 'ftp://ghcr.io/token')).toBe(false);
  });
});
