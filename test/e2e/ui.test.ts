// The web UI in a real browser (Debian's chromium, driven by playwright-core) against a real Berth with
// token auth that real docker pushed to: sign in, find a repository by search, open a tag, copy its
// pull command, delete a tag (gone from /v2 too); a reader sees no delete button and Berth refuses the
// DELETE the reader forges with the UI's own token; the storage page lists a garbage collection run.
// Screenshots of the main pages are written to docs/screenshots with UI_SCREENSHOTS=1 (the README
// shows them), else to a temporary directory.
// Tests run in order and share the registry, the daemon and the admin's browser page.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { DOCKER_TIMEOUT_MS, dockerOk } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { E2E_TEST_TIMEOUT_MS, repoRoot, settleAll } from '../support/processes.js';
import { ADMIN_PASSWORD, ADMIN_USER, startTokenBerth, type TokenBerth } from '../support/token-berth.js';
import { requireTools } from '../support/tools.js';

const enabled = requireTools('web UI e2e', ['docker', 'dockerd', 'busybox', 'chromium']);

const READER: [string, string] = ['rita', 'reader-password'];
/** Page expressions (run in the browser, where the root tsconfig has no DOM types). */
const SCROLL_WIDTH = 'document.documentElement.scrollWidth';
const CLIPBOARD_TEXT = 'navigator.clipboard.readText()';
const FONTS_READY = 'document.fonts.ready.then(() => true)';

/** What the forged request reads in the page. */
interface PageGlobals {
  sessionStorage: { getItem(key: string): string | null };
}
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 375, height: 812 };

