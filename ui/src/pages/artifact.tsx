// A tag, or a manifest by digest: pull commands; for an image its config (created, command,
// environment, labels), layers with sizes and history; for an index its platforms; the referrers
// (signatures, SBOMs, attestations) with their artifact types; and the raw JSON. Everything read from
// the manifest and config is untrusted text: shown as text, JSON in a <pre>, never as markup.
import { Fragment, type ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { useApp } from '../app-context.js';
import { CopyButton, CopyField } from '../components/copy.js';
import { KeyValues } from '../components/key-values.js';
import { ErrorNote, Loading } from '../components/states.js';
import { DeleteManifestDialog, DeleteTagDialog, RetagDialog } from '../components/tag-dialogs.js';
import { Time } from '../components/time.js';
import { useAsync, useTitle } from '../hooks.js';
import {
  artifactTypeLabel,
  formatBytes,
  mediaTypeLabel,
  percent,
  plural,
  shortDigest,
} from '../lib/format.js';
import {
  commandLine,
  readConfig,
  readManifest,
  type ConfigView,
  type ManifestView,
} from '../lib/manifest.js';
import { can } from '../lib/permissions.js';
import { pullCommand } from '../lib/pull.js';
import { routes } from '../lib/routes.js';
import type { ManifestDetail, Referrer, Tag } from '../lib/types.js';

interface Loaded {
  tag?: Tag;
  detail: ManifestDetail;
}

export function ArtifactPage({ name, tag, digest }: { name: string; tag?: string; digest?: string }) {
  const reference = tag ?? digest ?? '';
  useTitle(tag ? `${name}:${tag}` : `${name}@${shortDigest(reference)}`);
  const { api, state } = useApp();
  const loaded = useAsync<Loaded>(async () => {
    if (tag) {
      const summary = await api.tag(name, tag);
      return { tag: summary, detail: await api.manifest(name, summary.digest) };
    }
    return { detail: await api.manifest(name, reference) };
  }, [name, reference, state.kind]);

  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/">Repositories</a> <span aria-hidden="true">/</span>{' '}
        <a href={routes.repository(name)}>{name}</a> <span aria-hidden="true">/</span>
      </nav>
      <div class="page-head">
        <h1 class="name">
          {tag ? (
            <>
              {name}
              <span class="muted">:</span>
              {tag}
            </>
          ) : (
            <>
              {name}
              <span class="muted">@</span>
              <span title={reference}>{shortDigest(reference)}</span>
            </>
          )}
        </h1>
        {loaded.data?.tag?.immutable && (
          <span class="badge" title="A namespace rule protects this tag: it cannot be moved or deleted">
            immutable
          </span>
        )}
      </div>
      {loaded.loading && !loaded.data && <Loading what="Loading the manifest" />}
      {loaded.error !== undefined && <ErrorNote error={loaded.error} onRetry={loaded.reload} />}
      {loaded.data && <Artifact name={name} tag={loaded.data.tag} detail={loaded.data.detail} />}
    </section>
  );
}

