// JSON request bodies of the management API: read whole (they are small, so capped), then checked
// against a zod schema. Every problem is a 400 INVALID naming the field (`name`, `grants.0.role`, or
// `body` for the body as a whole).
import type { Context } from 'koa';
import type { z } from 'zod';
import { InvalidInputError } from '../../auth/errors.js';
import { readCappedBody } from '../body.js';

/** Account and namespace requests are a few hundred bytes; anything near this is not one. */
export const BODY_MAX_BYTES = 64 * 1024;

export function problemOf(issue: z.core.$ZodIssue): { field: string; reason: string } {
  if (issue.code === 'unrecognized_keys') {
    const path = issue.path.map(String);
    return { field: [...path, issue.keys[0] ?? ''].join('.'), reason: 'unknown field' };
  }
  return {
    field: issue.path.length > 0 ? issue.path.map(String).join('.') : 'body',
    reason: issue.message.replace(/^Invalid (?:input|option): /, ''),
  };
}

export async function readJsonBody<T>(ctx: Context, schema: z.ZodType<T>): Promise<T> {
  const raw = await readCappedBody(
    ctx.req,
    BODY_MAX_BYTES,
    () => new InvalidInputError('body', `larger than ${BODY_MAX_BYTES} bytes`),
  );
  let value: unknown;
  if (raw.length > 0) {
    if (!ctx.is('application/json'))
      throw new InvalidInputError('body', 'expected Content-Type: application/json');
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new InvalidInputError('body', 'not valid JSON');
    }
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, reason } = problemOf(result.error.issues[0] as z.core.$ZodIssue);
  throw new InvalidInputError(field, reason);
}
