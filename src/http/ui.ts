// The web UI (ui/, built by `npm run build` into dist/ui): its files served by Berth itself.
// - `/assets/*` are Vite's content-hashed files: cached for a year, immutable.
// - index.html answers `/` and the UI's own client routes (UI_ROUTES), never cached, so a new build is
//   picked up at the next page load. Every other path (/v2/, /v1/, /api/v1, /auth/token, /healthz,
//   /readyz, /metrics, and anything unknown) goes on to the route table untouched.
// - Every UI answer carries a strict Content-Security-Policy (no inline script or style, no other
//   origin, no framing), nosniff and no-referrer: the UI shows untrusted text (annotations, labels,
//   descriptions) and must never run it.
// - The files are looked up next to the package (<package root>/dist/ui), so `npm start`, the
//   container image and tests that run dist/ or src/ all find the same build. Without a build, `/`
//   answers 404 with a message saying how to make one (an OCI error body, as every error of Berth).
import { packageRoot } from '../package-info.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Middleware, Next } from 'koa';
import serveStatic from 'koa-static';
import { HttpError } from './errors.js';

export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Client routes of the UI (ui/src/lib/routes.ts), answered with index.html. */
const UI_ROUTES = /^\/(?:$|repositories(?:\/.*)?$|admin(?:\/.*)?$|sign-in$)/;
const ASSETS = /^\/assets\/[^/]+$/;
/** Asset names carry a hash of their content: a name never changes its bytes. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Like every error Berth writes, an OCI error body: the message is the text a person reads. */
const NOT_BUILT =
  'the web UI is not built: run `npm run build` (it makes dist/ui) and reload; ' +
  'the registry (/v2/) and the management API (/api/v1) work without it';

/** Where `npm run build` puts the UI (vite.config.ts outDir). */
export const defaultUiRoot = (): string => join(packageRoot(), 'dist', 'ui');

export interface UiOptions {
  /** The built UI; default dist/ui in the package. */
  root?: string;
}

export function createUiMiddleware(options: UiOptions = {}): Middleware {
  const root = options.root ?? defaultUiRoot();
  const assets = serveStatic(root, { index: false, hidden: false });
  // Read at each page load (a few hundred bytes, once per visit, not per API call): a build made while
  // Berth runs replaces the hashed assets, and the index naming them must follow.
  const readIndex = () => readFile(join(root, 'index.html')).catch(() => undefined);

  return async function ui(ctx: Context, next: Next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ASSETS.test(ctx.path)) {
      ctx.set(UI_SECURITY_HEADERS);
      // Only a file found is cacheable: what answers a missing one must not stick for a year.
      let missing = false;
      await assets(ctx, () => {
        missing = true;
        return next();
      });
      if (!missing) ctx.set('Cache-Control', IMMUTABLE);
      return;
    }
    if (!UI_ROUTES.test(ctx.path)) return next();
    ctx.set(UI_SECURITY_HEADERS);
    ctx.set('Cache-Control', 'no-cache');
    const html = await readIndex();
    if (!html) throw new HttpError(404, 'UNSUPPORTED', NOT_BUILT);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  };
}

/**
 * The address to open in a browser for a listener on `address` (host:port as bound): a wildcard
 * address (0.0.0.0, ::) becomes localhost, which reaches it from the same machine.
 */
export function uiUrl(scheme: 'http' | 'https', address: string): string {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  const wildcard = host === '0.0.0.0' || host === '[::]' || host === '::' || host === '';
  return `${scheme}://${wildcard ? 'localhost' : host}:${address.slice(at + 1)}/`;
}
