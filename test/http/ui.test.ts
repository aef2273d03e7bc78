// Serving the web UI (src/http/ui.ts): index.html for `/` and the UI's routes only, hashed assets cached
// for good, the security headers, an OCI error when the UI is not built, and the API untouched
// (GET /api/v1/info; server.ui: false).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorResponder } from '../../src/http/errors.js';
import { createUiMiddleware, uiUrl } from '../../src/http/ui.js';
import { startBerth, type RunningBerth } from '../support/berth.js';

const INDEX = '<!doctype html><script type="module" src="/assets/app-Ab12.js"></script>';

async function serve(root: string) {
  const app = new Koa();
  app.silent = true;
  app.use(errorResponder(pino({ level: 'silent' })));
  app.use(createUiMiddleware({ root }));
  // What the route table would answer: a marker, so a test sees what the UI let through.
  app.use((ctx) => {
    ctx.body = { passedOn: ctx.path };
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(done)) };
}

describe('the web UI middleware', () => {
  let root: string;
  let built: Awaited<ReturnType<typeof serve>>;
  let unbuilt: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-ui-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), INDEX);
    await writeFile(join(root, 'assets', 'app-Ab12.js'), 'console.log(1)');
    built = await serve(root);
    unbuilt = await serve(join(root, 'nowhere'));
  });
  afterAll(async () => {
    await Promise.all([built?.close(), unbuilt?.close()]);
    await rm(root, { recursive: true, force: true });
  });

  it('answers / and the UI routes with index.html, never cached, with the security headers', async () => {
    for (const path of [
      '/',
      '/repositories',
      '/repositories/team/app/-/tags/1.0',
      '/admin/users',
      '/sign-in',
    ]) {
      const res = await fetch(`${built.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe(INDEX);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('serves hashed assets as immutable, and a missing one not at all', async () => {
    const asset = await fetch(`${built.url}/assets/app-Ab12.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('content-security-policy')).toContain("default-src 'self'");
    const missing = await fetch(`${built.url}/assets/gone-Zz99.js`);
    expect(await missing.json()).toEqual({ passedOn: '/assets/gone-Zz99.js' });
    expect(missing.headers.get('cache-control')).toBeNull();
  });

  it('leaves every other path and method to the route table', async () => {
    for (const path of [
      '/v2/',
      '/v1/search',
      '/api/v1/info',
      '/auth/token',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      expect(await (await fetch(`${built.url}${path}`)).json(), path).toEqual({ passedOn: path });
    }
    for (const path of ['/index.html', '/repositoriesx', '/admins', '/assets/a/b.js', '/assets/']) {
      expect(await (await fetch(`${built.url}${path}`)).json(), path).toEqual({ passedOn: path });
    }
    const post = await fetch(`${built.url}/`, { method: 'POST' });
    expect(await post.json()).toEqual({ passedOn: '/' });
  });

  it('says how to build the UI when it is not built, as an OCI error', async () => {
    const res = await fetch(`${unbuilt.url}/`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
    expect(body.errors[0]?.message).toContain('npm run build');
  });

  it('names the address to open, localhost for a wildcard listener', () => {
    expect(uiUrl('http', '0.0.0.0:5000')).toBe('http://localhost:5000/');
    expect(uiUrl('http', '[::]:5000')).toBe('http://localhost:5000/');
    expect(uiUrl('https', '10.0.0.5:443')).toBe('https://10.0.0.5:443/');
    expect(uiUrl('http', '[::1]:5001')).toBe('http://[::1]:5001/');
  });
});

describe('Berth with and without the UI', () => {
  let open: RunningBerth;
  let off: RunningBerth;
  beforeAll(async () => {
    [open, off] = await Promise.all([
      startBerth({ server: { readOnly: true } }),
      startBerth({ server: { ui: false }, storage: { delete: { enabled: false } } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([open?.stop(), off?.stop()]);
  });

  it('tells a client how to sign in: GET /api/v1/info, open to all', async () => {
    const res = await fetch(`${open.url}/api/v1/info`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      authMode: 'none',
      service: 'berth',
      readOnly: true,
      deleteEnabled: true,
    });
    const info = (await (await fetch(`${off.url}/api/v1/info`)).json()) as { deleteEnabled: boolean };
    expect(info.deleteEnabled).toBe(false);
  });

  it('serves only the APIs with server.ui: false', async () => {
    const res = await fetch(`${off.url}/`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(((await res.json()) as { errors: Array<{ message: string }> }).errors[0]?.message).toBe(
      'no such endpoint: GET /',
    );
  });
});
