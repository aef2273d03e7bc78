// Test images built without any base image or network: `FROM scratch`, a static busybox, and random
// content so every build has layers no other build has.
//
// writeBuildContext() writes a Dockerfile any builder understands (docker, podman, buildah); one layer
// per COPY. buildDockerImage() builds it with the legacy builder (`DOCKER_BUILDKIT=0`; buildx is not
// installed). Every image gets /data/id holding `image.id`, and `image.files` maps each random file's
// path inside the image to its sha256, so tests can check contents after a round trip.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerDaemon } from './docker-daemon.js';
import { describeFailure } from './tools.js';

export const busyboxPath = '/bin/busybox';

export interface ImageSpec {
  /** Base image; default `scratch` plus a /bin/busybox layer. */
  from?: string;
  /** Small random files, together in one layer under /data (default 3). */
  smallFiles?: number;
  /** One extra layer per entry: /blobs/layer-<i> of that many MiB of random data. */
  randomLayersMiB?: number[];
}

export interface BuildContext {
  dir: string;
  /** Random identifier written to /data/id. */
  id: string;
  /** Path inside the image → sha256 (hex) of its content. */
  files: Record<string, string>;
  /** Removes the context directory. */
  remove(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Fixed mtime for the busybox copy, so its layer is the same in every build of the same builder. */
const FIXED_TIME = new Date('2020-01-01T00:00:00Z');

export async function writeBuildContext(spec: ImageSpec = {}): Promise<BuildContext> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-img-'));
  const id = randomUUID();
  const files: Record<string, string> = {};
  const lines = [`FROM ${spec.from ?? 'scratch'}`];
  if (spec.from === undefined) {
    await copyFile(busyboxPath, join(dir, 'busybox'));
    await utimes(join(dir, 'busybox'), FIXED_TIME, FIXED_TIME);
    lines.push('COPY busybox /bin/busybox');
  }

  await mkdir(join(dir, 'data'));
  const put = async (relative: string, content: Buffer): Promise<void> => {
    await writeFile(join(dir, relative), content);
    files[`/${relative}`] = sha256Hex(content);
  };
  await put('data/id', Buffer.from(`${id}\n`));
  for (let i = 0; i < (spec.smallFiles ?? 3); i++) {
    await put(`data/file-${i}`, randomBytes(1024 + Math.floor(Math.random() * 4096)));
  }
  lines.push('COPY data/ /data/');

  const layers = spec.randomLayersMiB ?? [];
  if (layers.length > 0) await mkdir(join(dir, 'blobs'));
  for (const [i, mib] of layers.entries()) {
    const relative = `blobs/layer-${i}`;
    files[`/${relative}`] = await writeRandomFile(join(dir, relative), mib * MiB);
    lines.push(`COPY ${relative} /${relative}`);
  }
  await writeFile(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
  return { dir, id, files, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface BuiltImage extends BuildContext {
  /** The tag given to the build. */
  tag: string;
}

/** Builds `tag` in the given daemon; the context directory stays until `remove()`. */
export async function buildDockerImage(
  daemon: Pick<DockerDaemon, 'docker'>,
  tag: string,
  spec: ImageSpec = {},
): Promise<BuiltImage> {
  const context = await writeBuildContext(spec);
  const args = ['build', '--quiet', '--tag', tag, context.dir];
  const result = await daemon.docker(args, { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
  if (result.code !== 0) {
    await context.remove();
    throw new Error(describeFailure('docker', args, result));
  }
  return { ...context, tag };
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `size` random bytes in 1 MiB chunks and returns their sha256 (hex). */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += MiB) {
    const chunk = randomBytes(Math.min(MiB, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolveEnd, reject) => {
    out.once('error', reject);
    out.end(resolveEnd);
  });
  return hash.digest('hex');
}
