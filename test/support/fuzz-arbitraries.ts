// fast-check arbitraries for the OCI distribution API: repository names, tags, digests, header
// values and HTTP methods, each a mix of valid values, near-misses and hostile ones. Every value is
// safe to put in a request line or header as is (ASCII, no CR/LF; non-ASCII is percent-encoded).
import fc from 'fast-check';
import { ESCAPE } from './fuzz.js';

/** A string over the characters of `alphabet`. */
export const stringOf = (alphabet: string, minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength, maxLength });

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PRINTABLE = ` !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_\`abcdefghijklmnopqrstuvwxyz{|}~`;
/** Characters a request target may carry unencoded (no space, '?', '#'). */
const PATHISH = `!$&'()*+,-./0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~%`;

// OCI dist-spec v1.1 grammars, the oracle the server is checked against.
export const NAME_GRAMMAR =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const isValidName = (name: string) => name.length <= 255 && NAME_GRAMMAR.test(name);

const hex = (length: number) =>
  fc.uint8Array({ minLength: length / 2, maxLength: length / 2 }).map((b) => Buffer.from(b).toString('hex'));

const component = fc
  .tuple(
    stringOf(LOWER_ALNUM, 1, 8),
    fc.option(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), stringOf(LOWER_ALNUM, 1, 6))),
  )
  .map(([head, tail]) => (tail ? `${head}${tail[0]}${tail[1]}` : head));

export const validName = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

/** Names of exactly 255 and 256 characters (the limit), otherwise valid. */
const boundaryName = fc.constantFrom(255, 256).map((length) => {
  const head = `${'a'.repeat(100)}/${'b'.repeat(100)}/`;
  return head + 'c'.repeat(length - head.length);
});

/** Attempts to leave the storage root through the name, each aiming at ESCAPE. */
export const traversalName = fc.oneof(
  fc.nat({ max: 12 }).map((depth) => `${'../'.repeat(depth)}${ESCAPE}`),
  fc.nat({ max: 8 }).map((depth) => `a/${'../'.repeat(depth)}${ESCAPE}`),
  fc.nat({ max: 8 }).map((depth) => `a/${'%2e%2e/'.repeat(depth)}${ESCAPE}`),
  fc.nat({ max: 8 }).map((depth) => `a${'%2F..'.repeat(depth)}%2F${ESCAPE}`),
  fc.constantFrom(
    `a/./${ESCAPE}`,
    `a//${ESCAPE}`,
    `/${ESCAPE}`,
    `a/..%5c..%5c${ESCAPE}`,
    `a%00/${ESCAPE}`,
    `a/%2e%2e%2f%2e%2e%2f${ESCAPE}`,
    `a/%252e%252e/${ESCAPE}`,
    `..%c0%af${ESCAPE}`,
    `a/%E0%A4%A/${ESCAPE}`,
  ),
);

/** A valid name with one edit that may or may not break it. */
const mutatedName = fc
  .tuple(
    validName,
    fc.nat(),
    fc.constantFrom(
      'A',
      '.',
      '..',
      '-',
      '_',
      '__',
      '/',
      '//',
      '%2F',
      '%2e',
      '%20',
      '%C3%A9',
      '+',
      '@',
      ':',
      '~',
      '%',
      '\\',
    ),
  )
  .map(([name, at, insert]) => {
    const i = at % (name.length + 1);
    return name.slice(0, i) + insert + name.slice(i);
  });

export const repoName = fc.oneof(
  { arbitrary: validName, weight: 3 },
  { arbitrary: mutatedName, weight: 3 },
  { arbitrary: traversalName, weight: 2 },
  { arbitrary: boundaryName, weight: 1 },
  { arbitrary: stringOf(PATHISH, 1, 40), weight: 1 },
);

export const validTag = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/),
  fc.constantFrom(`t${'a'.repeat(127)}`, 'latest', '_', '1.0'),
);

export const tag = fc.oneof(
  { arbitrary: validTag, weight: 3 },
  {
    arbitrary: fc.constantFrom(
      '-bad',
      '.hidden',
      `t${'a'.repeat(128)}`,
      'bad+tag',
      'a%20b',
      'a%2Fb',
      '..',
      `..%2F..%2F${ESCAPE}`,
      '%00',
      'caf%C3%A9',
    ),
    weight: 2,
  },
  { arbitrary: stringOf(PATHISH.replace('/', ''), 1, 30), weight: 1 },
);

