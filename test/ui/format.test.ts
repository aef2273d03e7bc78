import { describe, expect, it } from 'vitest';
import {
  artifactTypeLabel,
  formatBytes,
  mediaTypeLabel,
  percent,
  plural,
  shortDigest,
} from '../../ui/src/lib/format.js';

describe('formatBytes', () => {
  it('uses binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(2 * 1024 * 1024 + 700)).toBe('2 MiB');
    expect(formatBytes(12.345 * 1024 * 1024)).toBe('12.3 MiB');
    expect(formatBytes(120 * 1024 ** 3)).toBe('120 GiB');
    expect(formatBytes(1024 ** 6)).toBe('1024 PiB');
    expect(formatBytes(undefined)).toBe('–');
  });
});

describe('small formats', () => {
  it('shortens digests to the algorithm and 12 hex digits', () => {
    expect(shortDigest(`sha256:${'ab'.repeat(32)}`)).toBe('sha256:abababababab');
  });

  it('counts with thousands separators and the right noun', () => {
    expect(plural(1, 'tag')).toBe('1 tag');
    expect(plural(20000, 'repository', 'repositories')).toBe('20,000 repositories');
  });

  it('gives percentages to one decimal, and none of nothing', () => {
    expect(percent(1, 3)).toBe(33.3);
    expect(percent(5, 0)).toBeUndefined();
  });

  it('names media and artifact types people know', () => {
    expect(mediaTypeLabel('application/vnd.oci.image.index.v1+json')).toBe('OCI index');
    expect(mediaTypeLabel('application/x-custom')).toBe('application/x-custom');
    expect(artifactTypeLabel('application/vnd.dev.cosign.artifact.sig.v1+json')).toBe('signature (cosign)');
    expect(artifactTypeLabel('application/spdx+json')).toBe('SBOM (SPDX)');
    expect(artifactTypeLabel('application/vnd.in-toto+json')).toBe('attestation (in-toto)');
    expect(artifactTypeLabel('application/x-unknown')).toBeUndefined();
  });
});
