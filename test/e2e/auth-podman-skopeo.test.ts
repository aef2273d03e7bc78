// podman and skopeo (containers/image) against Berth with token authentication, set up with the `berth`
// CLI: `podman login --authfile`, push and pull by role, denied pushes and pulls, skopeo with --creds
// and with podman's auth files, and anonymous skopeo inspect of a public namespace. Tests run in order
// and share the registry and podman's storage.
//
// Every client gets an explicit auth file (or --no-creds): REGISTRY_AUTH_FILE points at an empty file and
// DOCKER_CONFIG at an empty directory, so no login of one step silently serves another.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBuildContext, type BuildContext } from '../support/images.js';
import { PODMAN_TIMEOUT_MS, createPodmanSandbox, type PodmanSandbox } from '../support/podman.js';
import { E2E_TEST_TIMEOUT_MS, settleAll } from '../support/processes.js';
import { exchangesWith } from '../support/request-log.js';
import { READER, WRITER, addTeamAccounts } from '../support/team-accounts.js';
import { startTokenBerth, type TokenBerth } from '../support/token-berth.js';
import { describeFailure, requireTools, run, type RunResult } from '../support/tools.js';
import { digestOf } from './fixtures/oci-layout.js';

const policy = fileURLToPath(new URL('./fixtures/policy.json', import.meta.url));
const enabled = requireTools('podman/skopeo token-auth e2e', ['podman', 'skopeo', 'busybox']);

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

