// Which upstream serves a local name, and under which name the upstream knows it (src/mirror/routing.ts).
import { describe, expect, it } from 'vitest';
import type { RepoName } from '../../src/registry/references.js';
import {
  createMirrorRouting,
  defaultHosts,
  hostOf,
  isDockerHubUrl,
  type RoutedUpstream,
} from '../../src/mirror/routing.js';

const name = (value: string) => value as RepoName;

const hub: RoutedUpstream = {
  name: 'dockerhub',
  prefix: 'dockerhub',
  root: true,
  hosts: ['docker.io', 'index.docker.io', 'registry-1.docker.io'],
  dockerHub: true,
};
const ghcr: RoutedUpstream = {
  name: 'ghcr',
  prefix: 'ghcr',
  root: false,
  hosts: ['ghcr.io'],
  dockerHub: false,
};
const quay: RoutedUpstream = {
  name: 'quay',
  prefix: 'quay',
  root: false,
  hosts: ['quay.io', 'Registry.Example:5000'],
  dockerHub: false,
};

describe('createMirrorRouting', () => {
  const routing = createMirrorRouting([hub, ghcr, quay]);

  it('routes a name under a prefix to its upstream without the prefix', () => {
    expect(routing.route(name('ghcr/org/app'))).toEqual({
      upstream: ghcr,
      remoteName: 'org/app',
      viaRoot: false,
    });
    expect(routing.route(name('quay/org/team/app'))).toEqual({
      upstream: quay,
      remoteName: 'org/team/app',
      viaRoot: false,
    });
  });

  it('applies the Docker Hub library/ rule to one-component names only', () => {
    expect(routing.route(name('dockerhub/nginx'))).toMatchObject({
      upstream: hub,
      remoteName: 'library/nginx',
    });
    expect(routing.route(name('dockerhub/library/nginx'))).toMatchObject({ remoteName: 'library/nginx' });
    expect(routing.route(name('dockerhub/bitnami/redis'))).toMatchObject({ remoteName: 'bitnami/redis' });
    expect(routing.route(name('ghcr/app'))).toMatchObject({ upstream: ghcr, remoteName: 'app' });
  });

  it('routes every other name to the root upstream', () => {
    expect(routing.route(name('busybox'))).toEqual({
      upstream: hub,
      remoteName: 'library/busybox',
      viaRoot: true,
    });
    expect(routing.route(name('library/busybox'))).toEqual({
      upstream: hub,
      remoteName: 'library/busybox',
      viaRoot: true,
    });
    expect(routing.route(name('team/app'))).toMatchObject({
      upstream: hub,
      remoteName: 'team/app',
      viaRoot: true,
    });
    // A prefix is the whole first component: "ghcrx" is not "ghcr".
    expect(routing.route(name('ghcrx/app'))).toMatchObject({ upstream: hub, viaRoot: true });
    // The prefix alone is a one-component name at the root.
    expect(routing.route(name('ghcr'))).toMatchObject({
      upstream: hub,
      remoteName: 'library/ghcr',
      viaRoot: true,
    });
  });

  it('leaves names outside the prefixes local when no upstream is the root', () => {
    const noRoot = createMirrorRouting([ghcr, quay]);
    expect(noRoot.route(name('team/app'))).toBeUndefined();
    expect(noRoot.route(name('busybox'))).toBeUndefined();
    expect(noRoot.route(name('ghcr/org/app'))).toMatchObject({ upstream: ghcr });
    expect(noRoot.empty).toBe(false);
    expect(createMirrorRouting([]).empty).toBe(true);
    expect(createMirrorRouting([]).route(name('a/b'))).toBeUndefined();
  });

  it('files a name asked with ?ns= under the prefix of the upstream serving that host', () => {
    expect(routing.localNameForNamespace('org/app', 'ghcr.io')).toBe('ghcr/org/app');
    expect(routing.localNameForNamespace('org/app', 'registry.example:5000')).toBe('quay/org/app');
    expect(routing.localNameForNamespace('org/app', 'QUAY.IO')).toBe('quay/org/app');
  });

  it('files a name asked with a Docker Hub ns at the root, under any of its host names', () => {
    for (const ns of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      expect(routing.localNameForNamespace('library/nginx', ns)).toBe('library/nginx');
    }
  });

  it('files under the prefix when the upstream serving the ns is not the root', () => {
    const hubByPrefix = createMirrorRouting([{ ...hub, root: false }, ghcr]);
    expect(hubByPrefix.localNameForNamespace('library/nginx', 'docker.io')).toBe('dockerhub/library/nginx');
  });

  it('answers undefined for a host no upstream serves', () => {
    expect(routing.localNameForNamespace('org/app', 'registry.other')).toBeUndefined();
    expect(routing.localNameForNamespace('org/app', 'ghcr.io:443')).toBeUndefined();
  });
});

describe('upstream hosts', () => {
  it('recognises Docker Hub under its host names', () => {
    expect(isDockerHubUrl('https://registry-1.docker.io')).toBe(true);
    expect(isDockerHubUrl('https://index.docker.io/v1/')).toBe(true);
    expect(isDockerHubUrl('https://docker.io')).toBe(true);
    expect(isDockerHubUrl('https://ghcr.io')).toBe(false);
    expect(isDockerHubUrl('https://registry-1.docker.io.example')).toBe(false);
  });

  it("defaults the ns hosts to the URL's host[:port], or to Docker Hub's names", () => {
    expect(defaultHosts('https://ghcr.io')).toEqual(['ghcr.io']);
    expect(defaultHosts('http://127.0.0.1:5000/')).toEqual(['127.0.0.1:5000']);
    expect(defaultHosts('https://Registry.Example:443')).toEqual(['registry.example']);
    expect(defaultHosts('https://registry-1.docker.io')).toEqual([
      'docker.io',
      'index.docker.io',
      'registry-1.docker.io',
    ]);
    expect(hostOf('https://Quay.IO:8443/x')).toBe('quay.io:8443');
  });
});
