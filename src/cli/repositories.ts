// `berth repo` and `berth tag`: repositories and tags straight on the storage and database that
// `berth serve` uses with the same configuration (safe while servers run). They go through the
// registry the server composes (composeRegistry) and its catalog, so a delete or copy passes the same
// checks as over HTTP: storage.delete.enabled, server.readOnly, immutable tags, quotas and the garbage
// collection guard. Webhooks are not told of these changes.
// Output contract as for the account commands: stdout carries data only (tables, or JSON with
// --json); confirmations and "N of TOTAL" notes go to stderr. Refusals and usage errors print
// `berth: <message>` and exit 2 (registry errors through registryErrorText, in main()).
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { randomUUID } from 'node:crypto';
import {
  TAG_PATTERN,
  type RepositorySort,
  type RepositorySummary,
  type TagSort,
} from '../registry/catalog-store.js';
import type { CatalogService, TagView } from '../registry/catalog.js';
import type { Logger } from '../registry/deps.js';
import {
  DigestInvalidError,
  ManifestUnknownError,
  ReadOnlyError,
  RegistryError,
} from '../registry/errors.js';
import {
  digestAlgorithm,
  digestHex,
  parseDigest,
  parseRepoName,
  parseTag,
  type Digest,
  type Reference,
  type RepoName,
  type Tag,
} from '../registry/references.js';
import { configFromFlags, withStores, type CommonFlags } from './shared.js';
import { commandGroup, note, print, printJson, printTable, subcommand } from './output.js';

const DEFAULT_LIMIT = 100;
const SHORT_DIGEST_HEX = 12;

interface ListFlags extends CommonFlags {
  sort: string;
  desc?: boolean;
  limit: number;
  json?: boolean;
}

/**
 * A registry error as one line: its message, what it concerns (a name, tag or digest) and why.
 * DENIED's message is already the whole sentence docker prints (an immutable tag, a quota).
 */
export function registryErrorText(err: RegistryError): string {
  if (err.code === 'DENIED') return err.message;
  const detail = (typeof err.detail === 'object' && err.detail !== null ? err.detail : {}) as Record<
    string,
    unknown
  >;
  const subject = ['name', 'reference', 'tag', 'digest']
    .map((key) => detail[key])
    .find((value) => typeof value === 'string');
  const reason = typeof detail.reason === 'string' ? ` (${detail.reason})` : '';
  return `${err.message}${typeof subject === 'string' ? `: ${subject}` : ''}${reason}`;
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Decimal units, as docker shows sizes: 512 B, 12.3 MB. */
export function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 999.95 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}

/** Tables show times in UTC to the second (2024-02-03T04:05:06Z); "-" for never. */
function tableTime(ms: number | null): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

/** An image config's `created`, in the tables' form when it parses, else as written. */
function tableCreated(created: string | null): string {
  if (!created) return '-';
  const ms = Date.parse(created);
  return Number.isNaN(ms) ? created : tableTime(ms);
}

const shortDigest = (digest: Digest) =>
  `${digestAlgorithm(digest)}:${digestHex(digest).slice(0, SHORT_DIGEST_HEX)}`;

const isoOrNull = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

/** JSON as the management API answers GET /api/v1/repositories/NAME. */
function repositoryJson(r: RepositorySummary) {
  return {
    name: r.name,
    description: r.description,
    size: r.size,
    tagCount: r.tagCount,
    manifestCount: r.manifestCount,
    createdAt: new Date(r.createdAt).toISOString(),
    lastPushAt: isoOrNull(r.lastPushAt),
    lastPullAt: isoOrNull(r.lastPullAt),
    pullCount: r.pullCount,
  };
}

/** JSON as the management API answers GET /api/v1/repositories/NAME/-/tags/TAG. */
function tagJson(t: TagView) {
  return {
    name: t.name,
    digest: t.digest,
    mediaType: t.mediaType,
    artifactType: t.artifactType,
    size: t.size,
    platforms: t.platforms,
    created: t.created,
    pushedAt: new Date(t.pushedAt).toISOString(),
    lastPulledAt: isoOrNull(t.lastPulledAt),
    annotations: t.annotations,
    referrers: t.referrers,
    immutable: t.immutable,
  };
}

