// Checks a route's input against the zod schemas it declares (route-spec.ts): path parameters, query
// and JSON body. Every problem is a 400 INVALID naming the field (`limit`, `to.tag`, or `body` for the
// body as a whole). Routes without schemas get their raw parameters and query, and no body is read.
import type { Context } from 'koa';
import type { z } from 'zod';
import { InvalidInputError } from '../auth/errors.js';
import { problemOf, readJsonBody } from './management/body.js';
import type { RouteInput, RouteSpec } from './route-spec.js';

function checked<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, reason } = problemOf(result.error.issues[0] as z.core.$ZodIssue);
  throw new InvalidInputError(field, reason);
}

export async function checkedInput(
  ctx: Context,
  route: RouteSpec,
  params: Record<string, string>,
): Promise<Parameters<RouteSpec['handler']>[1]> {
  const input: RouteInput<unknown, unknown, unknown> = {
    params: route.params ? checked(route.params, params) : params,
    query: route.query ? checked(route.query, ctx.query) : ctx.query,
    body: route.body ? await readJsonBody(ctx, route.body) : undefined,
  };
  // The schemas the route declared produced these: the types its handler was written against.
  return input as Parameters<RouteSpec['handler']>[1];
}