describe.skipIf(!enabled)(
  'podman and skopeo against Berth with token auth',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let berth: TokenBerth;
    let sandbox: PodmanSandbox;
    let dir: string;
    let context: BuildContext;
    let host: string;
    let localId: string;
    const authFile = { writer: '', reader: '' };
    const pushed: Record<string, string> = {};

    const podmanRaw = (args: string[], input?: string): Promise<RunResult> => sandbox.podman(args, { input });
    const podman = (...args: string[]): Promise<RunResult> => sandbox.podmanOk(...args);
    const skopeoRaw = (...args: string[]): Promise<RunResult> =>
      run('skopeo', ['--policy', policy, '--tmpdir', join(dir, 'tmp'), ...args], {
        env: sandbox.env,
        timeoutMs: PODMAN_TIMEOUT_MS,
      });
    const skopeo = async (...args: string[]): Promise<RunResult> => {
      const result = await skopeoRaw(...args);
      if (result.code !== 0) throw new Error(describeFailure('skopeo', args, result));
      return result;
    };
    const podmanLogin = ([user, password]: [string, string], file: string): Promise<RunResult> =>
      podmanRaw(
        ['login', '--tls-verify=false', '--authfile', file, '--username', user, '--password-stdin', host],
        `${password}\n`,
      );
    const readAuthFile = async (file: string): Promise<AuthFile> =>
      JSON.parse(await readFile(file, 'utf8')) as AuthFile;
    const inspectDigest = async (...args: string[]): Promise<string> =>
      (JSON.parse((await skopeo('inspect', '--tls-verify=false', ...args)).stdout) as { Digest: string })
        .Digest;
    const tls = ['--tls-verify=false', '--signature-policy', policy];

    beforeAll(async () => {
      await settleAll([
        startTokenBerth().then((b) => (berth = b)),
        writeBuildContext().then((c) => (context = c)),
        createPodmanSandbox('/tmp/pa-').then((p) => (sandbox = p)),
      ]);
      dir = sandbox.dir;
      authFile.writer = join(dir, 'writer-auth.json');
      authFile.reader = join(dir, 'reader-auth.json');
      host = berth.registry.host;
      await addTeamAccounts(berth.accounts, [WRITER, READER]);
      await podman('build', '--quiet', '--signature-policy', policy, '--tag', 'local/auth:v1', context.dir);
      localId = (await podman('image', 'inspect', '--format', '{{.Id}}', 'local/auth:v1')).stdout.trim();
    });

    afterAll(async () => {
      await Promise.allSettled([sandbox?.remove(), berth?.registry.stop(), context?.remove()]);
    });

    describe('podman', () => {
      it('refuses `podman login` with a wrong password and writes no auth file entry', async () => {
        const file = join(dir, 'wrong-auth.json');
        const result = await podmanLogin([WRITER[0], 'not-the-password'], file);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain(`logging into "${host}": invalid username/password`);
        const written = await readAuthFile(file).catch(() => ({}) as AuthFile);
        expect(written.auths?.[host]).toBeUndefined();
      });

      it('logs in with --authfile and stores the credentials there', async () => {
        for (const [credentials, file] of [
          [WRITER, authFile.writer],
          [READER, authFile.reader],
        ] as const) {
          const result = await podmanLogin(credentials, file);
          expect(result.code, describeFailure('podman', ['login'], result)).toBe(0);
          expect(result.stdout).toContain('Login Succeeded!');
          const entry = (await readAuthFile(file)).auths?.[host];
          expect(Buffer.from(entry?.auth ?? '', 'base64').toString()).toBe(credentials.join(':'));
        }
        expect(await readFile(sandbox.authFile, 'utf8')).toBe('{}\n');
      });

      it('pushes with the write role', async () => {
        const digestFile = join(dir, 'digest');
        const ref = `docker://${host}/team/podman:v1`;
        await podman(
          'push',
          ...tls,
          '--authfile',
          authFile.writer,
          '--digestfile',
          digestFile,
          'local/auth:v1',
          ref,
        );
        pushed.podman = (await readFile(digestFile, 'utf8')).trim();
        expect(pushed.podman).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect((await berth.manifestAs('team/podman', 'v1')).digest).toBe(pushed.podman);
      });

      it('denies a push with the read role', async () => {
        const ref = `docker://${host}/team/podman:by-reader`;
        const result = await podmanRaw(['push', ...tls, '--authfile', authFile.reader, 'local/auth:v1', ref]);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain('denied: requested access to the resource is denied');
        expect((await berth.manifestAs('team/podman', 'by-reader')).status).toBe(404);
      });

      it('pulls with the read role into empty storage: same digest and image ID', async () => {
        await podman('rmi', '--all', '--force');
        const ref = `${host}/team/podman:v1`;
        await podman('pull', ...tls, '--authfile', authFile.reader, ref);
        const inspect = await podman('image', 'inspect', '--format', '{{.Digest}} {{.Id}}', ref);
        expect(inspect.stdout.trim()).toBe(`${pushed.podman} ${localId}`);
      });

      it('refuses a pull of the private namespace without credentials', async () => {
        const result = await podmanRaw(['pull', ...tls, `${host}/team/podman:v1`]);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/denied: requested access|unauthorized: authentication required/);
      });
    });

    describe('skopeo', () => {
      it('copies with --src-creds/--dest-creds and inspects with --creds', async () => {
        const out = join(dir, 'image-dir');
        await skopeo(
          'copy',
          '--src-tls-verify=false',
          '--src-creds',
          READER.join(':'),
          `docker://${host}/team/podman:v1`,
          `dir:${out}`,
        );
        expect(digestOf(await readFile(join(out, 'manifest.json')))).toBe(pushed.podman);

        const mark = berth.log.mark();
        await skopeo(
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          WRITER.join(':'),
          `dir:${out}`,
          `docker://${host}/pub/skopeo:v1`,
        );
        // containers/image uses the GET form with Basic credentials, never the OAuth2 POST.
        const tokenRequests = exchangesWith(await berth.requestsSince(mark), '/auth/token');
        expect(tokenRequests.length).toBeGreaterThan(0);
        expect(new Set(tokenRequests)).toEqual(new Set(['GET /auth/token 200']));
        expect((await berth.manifestAs('pub/skopeo', 'v1')).digest).toBe(pushed.podman);
        expect(await inspectDigest('--creds', WRITER.join(':'), `docker://${host}/pub/skopeo:v1`)).toBe(
          pushed.podman,
        );
      });

      it('uses the auth files written by `podman login`', async () => {
        expect(await inspectDigest('--authfile', authFile.reader, `docker://${host}/team/podman:v1`)).toBe(
          pushed.podman,
        );
        const tlsOff = ['--src-tls-verify=false', '--dest-tls-verify=false'];
        await skopeo(
          'copy',
          ...tlsOff,
          '--authfile',
          authFile.writer,
          `docker://${host}/team/podman:v1`,
          `docker://${host}/team/skopeo:v1`,
        );
        expect((await berth.manifestAs('team/skopeo', 'v1')).digest).toBe(pushed.podman);
      });

      it('fails a push with the read role with "denied"', async () => {
        const result = await skopeoRaw(
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          READER.join(':'),
          `dir:${join(dir, 'image-dir')}`,
          `docker://${host}/team/skopeo:by-reader`,
        );
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/denied|unauthorized/);
        expect(result.stderr).toContain('requested access to the resource is denied');
        expect((await berth.manifestAs('team/skopeo', 'by-reader')).status).toBe(404);
      });

      it('inspects an image of a public namespace anonymously, and not one of a private namespace', async () => {
        expect(await inspectDigest('--no-creds', `docker://${host}/pub/skopeo:v1`)).toBe(pushed.podman);
        const result = await skopeoRaw(
          'inspect',
          '--tls-verify=false',
          '--no-creds',
          `docker://${host}/team/skopeo:v1`,
        );
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/unauthorized: authentication required/);
      });
    });
  },
);
