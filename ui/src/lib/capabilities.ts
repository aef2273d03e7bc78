// What this Berth's management API offers, read from its OpenAPI document (GET /api/v1/openapi.json,
// generated from the route table, so it cannot disagree with the server). The UI shows a feature only
// when its endpoint is there (garbage collection runs), and sends a copy's target the way the server
// declares it takes it.

interface Operation {
  parameters?: Array<{ name?: string; in?: string }>;
  requestBody?: unknown;
}

export interface OpenApiDocument {
  paths?: Record<string, Record<string, Operation | undefined> | undefined>;
}

export interface Capabilities {
  has(method: string, path: string): boolean;
  /** GET and POST /api/v1/gc/runs: garbage collection runs, and starting one. */
  gcRuns: boolean;
  /** POST …/tags/{tag}/copy takes its target in a JSON body ({to: {repository, tag}}), not `?to=`. */
  copyInBody: boolean;
}

export function readCapabilities(doc: OpenApiDocument): Capabilities {
  const paths = doc.paths ?? {};
  const operation = (method: string, path: string) => paths[path]?.[method.toLowerCase()];
  const has = (method: string, path: string) => operation(method, path) !== undefined;
  const copy = operation('POST', '/api/v1/repositories/{name}/-/tags/{tag}/copy');
  const toInQuery = copy?.parameters?.some((p) => p.name === 'to' && p.in === 'query') ?? false;
  return {
    has,
    gcRuns: has('GET', '/api/v1/gc/runs'),
    copyInBody: copy !== undefined && !toInQuery && copy.requestBody !== undefined,
  };
}
