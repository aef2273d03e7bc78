// What a tag page shows of a manifest and its image config (OCI image-spec manifest.md, image-index.md,
// config.md; Docker Image Manifest V2 Schema 2). Both are untrusted JSON pushed by anyone with push
// access: every field is checked for its type and shown as text, never as markup.
import { isIndexMediaType } from './format.js';
import type { Descriptor } from './types.js';

export interface LayerView {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ChildView {
  digest: string;
  mediaType: string;
  size: number;
  /** os/arch[/variant], or '' when the child names no platform. */
  platform: string;
  /** A buildx attestation manifest (platform unknown/unknown) rather than an image. */
  attestation: boolean;
  artifactType: string | null;
}

export interface ManifestView {
  kind: 'index' | 'image';
  mediaType: string;
  artifactType: string | null;
  config: LayerView | null;
  layers: LayerView[];
  layersSize: number;
  children: ChildView[];
  subject: string | null;
  annotations: Array<[string, string]>;
}

export interface HistoryEntry {
  created: string | null;
  createdBy: string;
  comment: string | null;
  emptyLayer: boolean;
  /** The layer this step made (non-empty steps and layers pair up in order). */
  layer: LayerView | null;
}

export interface ConfigView {
  created: string | null;
  author: string | null;
  platform: string;
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string | null;
  user: string | null;
  stopSignal: string | null;
  env: Array<[string, string]>;
  labels: Array<[string, string]>;
  exposedPorts: string[];
  volumes: string[];
  history: HistoryEntry[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const strings = (value: unknown): string[] | null =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : null;

/** String entries of an object (annotations, labels), sorted by key. */
export function stringEntries(value: unknown): Array<[string, string]> {
  if (!isObject(value)) return [];
  return Object.entries(value)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const layerOf = (value: unknown): LayerView | null =>
  isObject(value) && typeof value.digest === 'string'
    ? { digest: value.digest, mediaType: str(value.mediaType) ?? '', size: num(value.size) }
    : null;

export function platformOf(platform: Descriptor['platform'] | unknown): string {
  if (!isObject(platform)) return '';
  const os = str(platform.os);
  const arch = str(platform.architecture);
  if (!os || !arch) return '';
  const variant = str(platform.variant);
  return `${os}/${arch}${variant ? `/${variant}` : ''}`;
}

export function readManifest(manifest: unknown, mediaTypeHint = ''): ManifestView {
  const m = isObject(manifest) ? manifest : {};
  const mediaType = str(m.mediaType) ?? mediaTypeHint;
  const isIndex = isIndexMediaType(mediaType) || (Array.isArray(m.manifests) && !Array.isArray(m.layers));
  const layers = Array.isArray(m.layers) ? m.layers.map(layerOf).filter((l) => l !== null) : [];
  const children: ChildView[] = [];
  for (const child of Array.isArray(m.manifests) ? m.manifests : []) {
    if (!isObject(child) || typeof child.digest !== 'string') continue;
    const platform = platformOf(child.platform);
    const annotations = isObject(child.annotations) ? child.annotations : {};
    children.push({
      digest: child.digest,
      mediaType: str(child.mediaType) ?? '',
      size: num(child.size),
      platform: platform === 'unknown/unknown' ? '' : platform,
      attestation:
        platform === 'unknown/unknown' || annotations['vnd.docker.reference.type'] === 'attestation-manifest',
      artifactType: str(child.artifactType),
    });
  }
  const subject = isObject(m.subject) ? str(m.subject.digest) : null;
  const config = layerOf(m.config);
  return {
    kind: isIndex ? 'index' : 'image',
    mediaType,
    // OCI 1.1: artifactType, else the config's media type for artifacts that are not images.
    artifactType:
      str(m.artifactType) ?? (config && !isImageConfig(config.mediaType) ? config.mediaType : null),
    config,
    layers,
    layersSize: layers.reduce((sum, layer) => sum + layer.size, 0),
    children,
    subject,
    annotations: stringEntries(m.annotations),
  };
}

const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
export const isImageConfig = (mediaType: string): boolean => IMAGE_CONFIG_TYPES.has(mediaType);

/** `KEY=value` pairs of Config.Env, split at the first '='. */
function envEntries(value: unknown): Array<[string, string]> {
  return (strings(value) ?? []).map((item) => {
    const at = item.indexOf('=');
    return at < 0 ? [item, ''] : [item.slice(0, at), item.slice(at + 1)];
  });
}

/** The image config (null or not an object: an empty view). `layers` pair with non-empty history steps. */
export function readConfig(config: unknown, layers: LayerView[] = []): ConfigView {
  const c = isObject(config) ? config : {};
  const run = isObject(c.config) ? c.config : {};
  let layerIndex = 0;
  const history: HistoryEntry[] = (Array.isArray(c.history) ? c.history : []).filter(isObject).map((step) => {
    const emptyLayer = step.empty_layer === true;
    return {
      created: str(step.created),
      createdBy: str(step.created_by) ?? '',
      comment: str(step.comment),
      emptyLayer,
      layer: emptyLayer ? null : (layers[layerIndex++] ?? null),
    };
  });
  return {
    created: str(c.created),
    author: str(c.author),
    platform: platformOf(c),
    entrypoint: strings(run.Entrypoint),
    cmd: strings(run.Cmd),
    workingDir: str(run.WorkingDir) || null,
    user: str(run.User) || null,
    stopSignal: str(run.StopSignal),
    env: envEntries(run.Env),
    labels: stringEntries(run.Labels),
    exposedPorts: isObject(run.ExposedPorts) ? Object.keys(run.ExposedPorts).sort() : [],
    volumes: isObject(run.Volumes) ? Object.keys(run.Volumes).sort() : [],
    history,
  };
}

/** A command line of an exec-form array, as a shell would show it. */
export function commandLine(parts: string[] | null): string {
  if (!parts || parts.length === 0) return '';
  return parts.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part))).join(' ');
}
