// The WWW-Authenticate challenge of an upstream registry (RFC 9110 11.6.1, Docker token spec
// token.md "How to authenticate"): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
// Registries send one challenge per header; only the first is read. (http-auth-utils, the parser on
// npm, refuses the service and scope parameters that registries send, hence this one.)

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

// auth-param = token "=" ( token / quoted-string ), separated by commas.
const PARAM = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/y;

export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z][A-Za-z0-9-]*)(?:\s+|$)/.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  PARAM.lastIndex = match[0].length;
  for (let found = PARAM.exec(header); found; found = PARAM.exec(header)) {
    params[(found[1] as string).toLowerCase()] = found[2]?.replace(/\\(.)/g, '$1') ?? found[3] ?? '';
    if (PARAM.lastIndex >= header.length) break;
  }
  return { scheme: (match[1] as string).toLowerCase(), params };
}