/** Usage errors of arguments: commander prints them as `berth: …` and exits 2. */
function argument<T>(parse: (raw: string) => T): (raw: string) => T {
  return (raw) => {
    try {
      return parse(raw);
    } catch (err) {
      if (err instanceof RegistryError) throw new InvalidArgumentError(registryErrorText(err));
      throw err;
    }
  };
}

function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError('not a positive integer');
  return value;
}

function tagPattern(raw: string): string {
  if (!TAG_PATTERN.test(raw)) throw new InvalidArgumentError('tag characters and * only');
  return raw;
}

/** NAME:TAG (names hold no ':'). */
function parseTagged(raw: string): { repository: RepoName; tag: Tag } {
  const colon = raw.lastIndexOf(':');
  if (colon < 0 || raw.includes('@')) throw new InvalidArgumentError('expected NAME:TAG, e.g. team/app:v1');
  return { repository: parseRepoName(raw.slice(0, colon)), tag: parseTag(raw.slice(colon + 1)) };
}

/** A digest argument; DIGEST_INVALID's message is about uploads, so this says it plainly. */
function parseDigestArgument(raw: string): Digest {
  try {
    return parseDigest(raw);
  } catch (err) {
    if (!(err instanceof DigestInvalidError)) throw err;
    throw new InvalidArgumentError(`not a digest: ${raw} (${(err.detail as { reason: string }).reason})`);
  }
}

/** NAME:TAG or NAME@DIGEST. */
function parseSource(raw: string): { repository: RepoName; reference: Reference } {
  const at = raw.indexOf('@');
  if (at < 0) {
    const { repository, tag } = parseTagged(raw);
    return { repository, reference: { kind: 'tag', tag } };
  }
  const repository = parseRepoName(raw.slice(0, at));
  return { repository, reference: { kind: 'digest', digest: parseDigestArgument(raw.slice(at + 1)) } };
}

/** NAME or NAME:TAG. */
function parseTarget(raw: string): { repository: RepoName; tag?: Tag } {
  const colon = raw.lastIndexOf(':');
  if (colon < 0) return { repository: parseRepoName(raw) };
  return { repository: parseRepoName(raw.slice(0, colon)), tag: parseTag(raw.slice(colon + 1)) };
}

/** Warnings and errors of the registry on stderr; the rest is dropped. */
const stderrLog: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => note(`berth: warning: ${msg ?? ''} ${JSON.stringify(obj)}`),
  error: (obj, msg) => note(`berth: ${msg ?? ''} ${JSON.stringify(obj)}`),
};

/**
 * Runs `work` with the catalog of the registry `berth serve` composes from this configuration, on
 * its storage and stores, closing them afterwards. `changes`: refused in maintenance (server.readOnly).
 */
async function withCatalog<T>(
  flags: CommonFlags,
  work: (catalog: CatalogService) => Promise<T>,
  { changes = false } = {},
): Promise<T> {
  const config = configFromFlags(flags);
  if (changes && config.server.readOnly) throw new ReadOnlyError();
  // Loaded here, as by `berth gc`: the storage drivers and the registry are what `berth serve` loads.
  const { createDriver, composeRegistry } = await import('../server.js');
  const { createGcParts } = await import('../gc/compose.js');
  const driver = await createDriver(config);
  try {
    return await withStores(config, async (stores) => {
      const { guard } = createGcParts({
        store: stores.gc,
        metadata: stores.metadata,
        driver,
        log: stderrLog,
        clock: Date.now,
        newId: randomUUID,
      });
      const { registry } = composeRegistry(config, { driver, stores, log: stderrLog, guard });
      return work(registry.catalog);
    });
  } finally {
    await driver.close?.();
  }
}

