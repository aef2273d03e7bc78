import { describe, expect, it } from 'vitest';
import { commandLine, readConfig, readManifest } from '../../ui/src/lib/manifest.js';
import { can, isNamespaceAdmin } from '../../ui/src/lib/permissions.js';
import type { SessionState } from '../../ui/src/lib/session.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('readManifest', () => {
  it('reads an image: config, layers and their total', () => {
    const view = readManifest({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(1), size: 100 },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(2), size: 1000 },
        { digest: d(3), size: 24 },
        { size: 5 },
      ],
      annotations: { b: '2', a: '<script>1</script>', n: 3 },
    });
    expect(view.kind).toBe('image');
    expect(view.layers.map((l) => l.digest)).toEqual([d(2), d(3)]);
    expect(view.layersSize).toBe(1024);
    expect(view.artifactType).toBeNull();
    expect(view.annotations).toEqual([
      ['a', '<script>1</script>'],
      ['b', '2'],
    ]);
  });

  it('reads an index: platforms, and buildx attestations apart', () => {
    const view = readManifest({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        {
          digest: d(2),
          size: 1,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        },
        'junk',
      ],
    });
    expect(view.kind).toBe('index');
    expect(view.children.map((c) => [c.platform, c.attestation])).toEqual([
      ['linux/arm64/v8', false],
      ['', true],
    ]);
  });

  it('reads an artifact: its type (or its config media type) and its subject', () => {
    const view = readManifest({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.dev.cosign.artifact.sig.v1+json', digest: d(4), size: 2 },
      layers: [],
      subject: { digest: d(5) },
    });
    expect(view.artifactType).toBe('application/vnd.dev.cosign.artifact.sig.v1+json');
    expect(view.subject).toBe(d(5));
  });

  it('survives what is not a manifest at all', () => {
    expect(readManifest(null).layers).toEqual([]);
    expect(readManifest([1, 2]).children).toEqual([]);
  });
});

describe('readConfig', () => {
  it('reads the command, environment, labels and pairs history steps with layers', () => {
    const layers = [
      { digest: d(1), size: 10, mediaType: '' },
      { digest: d(2), size: 20, mediaType: '' },
    ];
    const view = readConfig(
      {
        created: '2026-01-01T00:00:00Z',
        os: 'linux',
        architecture: 'amd64',
        config: {
          Env: ['PATH=/bin', 'EMPTY=', 'A=b=c'],
          Entrypoint: ['/bin/sh', '-c'],
          Cmd: ['echo hello'],
          Labels: { z: '1', a: 2 },
          ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
        },
        history: [
          { created_by: 'ADD x' },
          { created_by: 'ENV a=b', empty_layer: true },
          { created_by: 'RUN y' },
        ],
      },
      layers,
    );
    expect(view.platform).toBe('linux/amd64');
    expect(view.env).toEqual([
      ['PATH', '/bin'],
      ['EMPTY', ''],
      ['A', 'b=c'],
    ]);
    expect(view.labels).toEqual([['z', '1']]);
    expect(view.exposedPorts).toEqual(['443/tcp', '80/tcp']);
    expect(view.history.map((h) => h.layer?.size ?? null)).toEqual([10, null, 20]);
    expect(commandLine(view.entrypoint)).toBe('/bin/sh -c');
    expect(commandLine(view.cmd)).toBe('"echo hello"');
  });
});

describe('permissions shown in the UI', () => {
  const info = {
    version: '1',
    authMode: 'token' as const,
    service: 'berth',
    readOnly: false,
    deleteEnabled: true,
  };
  const user = (memberships: Array<{ namespace: string; role: 'read' | 'write' | 'admin' }>, admin = false) =>
    ({ kind: 'signed-in', info, user: { name: 'u', admin, memberships } }) as SessionState;

  it("follows the roles: read pulls, write pushes, admin deletes, in the repository's namespace", () => {
    const reader = user([{ namespace: 'team', role: 'read' }]);
    expect(can(reader, 'delete', 'team/app')).toBe(false);
    expect(can(reader, 'push', 'team/app')).toBe(false);
    const writer = user([{ namespace: 'team', role: 'write' }]);
    expect(can(writer, 'push', 'team/app')).toBe(true);
    expect(can(writer, 'delete', 'team/app')).toBe(false);
    const owner = user([{ namespace: 'team', role: 'admin' }]);
    expect(can(owner, 'delete', 'team/sub/app')).toBe(true);
    expect(can(owner, 'delete', 'other/app')).toBe(false);
    expect(isNamespaceAdmin(owner, 'team')).toBe(true);
    expect(can(user([], true), 'delete', 'any/thing')).toBe(true);
  });

  it('offers no change when Berth is read-only or deletes are off, and none to anonymous visitors', () => {
    const admin = {
      kind: 'signed-in',
      info: { ...info, readOnly: true },
      user: { name: 'a', admin: true, memberships: [] },
    };
    expect(can(admin as SessionState, 'push', 'team/app')).toBe(false);
    const noDeletes = { kind: 'open', info: { ...info, authMode: 'none' as const, deleteEnabled: false } };
    expect(can(noDeletes as SessionState, 'delete', 'team/app')).toBe(false);
    expect(can(noDeletes as SessionState, 'push', 'team/app')).toBe(true);
    expect(can({ kind: 'anonymous', info } as SessionState, 'push', 'team/app')).toBe(false);
  });
});
