// OCI distribution-spec conformance, workflow 3 (Content Discovery): tag listing with n/last/Link,
// the _catalog extension, and the 1.1 referrers API (descriptors, artifactType filter, empty results).
import { describe, expect, it } from 'vitest';
import {
  type Descriptor,
  EMPTY_JSON,
  EMPTY_JSON_DIGEST,
  MT,
  explain,
  expectError,
  expectErrorBody,
  imageIndex,
  imageManifest,
  json,
  nextLink,
  pushImage,
  randomBlob,
  sha256,
  uniqueRepo,
} from './support/client.js';
import { useRegistry } from './support/registry.js';

const reg = useRegistry();

interface TagList {
  name: string;
  tags: string[] | null;
}

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

/** Pushes one image and tags it with every tag, in the given (deliberately unsorted) order. */
async function repoWithTags(prefix: string, tags: string[]): Promise<string> {
  const repo = uniqueRepo(prefix);
  const img = await pushImage(reg.client, repo, tags[0] ?? 'latest');
  for (const tag of tags.slice(1)) await reg.client.putManifest(repo, tag, img.manifest, MT.ociManifest);
  return repo;
}

describe('discovery: tags list', () => {
  const TAGS = ['delta', 'alpha', 'echo', 'bravo', 'charlie', 'v10', 'v2'];
  const SORTED = [...TAGS].sort();

  it('lists all tags in lexical order with the repository name', async () => {
    const repo = await repoWithTags('tags-all', TAGS);
    const res = await reg.client.get(`/v2/${repo}/tags/list`);
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('content-type') ?? '', explain(res)).toMatch(/^application\/json\b/);
    expect(json<TagList>(res), explain(res)).toEqual({ name: repo, tags: SORTED });
  });

  it('n limits the count and a Link rel="next" header leads to the rest', async () => {
    const repo = await repoWithTags('tags-n', TAGS);
    const first = await reg.client.get(`/v2/${repo}/tags/list?n=3`);
    expect(first.status, explain(first)).toBe(200);
    expect(json<TagList>(first).tags, explain(first)).toEqual(SORTED.slice(0, 3));
    const collected = [...(json<TagList>(first).tags ?? [])];
    let link = nextLink(first);
    expect(link, explain(first)).toBeTruthy();
    for (let page = 0; link && page < 10; page++) {
      const res = await reg.client.get(link);
      expect(res.status, explain(res)).toBe(200);
      const tags = json<TagList>(res).tags ?? [];
      expect(tags.length, explain(res)).toBeLessThanOrEqual(3);
      collected.push(...tags);
      link = nextLink(res);
    }
    expect(collected).toEqual(SORTED);
  });

  it('last returns the tags strictly after it, with and without n', async () => {
    const repo = await repoWithTags('tags-last', TAGS);
    const withN = await reg.client.get(`/v2/${repo}/tags/list?n=2&last=bravo`);
    expect(withN.status, explain(withN)).toBe(200);
    expect(json<TagList>(withN).tags, explain(withN)).toEqual(['charlie', 'delta']);
    const withoutN = await reg.client.get(`/v2/${repo}/tags/list?last=echo`);
    expect(withoutN.status, explain(withoutN)).toBe(200);
    expect(json<TagList>(withoutN).tags, explain(withoutN)).toEqual(SORTED.slice(SORTED.indexOf('echo') + 1));
  });

  it('a page that holds all remaining tags has no Link header', async () => {
    const repo = await repoWithTags('tags-nolink', TAGS);
    const res = await reg.client.get(`/v2/${repo}/tags/list?n=${TAGS.length}`);
    expect(res.status, explain(res)).toBe(200);
    expect(json<TagList>(res).tags, explain(res)).toEqual(SORTED);
    // A Link here would lead to an empty page at best; the spec allows it only "when additional tags are available".
    expect(res.headers.get('link'), explain(res)).toBeNull();
  });

  it('n=0 returns an empty list and no Link header', async () => {
    const repo = await repoWithTags('tags-zero', TAGS);
    const res = await reg.client.get(`/v2/${repo}/tags/list?n=0`);
    expect(res.status, explain(res)).toBe(200);
    expect(json<TagList>(res).tags ?? [], explain(res)).toEqual([]);
    expect(res.headers.get('link'), explain(res)).toBeNull();
  });

  it('a non-numeric n is either ignored (200) or refused with a spec error code', async () => {
    const repo = await repoWithTags('tags-badn', ['a', 'b']);
    for (const n of ['abc', '-1']) {
      const res = await reg.client.get(`/v2/${repo}/tags/list?n=${n}`);
      expect([200, 400], explain(res)).toContain(res.status);
      if (res.status === 400) expectErrorBody(res);
    }
  });

  it('an unknown repository answers 404 NAME_UNKNOWN', async () => {
    const res = await reg.client.get(`/v2/${uniqueRepo('tags-nope')}/tags/list`);
    expectError(res, 404, 'NAME_UNKNOWN');
  });
});