/**
 * MANIFEST_UNKNOWN of the reference given names the bare tag or digest: the command names the image
 * as it was given (an index child that is missing keeps its own digest).
 */
async function naming<T>(image: string, reference: Reference, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof ManifestUnknownError)) throw err;
    const detail = err.detail as { reference?: string; reason?: string };
    const bare = reference.kind === 'tag' ? reference.tag : reference.digest;
    if (detail.reference !== bare) throw err;
    throw new ManifestUnknownError(image, detail.reason);
  }
}

const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function truncated(shown: number, total: number, what: string): void {
  if (shown < total) note(`${shown} of ${total} ${what} shown (--limit ${shown})`);
}

const sortOption = (choices: string[], fallback: string) =>
  new Option('--sort <key>', 'sort by').choices(choices).default(fallback);
const descOption = () => new Option('--desc', 'reverse the order (default: ascending)');
const limitOption = () =>
  new Option('--limit <n>', 'show at most this many').argParser(positiveInteger).default(DEFAULT_LIMIT);
const jsonOption = () => new Option('--json', 'print JSON');

export function repoCommand(): Command {
  const repo = commandGroup(
    'repo',
    'manage repositories (on the storage and database that berth serve uses)',
  );

  subcommand(repo, 'list', 'list repositories with their tag count, size, last push and pull')
    .option('--search <text>', 'only names containing this')
    .addOption(sortOption(['name', 'pushed', 'pulled', 'size', 'tags'], 'name'))
    .addOption(descOption())
    .addOption(limitOption())
    .addOption(jsonOption())
    .action((flags: ListFlags & { search?: string }) =>
      withCatalog(flags, async (catalog) => {
        const { repositories, total } = await catalog.listRepositories({
          search: flags.search,
          sort: flags.sort as RepositorySort,
          order: flags.desc ? 'desc' : 'asc',
          limit: flags.limit,
        });
        if (flags.json) printJson(repositories.map(repositoryJson));
        else
          printTable(
            ['NAME', 'TAGS', 'SIZE', 'PUSHED', 'PULLED', 'PULLS'],
            repositories.map((r) => [
              r.name,
              String(r.tagCount),
              humanSize(r.size),
              tableTime(r.lastPushAt),
              tableTime(r.lastPullAt),
              String(r.pullCount),
            ]),
          );
        truncated(repositories.length, total, 'repositories');
      }),
    );

  subcommand(repo, 'show', 'a repository: size, tag and manifest counts, pushes, pulls, description')
    .addArgument(new Argument('<name>', 'repository, e.g. team/app').argParser(argument(parseRepoName)))
    .addOption(jsonOption())
    .action((name: RepoName, flags: CommonFlags & { json?: boolean }) =>
      withCatalog(flags, async (catalog) => {
        const r = await catalog.repository(name);
        if (flags.json) return printJson(repositoryJson(r));
        const rows: Array<[string, string]> = [
          ['name', r.name],
          ['description', r.description ?? '-'],
          ['size', `${humanSize(r.size)} (${r.size} bytes, each blob counted once)`],
          ['tags', String(r.tagCount)],
          ['manifests', String(r.manifestCount)],
          ['created', tableTime(r.createdAt)],
          ['last push', tableTime(r.lastPushAt)],
          ['last pull', tableTime(r.lastPullAt)],
          ['pulls', String(r.pullCount)],
        ];
        const width = Math.max(...rows.map(([key]) => key.length));
        for (const [key, value] of rows) print(`${key.padEnd(width)}  ${value}`);
      }),
    );

  subcommand(
    repo,
    'rm',
    'delete a repository: its tags, manifests and blob links (berth gc frees the bytes); refused if an immutable tag protects it',
  )
    .addArgument(new Argument('<name>', 'repository, e.g. team/app').argParser(argument(parseRepoName)))
    .action((name: RepoName, flags: CommonFlags) =>
      withCatalog(
        flags,
        async (catalog) => {
          const deleted = await catalog.deleteRepository(name);
          note(
            `removed repository ${name}: ${counted(deleted.tags, 'tag')}, ` +
              `${counted(deleted.manifests, 'manifest')}, ${counted(deleted.blobs, 'blob link')} ` +
              '(berth gc frees the bytes)',
          );
        },
        { changes: true },
      ),
    );

  return repo;
}

