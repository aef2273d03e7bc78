// Reads the Authorization header (RFC 9110 11.6.2): Basic (RFC 7617) or Bearer (RFC 6750).
import type { Context } from 'koa';

export type PresentedCredentials =
  | { scheme: 'none' }
  | { scheme: 'basic'; username: string; password: string }
  | { scheme: 'bearer'; token: string }
  | { scheme: 'malformed' };

export function presentedCredentials(ctx: Context): PresentedCredentials {
  const header = ctx.get('Authorization');
  if (header === '') return { scheme: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { scheme: 'bearer', token: value };
  if (scheme === 'basic' && value !== '') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0)
      return { scheme: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { scheme: 'malformed' };
}

/** The client's address, for throttling and logs (Koa's ctx.ip). */
export const clientAddress = (ctx: Context): string => ctx.ip || 'unknown';