export const validDigest = fc.oneof(
  { arbitrary: hex(64).map((h) => `sha256:${h}`), weight: 4 },
  { arbitrary: hex(128).map((h) => `sha512:${h}`), weight: 1 },
);

/** A digest with one defect (or none), derived from `base`. */
export function mutatedDigest(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(base, fc.nat({ max: 11 }), fc.nat()).map(([digest, kind, n]) => {
    const [algorithm = '', value = ''] = digest.split(':');
    switch (kind) {
      case 0:
        return digest.toUpperCase();
      case 1:
        return `${algorithm}:${value.slice(0, n % value.length)}`;
      case 2:
        return `${digest}${'0'.repeat(1 + (n % 3))}`;
      case 3:
        return `${['md5', 'sha384', 'SHA256', 'sha256+b64', 'sha-256', 'x'][n % 6]}:${value}`;
      case 4:
        return value;
      case 5:
        return `${algorithm}:`;
      case 6:
        return `:${value}`;
      case 7:
        return `${algorithm}:..%2F..%2F${ESCAPE}`;
      case 8:
        return `${algorithm}:${value.slice(0, -1)}g`;
      case 9:
        return algorithm === 'sha256' ? `sha512:${value}` : `sha256:${value.slice(0, 64)}`;
      case 10:
        return `${digest}%00`;
      default:
        return digest;
    }
  });
}

export const digest = fc.oneof(validDigest, mutatedDigest(validDigest));

/** Standard and WebDAV/extension methods, and garbage in the method's place. */
export const httpMethod = fc.oneof(
  fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'),
  fc.constantFrom(
    'TRACE',
    'PROPFIND',
    'PROPPATCH',
    'COPY',
    'LOCK',
    'MOVE',
    'MKCOL',
    'PURGE',
    'SEARCH',
    'REPORT',
    'LINK',
    'UNLINK',
    'UNLOCK',
    'M-SEARCH',
    'QUERY',
    'ACL',
    'BIND',
    'NOTIFY',
    'SUBSCRIBE',
    'CONNECT',
  ),
  fc.constantFrom('get', 'Get', 'GETS', 'G', 'POSTX', 'BREW', '*', 'GET/', 'FOO'),
  stringOf('ABCDEFGHIJKLMNOPQRSTUVWXYZ-_!~', 1, 12),
);

/** A `Range` header for a blob of `size` bytes: valid, out of bounds, or malformed. */
export function rangeHeader(size: number): fc.Arbitrary<string> {
  const offset = fc.oneof(fc.nat({ max: size + 2 }), fc.constantFrom(0, size - 1, size, 2 ** 53, 1e20));
  return fc.oneof(
    fc.tuple(offset, offset).map(([a, b]) => `bytes=${a}-${b}`),
    offset.map((a) => `bytes=${a}-`),
    offset.map((n) => `bytes=-${n}`),
    fc.tuple(offset, offset, offset).map(([a, b, c]) => `bytes=${a}-${b},${c}-`),
    fc.constantFrom(
      'bytes=',
      'bytes=-',
      'bytes=--1',
      'bytes=-0',
      'items=0-1',
      'bytes 0-1',
      'bytes=0x1-2',
      ' bytes=0-1 ',
      'bytes=1-0',
    ),
    stringOf(PRINTABLE, 0, 24),
  );
}

/** A chunk's `Content-Range` for a chunk at `start` of `length` bytes: right, wrong or malformed. */
export function contentRangeHeader(start: number, length: number): fc.Arbitrary<string> {
  const end = start + length - 1;
  const near = (n: number) => fc.integer({ min: Math.max(0, n - 2), max: n + 2 });
  return fc.oneof(
    { arbitrary: fc.constant(`${start}-${end}`), weight: 4 },
    { arbitrary: fc.tuple(near(start), near(end)).map(([a, b]) => `${a}-${b}`), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        `bytes ${start}-${end}/*`,
        `bytes=${start}-${end}`,
        `bytes ${start}-${end}/${end + 1}`,
      ),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        `${end}-${start}`,
        `-${start}`,
        `${start}-`,
        `${start}-${end}-${end}`,
        '0-18446744073709551616',
        `${2 ** 53}-${2 ** 53 + 1}`,
        '1e3-2e3',
        `${start}-${end},0-1`,
      ),
      weight: 2,
    },
    { arbitrary: stringOf(PRINTABLE, 0, 20), weight: 1 },
  );
}