export function tagCommand(): Command {
  const tag = commandGroup('tag', 'manage tags (on the storage and database that berth serve uses)');

  subcommand(tag, 'list', "list a repository's tags with digest, size, platforms, pushes and pulls")
    .addArgument(new Argument('<name>', 'repository, e.g. team/app').argParser(argument(parseRepoName)))
    .addOption(
      new Option('--pattern <glob>', 'only tags matching this, * matching any run of characters').argParser(
        tagPattern,
      ),
    )
    .addOption(sortOption(['name', 'semver', 'pushed'], 'name'))
    .addOption(descOption())
    .addOption(limitOption())
    .addOption(jsonOption())
    .action((name: RepoName, flags: ListFlags & { pattern?: string }) =>
      withCatalog(flags, async (catalog) => {
        const { tags, total } = await catalog.listTags(name, {
          pattern: flags.pattern,
          sort: flags.sort as TagSort,
          order: flags.desc ? 'desc' : 'asc',
          limit: flags.limit,
        });
        if (flags.json) printJson(tags.map(tagJson));
        else
          printTable(
            ['TAG', 'DIGEST', 'SIZE', 'PLATFORMS', 'CREATED', 'PUSHED', 'PULLED', 'IMMUTABLE'],
            tags.map((t) => [
              t.name,
              shortDigest(t.digest),
              humanSize(t.size),
              t.platforms?.join(',') || '-',
              tableCreated(t.created),
              tableTime(t.pushedAt),
              tableTime(t.lastPulledAt),
              t.immutable ? 'yes' : 'no',
            ]),
          );
        truncated(tags.length, total, 'tags');
      }),
    );

  subcommand(tag, 'rm', 'delete a tag (its manifest stays until berth gc); refused for an immutable tag')
    .addArgument(new Argument('<name:tag>', 'e.g. team/app:v1').argParser(argument(parseTagged)))
    .action((image: ReturnType<typeof parseTagged>, flags: CommonFlags) =>
      withCatalog(
        flags,
        async (catalog) => {
          const named = `${image.repository}:${image.tag}`;
          await naming(named, { kind: 'tag', tag: image.tag }, () =>
            catalog.deleteTag(image.repository, image.tag),
          );
          note(`removed tag ${named}`);
        },
        { changes: true },
      ),
    );

  subcommand(
    tag,
    'cp',
    'point TARGET at the manifest of SOURCE, like docker tag, server-side; across repositories blobs are mounted, not copied',
  )
    .addArgument(new Argument('<source>', 'NAME:TAG or NAME@DIGEST').argParser(argument(parseSource)))
    .addArgument(
      new Argument('<target>', 'NAME[:TAG] (the tag of SOURCE when omitted)').argParser(
        argument(parseTarget),
      ),
    )
    .action(
      (
        source: ReturnType<typeof parseSource>,
        target: ReturnType<typeof parseTarget>,
        flags: CommonFlags,
        command: Command,
      ) => {
        const targetTag = target.tag ?? (source.reference.kind === 'tag' ? source.reference.tag : undefined);
        if (!targetTag) command.error('target needs a tag when the source is a digest: NAME:TAG');
        const from =
          source.reference.kind === 'tag'
            ? `${source.repository}:${source.reference.tag}`
            : `${source.repository}@${source.reference.digest}`;
        return withCatalog(
          flags,
          async (catalog) => {
            const copied = await naming(from, source.reference, () =>
              catalog.copyTag(source, { repository: target.repository, tag: targetTag }),
            );
            note(`copied ${from} to ${target.repository}:${targetTag} (${copied.digest})`);
          },
          { changes: true },
        );
      },
    );

  return tag;
}
