// The OpenAPI 3.1 document of Berth's HTTP API, generated from the route table (routes.ts): paths,
// methods, who may call them, parameters, request and response bodies (from the routes' zod schemas,
// as JSON Schema 2020-12, which OpenAPI 3.1 uses). Served at /api/v1/openapi.json; the contract tests
// check real answers against it.
import { packageVersion } from '../package-info.js';
import { z } from 'zod';
import type { ResponseDoc, RouteSpec } from './route-spec.js';

type JsonSchema = Record<string, unknown>;

/** Every error answer (errors.ts): the OCI error envelope, with the OCI codes and Berth's own. */
export const OciErrors = z.object({
  errors: z.array(z.object({ code: z.string(), message: z.string(), detail: z.unknown().optional() })),
});

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    reused: 'inline',
  }) as JsonSchema;
  return rest;
};

/** `/v2/*name/blobs/:digest` → `/v2/{name}/blobs/{digest}`; `{/}` (an optional slash) dropped. */
export function openApiPath(path: string): string {
  return path.replaceAll('{/}', '').replace(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

const pathParameterNames = (path: string) =>
  [...path.matchAll(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);

function objectProperties(schema: JsonSchema): {
  properties: Record<string, JsonSchema>;
  required: string[];
} {
  return {
    properties: (schema.properties as Record<string, JsonSchema> | undefined) ?? {},
    required: (schema.required as string[] | undefined) ?? [],
  };
}

function parameters(route: RouteSpec): object[] {
  const path = route.params ? objectProperties(jsonSchema(route.params, 'input')).properties : {};
  const list: object[] = pathParameterNames(route.path).map((name = '') => ({
    name,
    in: 'path',
    required: true,
    schema: path[name] ?? { type: 'string' },
    ...(route.path.includes(`*${name}`) && { description: 'may contain "/"' }),
  }));
  if (route.query) {
    const { properties, required } = objectProperties(jsonSchema(route.query, 'input'));
    for (const [name, schema] of Object.entries(properties)) {
      list.push({ name, in: 'query', required: required.includes(name), schema });
    }
  }
  return list;
}

function response(doc: ResponseDoc): object {
  if (doc.body) {
    return {
      description: doc.description,
      content: { 'application/json': { schema: jsonSchema(doc.body, 'output') } },
    };
  }
  if (doc.contentType) return { description: doc.description, content: { [doc.contentType]: {} } };
  return { description: doc.description };
}

function security(route: RouteSpec): object[] | undefined {
  if ('open' in route.access) return [];
  return undefined; // the document's default: Basic or Bearer
}

export function openApiDocument(routes: readonly RouteSpec[]): object {
  const paths: Record<string, Record<string, object>> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    const path = openApiPath(route.path);
    const method = route.method.toLowerCase();
    let operationId = `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ?? '').toUpperCase())}`;
    while (operationIds.has(operationId)) operationId += '_';
    operationIds.add(operationId);
    const access = route.access;
    const operation: Record<string, unknown> = {
      operationId,
      summary: route.summary,
      tags: [route.group],
      'x-berth-access':
        'open' in access ? 'open' : 'account' in access ? `account: ${access.account}` : 'repository scopes',
      parameters: parameters(route),
      responses: {
        ...Object.fromEntries(
          Object.entries(route.responses).map(([status, doc]) => [status, response(doc)]),
        ),
        default: response({ description: 'an error (401, 403, 404, 400 ...)', body: OciErrors }),
      },
    };
    const routeSecurity = security(route);
    if (routeSecurity) operation.security = routeSecurity;
    if (route.body) {
      operation.requestBody = {
        required: !route.body.safeParse(undefined).success,
        content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
      };
    }
    (paths[path] ??= {})[method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth',
      version: packageVersion(),
      description:
        'A private container image registry: the OCI Distribution Spec v1.1 under /v2 and the management API under /api/v1. ' +
        'Errors are `{"errors":[{"code","message","detail"}]}` with the OCI error codes.',
    },
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      },
    },
    security: [{ basic: [] }, { bearer: [] }, {}],
    paths,
  };
}