/** A raw query-string value (percent-escapes, possibly malformed). */
export const queryValue = fc.oneof(
  stringOf(`${LOWER_ALNUM}/._-`, 0, 20),
  stringOf('%0123456789ABCDEFabcdefZ+&=;', 0, 12),
  fc.constantFrom('', '%', '%ZZ', '%E0%A4%A', '%00', 'z%7F', '%F0%9F%90%B3', '~', `..%2F${ESCAPE}`),
);

/** An `n` page size: numbers near the edges and non-numbers. */
export const pageSize = fc.oneof(
  fc.nat({ max: 12 }).map(String),
  fc.constantFrom(
    '0',
    '00',
    '-1',
    '1.5',
    '1e2',
    '+3',
    '%202',
    '10000',
    '10001',
    '99999999999999999999999',
    'abc',
    '',
    '0x10',
  ),
);

/** One edit of a manifest object: a value set (often of the wrong type) or a key removed. */
export type Mutation =
  { path: readonly string[]; value: unknown } | { path: readonly string[]; remove: true };

const wrongValue = fc.oneof(
  fc.constantFrom<unknown>(null, -1, 1.5, '2', 2 ** 64, 1e308, [], {}, '', true, 'sha256:', 0),
  fc.jsonValue({ maxDepth: 2 }),
  digest,
  mutatedDigest(fc.constant('sha256:' + 'a'.repeat(64))),
);
export const manifestMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    path: fc.constantFrom(
      ['schemaVersion'],
      ['mediaType'],
      ['config'],
      ['layers'],
      ['config', 'digest'],
      ['config', 'size'],
      ['config', 'mediaType'],
      ['layers', '0'],
      ['layers', '0', 'digest'],
      ['layers', '0', 'size'],
      ['layers', '0', 'urls'],
      ['subject'],
      ['annotations'],
      ['artifactType'],
      ['manifests'],
    ),
    value: wrongValue,
  }),
  fc.record({
    path: fc.constantFrom(
      ['schemaVersion'],
      ['config'],
      ['layers'],
      ['config', 'digest'],
      ['config', 'size'],
      ['layers', '0', 'mediaType'],
    ),
    remove: fc.constant(true as const),
  }),
);

export function applyMutation(target: Record<string, unknown>, m: Mutation): void {
  let node = target as Record<string, unknown>;
  for (const key of m.path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  const last = m.path.at(-1) as string;
  if ('remove' in m) delete node[last];
  else node[last] = m.value;
}

/** JSON nested up to 1.5 million levels (3 MB), arrays or objects. */
export const deepJson = fc
  .record({ depth: fc.constantFrom(10, 1000, 100_000, 1_500_000), open: fc.constantFrom('[', '{"a":') })
  .map(({ depth, open }) => {
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(depth)}${open === '[' ? '1' : 'null'}${close.repeat(depth)}`;
  });

export const encodingDefect = fc.constantFrom(
  'truncate',
  'invalid utf-8',
  'bom',
  'trailing garbage',
  'duplicate key',
  'nul',
);

/** `text` (a JSON object) made invalid, or at least unusual, at the byte level. */
export function withEncodingDefect(text: string, defect: string, at: number): Buffer {
  switch (defect) {
    case 'truncate':
      return Buffer.from(text.slice(0, at % text.length));
    case 'invalid utf-8':
      return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff, 0xfe]), Buffer.from('}')]);
    case 'bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    case 'trailing garbage':
      return Buffer.from(`${text} x`);
    case 'nul':
      return Buffer.from(`${text}\u0000`);
    default:
      // JSON allows duplicate keys and the last one wins: this is schema version 1.
      return Buffer.from(
        text
          .replace('{', '{"schemaVersion":2,')
          .replace('"schemaVersion":2,"mediaType"', '"schemaVersion":1,"mediaType"'),
      );
  }
}