function Artifact({ name, tag, detail }: { name: string; tag?: Tag; detail: ManifestDetail }) {
  const { host, state } = useApp();
  const { route } = useLocation();
  const [pending, setPending] = useState<'delete-tag' | 'delete-manifest' | 'retag'>();
  const manifest = readManifest(detail.manifest, detail.mediaType);
  const config =
    manifest.kind === 'image' && detail.config ? readConfig(detail.config, manifest.layers) : undefined;
  const mayDelete = can(state, 'delete', name);
  const mayPush = can(state, 'push', name);

  return (
    <>
      <div class="pull-commands">
        {tag && <CopyField label="pull command" text={pullCommand(host, name, tag.name)} />}
        <CopyField label="pull-by-digest command" text={pullCommand(host, name, detail.digest)} />
      </div>

      {(mayPush || mayDelete) && (
        <div class="actions page-actions">
          {tag && mayPush && (
            <button type="button" onClick={() => setPending('retag')}>
              Retag…
            </button>
          )}
          {tag && mayDelete && (
            <button
              type="button"
              class="danger"
              disabled={tag.immutable}
              title={tag.immutable ? 'Immutable: a namespace rule protects it' : undefined}
              onClick={() => setPending('delete-tag')}
            >
              Delete tag…
            </button>
          )}
          {mayDelete && (
            <button type="button" class="danger" onClick={() => setPending('delete-manifest')}>
              Delete manifest…
            </button>
          )}
        </div>
      )}

      <div class="facts">
        <section class="card" aria-labelledby="overview-heading">
          <h2 id="overview-heading">Overview</h2>
          <KeyValues entries={overviewOf(name, manifest, detail, tag, config)} />
        </section>
        {config && <ConfigSection config={config} />}
      </div>

      {manifest.kind === 'index' && <Platforms name={name} manifest={manifest} />}
      {manifest.kind === 'image' && manifest.layers.length > 0 && <Layers manifest={manifest} />}
      {config && config.history.length > 0 && <History config={config} />}

      {manifest.annotations.length > 0 && (
        <section aria-labelledby="annotations-heading">
          <h2 id="annotations-heading">Annotations</h2>
          <KeyValues entries={manifest.annotations} />
        </section>
      )}

      <Referrers name={name} referrers={detail.referrers} />

      <section aria-labelledby="raw-heading">
        <h2 id="raw-heading">Raw JSON</h2>
        <details>
          <summary>Manifest ({formatBytes(detail.size)})</summary>
          <pre class="json">{JSON.stringify(detail.manifest, null, 2)}</pre>
        </details>
        {detail.config !== null && detail.config !== undefined && (
          <details>
            <summary>Image config</summary>
            <pre class="json">{JSON.stringify(detail.config, null, 2)}</pre>
          </details>
        )}
      </section>

      {pending === 'delete-tag' && tag && (
        <DeleteTagDialog
          name={name}
          tag={tag.name}
          digest={tag.digest}
          onClose={() => setPending(undefined)}
          onDone={() => route(routes.repository(name))}
        />
      )}
      {pending === 'delete-manifest' && (
        <DeleteManifestDialog
          name={name}
          digest={detail.digest}
          onClose={() => setPending(undefined)}
          onDone={() => route(routes.repository(name))}
        />
      )}
      {pending === 'retag' && tag && (
        <RetagDialog
          name={name}
          tag={tag.name}
          onClose={() => setPending(undefined)}
          onDone={(target) => route(routes.tag(target.repository, target.tag))}
        />
      )}
    </>
  );
}

function overviewOf(
  name: string,
  manifest: ManifestView,
  detail: ManifestDetail,
  tag: Tag | undefined,
  config: ConfigView | undefined,
): Array<[string, ComponentChildren]> {
  const entries: Array<[string, ComponentChildren]> = [
    ['Digest', <code class="wrap">{detail.digest}</code>],
    ['Type', <span title={manifest.mediaType}>{mediaTypeLabel(manifest.mediaType)}</span>],
  ];
  if (manifest.artifactType) {
    const known = artifactTypeLabel(manifest.artifactType);
    entries.push([
      'Artifact type',
      <span>
        {known && <strong>{known} </strong>}
        <code class="wrap">{manifest.artifactType}</code>
      </span>,
    ]);
  }
  const size = tag?.size ?? detail.size + manifest.layersSize + (manifest.config?.size ?? 0);
  entries.push([
    'Size',
    <span title="the manifest and what it references, each once">{formatBytes(size)}</span>,
  ]);
  const created = config?.created ?? tag?.created;
  if (created) entries.push(['Created', <Time value={created} />]);
  if (tag) {
    entries.push(
      ['Pushed', <Time value={tag.pushedAt} />],
      ['Last pulled', <Time value={tag.lastPulledAt} />],
    );
  }
  if (manifest.subject) {
    entries.push([
      'Refers to',
      <a href={routes.manifest(name, manifest.subject)} title={manifest.subject}>
        {shortDigest(manifest.subject)}
      </a>,
    ]);
  }
  return entries;
}