describe.skipIf(!enabled)(
  'web UI in chromium against Berth with token auth',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let berth: TokenBerth;
    let daemon: DockerDaemon;
    let browser: Browser;
    let images: BuiltImage[] = [];
    let admin: { context: BrowserContext; page: Page; problems: string[] };
    let shots: string;
    let base: string;
    let host: string;
    const digests: Record<string, string> = {};

    const push = async (source: string, ref: string) => {
      await dockerOk(daemon, ['tag', source, `${host}/${ref}`]);
      const result = await dockerOk(daemon, ['push', `${host}/${ref}`]);
      const digest = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(result.stdout)?.[1];
      expect(digest, result.stdout).toBeDefined();
      digests[ref] = digest as string;
    };

    const adminBasic = () => `Basic ${Buffer.from(`${ADMIN_USER}:${ADMIN_PASSWORD}`).toString('base64')}`;

    /** A management API call as the administrator (Basic credentials). */

    const api = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,

        headers: { Authorization: adminBasic(), 'Content-Type': 'application/json' },

        body: JSON.stringify(body),
      });

      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBe(200);
    };

    /** A registry token for `scope` (admin), as docker would get one. */
    const registryToken = async (scope: string): Promise<string> => {
      const query = new URLSearchParams({ service: 'berth', scope });
      const res = await fetch(`${base}/auth/token?${query}`, {
        headers: {
          Authorization: adminBasic(),
        },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { token: string }).token;
    };

    const tagsList = async (name: string): Promise<string[]> => {
      const res = await fetch(`${base}/v2/${name}/tags/list`, {
        headers: { Authorization: `Bearer ${await registryToken(`repository:${name}:pull`)}` },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { tags: string[] }).tags;
    };

    const newPage = async (viewport = DESKTOP) => {
      const context = await browser.newContext({ viewport, colorScheme: 'light', locale: 'en-US' });
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      // A Content-Security-Policy refusal shows up as a console error: the UI must never cause one.
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) {
          problems.push(message.text());
        }
      });
      return { context, page, problems };
    };

    const signIn = async (page: Page, [user, password]: [string, string]) => {
      await page.goto(`${base}/sign-in`);
      await page.getByLabel('Name').fill(user);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
    };

    const screenshot = async (page: Page, name: string) => {
      await page.evaluate(FONTS_READY);
      await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
    };

    beforeAll(async () => {
      shots =
        process.env.UI_SCREENSHOTS === '1'
          ? join(repoRoot, 'docs', 'screenshots')
          : await mkdtemp(join(tmpdir(), 'berth-ui-shots-'));
      await mkdir(shots, { recursive: true });
      await settleAll([
        startTokenBerth().then((b) => (berth = b)),
        startDockerDaemon().then((d) => (daemon = d)),
        launchChromium().then((b) => (browser = b)),
      ]);
      base = berth.registry.url;
      host = berth.registry.host;
      await berth.accounts.addUser(...READER);
      await berth.accounts.addNamespace('team');
      await berth.accounts.addNamespace('tools', { public: true });
      await berth.accounts.grant('team', READER[0], 'read');
      images = await Promise.all([
        buildDockerImage(daemon, 'local/ui-app:1', { smallFiles: 2, randomLayersMiB: [2] }),
        buildDockerImage(daemon, 'local/ui-app:2', { smallFiles: 3, randomLayersMiB: [1] }),
      ]);
      const login = await daemon.docker(['login', '--username', ADMIN_USER, '--password-stdin', host], {
        input: `${ADMIN_PASSWORD}\n`,
        timeoutMs: DOCKER_TIMEOUT_MS,
      });
      expect(login.stdout).toContain('Login Succeeded');
      const [one, two] = images.map((image) => image.tag) as [string, string];
      await push(one, 'team/app:1.0');
      await push(one, 'team/app:1.1');
      await push(two, 'team/app:2.0');
      await push(two, 'team/app:latest');
      await push(two, 'team/web:3.2.1');
      await push(one, 'tools/busybox:1.36');
      // Namespace rules, for the administration page to show (none of them touches the tags used here).
      await api('PUT', '/api/v1/namespaces/team/quota', { limitBytes: 1024 ** 3 });
      await api('PUT', '/api/v1/namespaces/team/immutable-tags', { rules: [{ tags: 'prod-*' }] });
      await api('PUT', '/api/v1/namespaces/team/retention', {
        keepLatest: { count: 10 },
        keepPatterns: ['latest'],
      });
      admin = await newPage();
    });

    afterAll(async () => {
      await Promise.allSettled([
        browser?.close(),
        daemon?.stop(),
        berth?.registry.stop(),
        ...images.map((image) => image.remove()),
      ]);
      if (process.env.UI_SCREENSHOTS !== '1' && shots) await rm(shots, { recursive: true, force: true });
    });

    it('serves the UI at / and its client routes with a strict CSP, leaving /v2 and /api/v1 as they were', async () => {
      for (const path of [
        '/',
        '/repositories/team/app',
        '/repositories/team/app/-/tags/1.0',
        '/admin/users',
      ]) {
        const res = await fetch(`${base}${path}`);
        expect(res.status, path).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
        expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
        expect(await res.text()).toMatch(/<script type="module" crossorigin src="\/assets\/[\w-]+\.js">/);
      }
      const html = await (await fetch(`${base}/`)).text();
      const script = /src="(\/assets\/[\w-]+\.js)"/.exec(html)?.[1] ?? '';
      const asset = await fetch(`${base}${script}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await fetch(`${base}/v2/`)).status).toBe(401);
      expect((await fetch(`${base}/api/v1/info`)).status).toBe(200);
      expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    });

    it('signs in, finds a repository by search and opens a tag with its layers', async () => {
      const { page, problems } = admin;
      await signIn(page, [ADMIN_USER, ADMIN_PASSWORD]);
      await page.getByRole('link', { name: 'team/web' }).waitFor();
      await screenshot(page, 'repositories');

      await page.keyboard.press('/');
      await page.keyboard.type('app');
      await expect.poll(() => page.url()).toContain('q=app');
      // The list follows the search once Berth answers: the other repositories go, team/app stays.
      await page.getByRole('link', { name: 'team/web' }).waitFor({ state: 'detached' });
      await page.getByRole('link', { name: 'tools/busybox' }).waitFor({ state: 'detached' });
      await page.getByRole('link', { name: 'team/app', exact: true }).waitFor();
      await page.getByText('1 repository matching “app”').waitFor();

      await page.getByRole('link', { name: 'team/app', exact: true }).click();
      await page.getByRole('heading', { name: 'team/app' }).waitFor();
      for (const tag of ['1.0', '1.1', '2.0', 'latest']) {
        await page.getByRole('link', { name: tag, exact: true }).waitFor();
      }
      await screenshot(page, 'repository');

      const mark = berth.log.mark();

      await page.getByRole('link', { name: '1.0', exact: true }).click();
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      expect(await page.getByText(digests['team/app:1.0'] as string, { exact: true }).count()).toBe(1);
      // busybox, /data and the 2 MiB layer of random data
      expect(await page.locator('table.layers tbody tr').count()).toBe(3);
      await expect.poll(() => page.locator('table.layers').innerText()).toContain('2 MiB');
      await page.getByRole('heading', { name: 'History' }).waitFor();
      await screenshot(page, 'tag');
      // The page reads the manifest through the management API: looking is not pulling.
      const requests = await berth.requestsSince(mark);
      expect(requests).toContainEqual({
        method: 'GET',
        path: `/api/v1/repositories/team/app/-/manifests/${digests['team/app:1.0']}`,
        status: 200,
      });
      expect(requests.filter((r) => r.path.startsWith('/v2/'))).toEqual([]);
      expect(problems).toEqual([]);
    });

    it("copies the tag's pull command to the clipboard", async () => {
      const { page, context } = admin;
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
      await page.getByRole('button', { name: 'Copy pull command', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
      expect(await page.evaluate(CLIPBOARD_TEXT)).toBe(`docker pull ${host}/team/app:1.0`);
      await page.getByRole('button', { name: 'Copy pull-by-digest command', exact: true }).click();
      expect(await page.evaluate(CLIPBOARD_TEXT)).toBe(
        `docker pull ${host}/team/app@${digests['team/app:1.0']}`,
      );
    });

    it('deletes a tag after a confirmation, and /v2 no longer lists it', async () => {
      const { page, problems } = admin;
      await page.goto(`${base}/repositories/team/app`);
      await page.getByRole('button', { name: 'Delete tag 1.1' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete tag 1.1?' });
      await dialog.getByRole('button', { name: 'Delete tag' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByRole('status').filter({ hasText: 'Deleted tag team/app:1.1' }).waitFor();
      expect(await page.getByRole('link', { name: '1.1', exact: true }).count()).toBe(0);
      expect(await tagsList('team/app')).toEqual(['1.0', '2.0', 'latest']);
      // The same manifest still pulls by its other tag.
      expect((await berth.manifestAs('team/app', '1.0')).digest).toBe(digests['team/app:1.1']);
      expect(problems).toEqual([]);
    });

    it('shows the administration pages to an administrator', async () => {
      const { page, problems } = admin;
      await page.goto(`${base}/admin/namespaces`);
      await page.getByRole('link', { name: 'team', exact: true }).waitFor();
      await page.getByRole('link', { name: 'tools', exact: true }).waitFor();
      await page.getByRole('link', { name: 'team', exact: true }).click();
      await page.getByText('1 GiB', { exact: false }).first().waitFor();
      await page.getByText('prod-*', { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Dry run' }).waitFor();
      await screenshot(page, 'administration');
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByText(READER[0], { exact: true }).waitFor();
      expect(problems).toEqual([]);
    });

    it('lists on the storage page a garbage collection run started through the API', async () => {
      const { page, problems } = admin;
      const res = await fetch(`${base}/api/v1/gc/runs`, {
        method: 'POST',
        headers: { Authorization: adminBasic(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ dryRun: true }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      await page.goto(`${base}/admin/storage`);
      const row = page.locator('tr').filter({ hasText: 'dry run' }).filter({ hasText: 'web UI / API' });
      await row.getByText('succeeded').waitFor();
      await page.getByRole('button', { name: 'Run GC now…' }).waitFor();
      expect(problems).toEqual([]);
    });

    it('is readable at phone width', async () => {
      const { page } = admin;
      await page.setViewportSize(PHONE);
      await page.goto(`${base}/repositories/team/app/-/tags/2.0`);
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      // Nothing wider than the screen: no sideways scrolling of the page.
      expect(await page.evaluate<number>(SCROLL_WIDTH)).toBeLessThanOrEqual(PHONE.width);
      await screenshot(page, 'phone-tag');
      await page.goto(`${base}/repositories/team/app`);
      await page.getByRole('link', { name: '2.0', exact: true }).waitFor();
      expect(await page.evaluate<number>(SCROLL_WIDTH)).toBeLessThanOrEqual(PHONE.width);
      await page.setViewportSize(DESKTOP);
    });

    it('lets anonymous visitors browse public namespaces, and asks them to sign in for the rest', async () => {
      const { context, page, problems } = await newPage();

      try {
        await page.goto(`${base}/`);

        await page.getByRole('link', { name: 'tools/busybox' }).waitFor();

        expect(await page.getByRole('link', { name: 'team/app', exact: true }).count()).toBe(0);

        await page.goto(`${base}/repositories/team/app`);

        await page.getByRole('main').getByRole('link', { name: 'sign in' }).click();

        await page.getByLabel('Name').waitFor();

        expect(new URL(page.url()).searchParams.get('next')).toBe('/repositories/team/app');

        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    });

    it("hides delete from a reader, and Berth refuses the reader's forged DELETE with 403", async () => {
      const { context, page, problems } = await newPage();
      try {
        await signIn(page, READER);
        await page.goto(`${base}/repositories/team/app`);
        await page.getByRole('link', { name: '2.0', exact: true }).waitFor();
        expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
        expect(await page.getByRole('button', { name: /^Retag/ }).count()).toBe(0);

        // The page forges the request with the UI's own credentials: its refresh token, exchanged for
        // an access token with the management scope, as the UI does.
        const path = '/api/v1/repositories/team/app/-/tags/2.0';
        const status = await page.evaluate(async (target) => {
          const { sessionStorage } = globalThis as unknown as PageGlobals;
          const refresh = sessionStorage.getItem('berth.refreshToken') ?? '';
          const answer = await fetch('/auth/token', {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'refresh_token',
              refresh_token: refresh,
              client_id: 'berth-ui',
              service: 'berth',
              scope: 'registry:management:*',
            }),
          });
          const { access_token: token } = (await answer.json()) as { access_token: string };
          const res = await fetch(target, {
            method: 'DELETE',
            headers: { Authorization: `Bearer ${token}` },
          });
          return res.status;
        }, path);
        expect(status).toBe(403);
        expect(await tagsList('team/app')).toContain('2.0');

        // Administration shows the reader only the namespace she administers (her personal one).
        await page.goto(`${base}/admin`);
        await page.getByRole('link', { name: READER[0], exact: true }).waitFor();
        expect(await page.getByRole('link', { name: 'Users' }).count()).toBe(0);
        expect(await page.getByRole('link', { name: 'team', exact: true }).count()).toBe(1);
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    });
  },
);