describe('discovery: catalog', () => {
  // _catalog is not in the spec; whole-list order (plain string vs path-component-wise) is left open.
  it('lists repositories in lexical order, paginated with n, last and Link', async () => {
    const c = reg.client;
    const prefix = uniqueRepo('catalog');
    const repos = [`${prefix}-c`, `${prefix}-a`, `${prefix}-b`];
    for (const repo of repos) await pushImage(c, repo, 'v1');

    // `last` need not be an existing repository: everything sorting after it comes back.
    const first = await c.get(`/v2/_catalog?n=2&last=${encodeURIComponent(`${prefix}-`)}`);
    expect(first.status, explain(first)).toBe(200);
    const page1 = json<{ repositories: string[] }>(first).repositories;
    expect(page1, explain(first)).toEqual([`${prefix}-a`, `${prefix}-b`]);
    const link = nextLink(first);
    expect(link, explain(first)).toBeTruthy();
    const second = await c.get(link ?? '');
    expect(second.status, explain(second)).toBe(200);
    const page2 = json<{ repositories: string[] }>(second).repositories;
    expect(page2[0], explain(second)).toBe(`${prefix}-c`);
  });
});

describe('discovery: referrers', () => {
  const TYPE_SBOM = 'application/vnd.example.sbom.v1';
  const TYPE_SIG = 'application/vnd.example.signature.v1';
  const TYPE_CONFIG = 'application/vnd.example.config.v1+json';
  const EMPTY: Descriptor = { mediaType: MT.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 };

  interface Referrer {
    body: Buffer;
    mediaType: string;
    expected: Descriptor;
  }

  /** A subject image plus four referrers of every kind the spec distinguishes for artifactType. */
  async function setup(prefix: string): Promise<{ repo: string; subject: string; referrers: Referrer[] }> {
    const c = reg.client;
    const repo = uniqueRepo(prefix);
    const subject = await pushImage(c, repo, 'v1');
    await c.pushBlob(repo, EMPTY_JSON);
    const configBytes = Buffer.from(`{"kind":"custom-config","n":"${randomBlob(4).toString('hex')}"}`);
    await c.pushBlob(repo, configBytes);

    const sbom = imageManifest({
      artifactType: TYPE_SBOM,
      config: EMPTY,
      layers: [EMPTY],
      subject: subject.descriptor,
      annotations: { 'org.example.name': 'sbom' },
    });
    const sig = imageManifest({
      artifactType: TYPE_SIG,
      config: EMPTY,
      layers: [EMPTY],
      subject: subject.descriptor,
      annotations: { 'org.example.name': 'sig' },
    });
    // No artifactType: the descriptor's artifactType is the config mediaType.
    const byConfig = imageManifest({
      config: { mediaType: TYPE_CONFIG, digest: sha256(configBytes), size: configBytes.length },
      subject: subject.descriptor,
      annotations: { 'org.example.name': 'config' },
    });
    // An index without artifactType: artifactType is omitted from its descriptor.
    const index = imageIndex([subject.descriptor], {
      subject: subject.descriptor,
      annotations: { 'org.example.name': 'index' },
    });

    const referrers: Referrer[] = [
      {
        body: sbom,
        mediaType: MT.ociManifest,
        expected: { artifactType: TYPE_SBOM, ...d(sbom, MT.ociManifest, 'sbom') },
      },
      {
        body: sig,
        mediaType: MT.ociManifest,
        expected: { artifactType: TYPE_SIG, ...d(sig, MT.ociManifest, 'sig') },
      },
      {
        body: byConfig,
        mediaType: MT.ociManifest,
        expected: { artifactType: TYPE_CONFIG, ...d(byConfig, MT.ociManifest, 'config') },
      },
      { body: index, mediaType: MT.ociIndex, expected: d(index, MT.ociIndex, 'index') },
    ];
    for (const r of referrers) await c.putManifest(repo, sha256(r.body), r.body, r.mediaType);
    return { repo, subject: subject.digest, referrers };
  }

  function d(body: Buffer, mediaType: string, name: string): Descriptor {
    return { mediaType, digest: sha256(body), size: body.length, annotations: { 'org.example.name': name } };
  }

  function byDigest(a: Descriptor, b: Descriptor): number {
    return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
  }

  function expectIndex(res: Awaited<ReturnType<typeof reg.client.get>>): Index {
    expect(res.status, explain(res)).toBe(200);
    expect(res.headers.get('content-type'), explain(res)).toBe(MT.ociIndex);
    const index = json<Index>(res);
    expect(index.schemaVersion, explain(res)).toBe(2);
    expect(index.mediaType, explain(res)).toBe(MT.ociIndex);
    expect(Array.isArray(index.manifests), explain(res)).toBe(true);
    return index;
  }

  it('lists every manifest whose subject is the digest, with mediaType, size, artifactType, annotations', async () => {
    const { repo, subject, referrers } = await setup('ref-all');
    const res = await reg.client.get(`/v2/${repo}/referrers/${subject}`);
    const index = expectIndex(res);
    const got = index.manifests.map(({ mediaType, digest, size, artifactType, annotations }) => ({
      mediaType,
      digest,
      size,
      ...(artifactType !== undefined ? { artifactType } : {}),
      annotations,
    }));
    expect(got.sort(byDigest), explain(res)).toEqual(referrers.map((r) => r.expected).sort(byDigest));
  });

  it('?artifactType= filters and sets OCI-Filters-Applied: artifactType', async () => {
    const { repo, subject, referrers } = await setup('ref-filter');
    const res = await reg.client.get(
      `/v2/${repo}/referrers/${subject}?artifactType=${encodeURIComponent(TYPE_SBOM)}`,
    );
    const index = expectIndex(res);
    expect(res.headers.get('oci-filters-applied'), explain(res)).toBe('artifactType');
    expect(
      index.manifests.map((m) => m.digest),
      explain(res),
    ).toEqual([sha256(referrers[0]?.body ?? '')]);
    expect(index.manifests[0]?.artifactType, explain(res)).toBe(TYPE_SBOM);

    const byConfig = await reg.client.get(
      `/v2/${repo}/referrers/${subject}?artifactType=${encodeURIComponent(TYPE_CONFIG)}`,
    );
    const configIndex = expectIndex(byConfig);
    expect(
      configIndex.manifests.map((m) => m.digest),
      explain(byConfig),
    ).toEqual([sha256(referrers[2]?.body ?? '')]);

    const none = await reg.client.get(`/v2/${repo}/referrers/${subject}?artifactType=application%2Fvnd.none`);
    expect(expectIndex(none).manifests, explain(none)).toEqual([]);
    expect(none.headers.get('oci-filters-applied'), explain(none)).toBe('artifactType');
  });

  it('a subject with no referrers answers 200 with an empty index, not 404', async () => {
    const c = reg.client;
    const repo = uniqueRepo('ref-empty');
    const img = await pushImage(c, repo, 'v1');
    const res = await c.get(`/v2/${repo}/referrers/${img.digest}`);
    expect(expectIndex(res).manifests, explain(res)).toEqual([]);
    const unknown = await c.get(`/v2/${repo}/referrers/${sha256('hello world')}`);
    expect(expectIndex(unknown).manifests, explain(unknown)).toEqual([]);
  });

  it('a referrer pushed before its subject is listed for the (missing) subject digest', async () => {
    const c = reg.client;
    const repo = uniqueRepo('ref-missing-subject');
    await c.pushBlob(repo, EMPTY_JSON);
    const missing: Descriptor = { mediaType: MT.ociManifest, digest: sha256(randomBlob()), size: 1234 };
    const referrer = imageManifest({
      artifactType: TYPE_SIG,
      config: EMPTY,
      layers: [EMPTY],
      subject: missing,
    });
    await c.putManifest(repo, sha256(referrer), referrer, MT.ociManifest);
    const res = await c.get(`/v2/${repo}/referrers/${missing.digest}`);
    const index = expectIndex(res);
    expect(
      index.manifests.map((m) => m.digest),
      explain(res),
    ).toEqual([sha256(referrer)]);
    expect(index.manifests[0]?.artifactType, explain(res)).toBe(TYPE_SIG);
  });

  it('referrers are scoped to the repository', async () => {
    const c = reg.client;
    const { subject } = await setup('ref-scope-a');
    const other = uniqueRepo('ref-scope-b');
    await pushImage(c, other, 'v1');
    const res = await c.get(`/v2/${other}/referrers/${subject}`);
    expect(expectIndex(res).manifests, explain(res)).toEqual([]);
  });

  it('a malformed digest answers 400', async () => {
    const c = reg.client;
    const repo = uniqueRepo('ref-bad');
    await pushImage(c, repo, 'v1');
    const res = await c.get(`/v2/${repo}/referrers/sha256:nothex`);
    expectError(res, 400, 'DIGEST_INVALID');
  });
});
