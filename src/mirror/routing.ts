// Which upstream serves which local repository name, and under which name the upstream knows it.
// Three ways to reach an upstream, usable at once:
// - a prefix:     /v2/<prefix>/<upstream name>/...        (dockerhub/library/nginx, ghcr/org/app)
// - the root:     /v2/<upstream name>/...                 (dockerd "registry-mirrors" sends Docker Hub
//                 names at the root; one-segment Docker Hub names mean library/NAME)
// - containerd:   /v2/<upstream name>/...?ns=<host>       (hosts.toml mirrors add ?ns=<registry host>;
//                 the local name is then the one the prefix or the root would give)
// Local names are what the metadata index, access control and the catalog see: a cached image lives
// under its prefix (or at the root), whichever way it was asked for.
import type { RepoName } from '../registry/references.js';

/** Docker Hub's registry answers under several host names; containerd sends ns=docker.io. */
export const DOCKER_HUB_HOSTS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'] as const;

export interface RoutedUpstream {
  name: string;
  /** First component of the local names this upstream serves; null for the root upstream only. */
  prefix: string | null;
  root: boolean;
  /** Registry hosts (with :port when not the default) that ?ns= selects this upstream by. */
  hosts: readonly string[];
  /** Docker Hub naming: a one-component name means library/NAME. */
  dockerHub: boolean;
}

export interface UpstreamRoute<U extends RoutedUpstream = RoutedUpstream> {
  upstream: U;
  /** The repository's name at the upstream. */
  remoteName: string;
}

/** The host[:port] of a URL as containerd would send it in ?ns=. */
export function hostOf(url: string): string {
  return new URL(url).host.toLowerCase();
}

export function isDockerHubUrl(url: string): boolean {
  return (DOCKER_HUB_HOSTS as readonly string[]).includes(hostOf(url));
}

/** The hosts an upstream answers ?ns= for when none are configured: its own, or Docker Hub's names. */
export function defaultHosts(url: string): string[] {
  return isDockerHubUrl(url) ? [...DOCKER_HUB_HOSTS] : [hostOf(url)];
}

export function createMirrorRouting<U extends RoutedUpstream>(upstreams: readonly U[]) {
  const byPrefix = new Map(upstreams.filter((u) => u.prefix !== null).map((u) => [u.prefix as string, u]));
  const byHost = new Map(upstreams.flatMap((u) => u.hosts.map((h) => [h.toLowerCase(), u] as const)));
  const root = upstreams.find((u) => u.root);

  const remoteNameOf = (upstream: U, name: string) =>
    upstream.dockerHub && !name.includes('/') ? `library/${name}` : name;

  return {
    /** True when no upstream is configured: the registry is purely local. */
    get empty() {
      return upstreams.length === 0;
    },

    /**
     * The upstream that a local name belongs to: its prefix's upstream, else the root upstream (which
     * serves every name outside the prefixes that is not a local repository: the caller decides that).
     */
    route(repository: RepoName): (UpstreamRoute<U> & { viaRoot: boolean }) | undefined {
      const slash = repository.indexOf('/');
      if (slash > 0) {
        const upstream = byPrefix.get(repository.slice(0, slash));
        if (upstream) {
          return {
            upstream,
            remoteName: remoteNameOf(upstream, repository.slice(slash + 1)),
            viaRoot: false,
          };
        }
      }
      return root && { upstream: root, remoteName: remoteNameOf(root, repository), viaRoot: true };
    },

    /**
     * The local name of a request that carries containerd's ?ns=<host>: the upstream serving that host
     * files it under its prefix (or at the root). Undefined when no upstream serves the host (the
     * request is then an ordinary one, e.g. ns is this registry itself).
     */
    localNameForNamespace(name: string, ns: string): string | undefined {
      const upstream = byHost.get(ns.toLowerCase());
      if (!upstream) return undefined;
      return upstream.root ? name : `${upstream.prefix}/${name}`;
    },
  };
}

export type MirrorRouting<U extends RoutedUpstream = RoutedUpstream> = ReturnType<
  typeof createMirrorRouting<U>
>;