function Platforms({ name, manifest }: { name: string; manifest: ManifestView }) {
  const { host } = useApp();
  const images = manifest.children.filter((child) => !child.attestation);
  const attestations = manifest.children.filter((child) => child.attestation);
  return (
    <section aria-labelledby="platforms-heading">
      <h2 id="platforms-heading">Platforms</h2>
      <div class="table-wrap">
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Platform</th>
              <th scope="col">Digest</th>
              <th scope="col" class="num">
                Manifest size
              </th>
              <th scope="col">
                <span class="visually-hidden">Pull</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {images.map((child) => (
              <tr key={child.digest}>
                <td>{child.platform || <span class="muted">unspecified</span>}</td>
                <td>
                  <a class="digest" href={routes.manifest(name, child.digest)} title={child.digest}>
                    {shortDigest(child.digest)}
                  </a>
                </td>
                <td class="num">{formatBytes(child.size)}</td>
                <td class="row-actions">
                  <CopyButton
                    text={pullCommand(host, name, child.digest)}
                    label={`pull command of ${child.platform || child.digest}`}
                    caption="Copy pull"
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {attestations.length > 0 && (
        <p class="muted">
          And {plural(attestations.length, 'attestation manifest')} (build provenance, SBOM):{' '}
          {attestations.map((child, i) => (
            <Fragment key={child.digest}>
              {i > 0 && ', '}
              <a href={routes.manifest(name, child.digest)} title={child.digest}>
                {shortDigest(child.digest)}
              </a>
            </Fragment>
          ))}
        </p>
      )}
    </section>
  );
}

function ConfigSection({ config }: { config: ConfigView }) {
  const entries: Array<[string, ComponentChildren]> = [];
  if (config.platform) entries.push(['Platform', config.platform]);
  if (config.entrypoint?.length) entries.push(['Entrypoint', <code>{commandLine(config.entrypoint)}</code>]);
  if (config.cmd?.length) entries.push(['Command', <code>{commandLine(config.cmd)}</code>]);
  if (config.workingDir) entries.push(['Working directory', <code>{config.workingDir}</code>]);
  if (config.user) entries.push(['User', <code>{config.user}</code>]);
  if (config.exposedPorts.length) entries.push(['Ports', config.exposedPorts.join(', ')]);
  if (config.volumes.length) entries.push(['Volumes', config.volumes.join(', ')]);
  if (config.stopSignal) entries.push(['Stop signal', config.stopSignal]);
  if (config.author) entries.push(['Author', config.author]);
  return (
    <>
      <section class="card" aria-labelledby="config-heading">
        <h2 id="config-heading">Image</h2>
        <KeyValues entries={entries} empty="The config sets no command, user or ports." />
      </section>
      <section class="card" aria-labelledby="env-heading">
        <h2 id="env-heading">Environment</h2>
        <KeyValues entries={config.env.map(([key, value]) => [key, <code class="wrap">{value}</code>])} />
      </section>
      <section class="card" aria-labelledby="labels-heading">
        <h2 id="labels-heading">Labels</h2>
        <KeyValues entries={config.labels} empty="No labels." />
      </section>
    </>
  );
}

function Layers({ manifest }: { manifest: ManifestView }) {
  const largest = Math.max(...manifest.layers.map((layer) => layer.size), 1);
  return (
    <section aria-labelledby="layers-heading">
      <h2 id="layers-heading">
        Layers{' '}
        <span class="muted">
          ({plural(manifest.layers.length, 'layer')}, {formatBytes(manifest.layersSize)} compressed)
        </span>
      </h2>
      <div class="table-wrap">
        <table class="list layers">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">Digest</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col" class="bar-cell">
                <span class="visually-hidden">Share</span>
              </th>
              <th scope="col">Type</th>
            </tr>
          </thead>
          <tbody>
            {manifest.layers.map((layer, i) => (
              <tr key={`${i}-${layer.digest}`}>
                <td class="num">{i + 1}</td>
                <td>
                  <code title={layer.digest}>{shortDigest(layer.digest)}</code>
                </td>
                <td class="num">{formatBytes(layer.size)}</td>
                <td class="bar-cell" title={`${percent(layer.size, manifest.layersSize) ?? 0}% of the image`}>
                  <meter min={0} max={largest} value={layer.size} />
                </td>
                <td class="muted small-print">{layer.mediaType.replace(/^application\/vnd\./, '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function History({ config }: { config: ConfigView }) {
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">History</h2>
      <ol class="history">
        {config.history.map((step, i) => (
          <li key={i} class={step.emptyLayer ? 'empty-layer' : undefined}>
            <code class="wrap">
              {step.createdBy.replace(/^\/bin\/sh -c #\(nop\)\s+/, '') || '(no command)'}
            </code>
            <span class="history-meta">
              {step.layer ? formatBytes(step.layer.size) : 'no layer'}
              {step.created && (
                <>
                  {' · '}
                  <Time value={step.created} />
                </>
              )}
              {step.comment && ` · ${step.comment}`}
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Referrers({ name, referrers }: { name: string; referrers: Referrer[] }) {
  return (
    <section aria-labelledby="referrers-heading">
      <h2 id="referrers-heading">Referrers</h2>
      {referrers.length === 0 ? (
        <p class="muted">
          No signatures, SBOMs or attestations refer to this manifest (cosign, notation and oras attach them).
        </p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Artifact type</th>
                <th scope="col">Digest</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {referrers.map((referrer) => (
                <tr key={referrer.digest}>
                  <td>
                    {artifactTypeLabel(referrer.artifactType) && (
                      <strong>{artifactTypeLabel(referrer.artifactType)} </strong>
                    )}
                    <code class="wrap small-print">{referrer.artifactType ?? referrer.mediaType}</code>
                  </td>
                  <td>
                    <a class="digest" href={routes.manifest(name, referrer.digest)} title={referrer.digest}>
                      {shortDigest(referrer.digest)}
                    </a>
                  </td>
                  <td class="num">{formatBytes(referrer.size)}</td>
                  <td>
                    <Time value={referrer.annotations?.['org.opencontainers.image.created']} never="–" />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
