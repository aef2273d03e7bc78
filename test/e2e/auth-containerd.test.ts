// containerd's resolver (`ctr`, against a containerd of our own) and Berth with token authentication:
// containerd asks for tokens with the OAuth2 POST form (grant_type=password) whenever it has a secret,
// falls back to GET on 401, and uses GET for anonymous requests. Berth's request log (stdout) shows which
// form arrived. Tests run in order and share the registry and the containerd; each pull goes to a fresh
// containerd namespace with isolated content, so every blob really comes from the registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { E2E_TEST_TIMEOUT_MS, settleAll } from '../support/processes.js';
import { exchangesWith, format } from '../support/request-log.js';
import { OUTSIDER, READER, WRITER, addTeamAccounts } from '../support/team-accounts.js';
import { expectPushDenied, startTokenBerth, type TokenBerth } from '../support/token-berth.js';
import { describeFailure, requireTools, runOk, type RunResult } from '../support/tools.js';
import { digestOf, writeOciLayout, type Layout } from './fixtures/oci-layout.js';

const enabled = requireTools('containerd token-auth e2e', ['containerd', 'ctr']);

describe.skipIf(!enabled)(
  'ctr (containerd) against Berth with token auth',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let berth: TokenBerth;
    let containerd: Containerd;
    let work: string;
    let layout: Layout;
    let host: string;

    const ctrRaw = (namespace: string, args: string[]): Promise<RunResult> =>
      containerd.ctr(args, { namespace, timeoutMs: 120_000 });
    const ctr = async (namespace: string, ...args: string[]): Promise<RunResult> => {
      const result = await ctrRaw(namespace, args);
      if (result.code !== 0) throw new Error(describeFailure('ctr', args, result));
      return result;
    };
    const user = (credentials?: [string, string]): string[] =>
      credentials ? ['--user', credentials.join(':')] : [];
    const pull = (namespace: string, ref: string, credentials?: [string, string]): Promise<RunResult> =>
      ctrRaw(namespace, [
        'images',
        'pull',
        '--plain-http',
        '--snapshotter',
        'native',
        ...user(credentials),
        ref,
      ]);
    const push = (namespace: string, ref: string, credentials?: [string, string]): Promise<RunResult> =>
      ctrRaw(namespace, ['images', 'push', '--plain-http', ...user(credentials), ref]);
    /** The digest `ctr images ls` shows for `ref`. */
    const storedDigest = async (namespace: string, ref: string): Promise<string | undefined> => {
      const lines = (await ctr(namespace, 'images', 'ls')).stdout.split('\n');
      return lines.find((line) => line.startsWith(`${ref} `))?.split(/\s+/)[2];
    };
    const image = () => {
      const only = layout.images[0];
      if (!only) throw new Error('the layout has no image');
      return only;
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-ctr-'));
      await settleAll([
        startTokenBerth().then((b) => (berth = b)),
        startContainerd().then((c) => (containerd = c)),
        writeOciLayout(join(work, 'layout'), 'v1', [{ os: 'linux', architecture: 'amd64' }]).then(
          (l) => (layout = l),
        ),
      ]);
      host = berth.registry.host;
      await addTeamAccounts(berth.accounts, [WRITER, READER, OUTSIDER]);

      const archive = join(work, 'layout.tar');
      await runOk('tar', ['-C', layout.dir, '-cf', archive, '.']);
      await ctr('local', 'images', 'import', '--no-unpack', '--base-name', `${host}/team/ctr`, archive);
      expect(await storedDigest('local', `${host}/team/ctr:v1`)).toBe(layout.topDigest);
    });

    afterAll(async () => {
      await Promise.allSettled([containerd?.stop(), berth?.registry.stop()]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('pushes with the write role, getting its token from the OAuth2 POST (grant_type=password)', async () => {
      const mark = berth.log.mark();
      const result = await push('local', `${host}/team/ctr:v1`, WRITER);
      expect(result.code, describeFailure('ctr', ['images', 'push'], result)).toBe(0);
      const requests = await berth.requestsSince(mark);
      const tokenRequests = exchangesWith(requests, '/auth/token');
      expect(tokenRequests.length, format(requests)).toBeGreaterThan(0);
      expect(new Set(tokenRequests), format(requests)).toEqual(new Set(['POST /auth/token 200']));
      expect(requests).toContainEqual({ method: 'PUT', path: '/v2/team/ctr/manifests/v1', status: 201 });
      const served = await berth.manifestAs('team/ctr', 'v1');
      expect(served.digest).toBe(layout.topDigest);
      expect(served.body.equals(image().manifest)).toBe(true);

      await ctr('local', 'images', 'tag', `${host}/team/ctr:v1`, `${host}/pub/ctr:v1`);
      const pub = await push('local', `${host}/pub/ctr:v1`, WRITER);
      expect(pub.code, describeFailure('ctr', ['images', 'push'], pub)).toBe(0);
      expect((await berth.manifestAs('pub/ctr', 'v1')).digest).toBe(layout.topDigest);
    });

    it('pulls with the read role into an empty namespace: same digest, every blob from the registry', async () => {
      const ref = `${host}/team/ctr:v1`;
      const mark = berth.log.mark();
      const result = await pull('reader', ref, READER);
      expect(result.code, describeFailure('ctr', ['images', 'pull'], result)).toBe(0);
      const requests = await berth.requestsSince(mark);
      expect(new Set(exchangesWith(requests, '/auth/token')), format(requests)).toEqual(
        new Set(['POST /auth/token 200']),
      );
      expect(requests).toContainEqual({
        method: 'GET',
        path: `/v2/team/ctr/blobs/${image().layerDigest}`,
        status: 200,
      });

      expect(await storedDigest('reader', ref)).toBe(layout.topDigest);
      const raw = await containerd.content(image().layerDigest, 'reader');
      expect(digestOf(raw)).toBe(image().layerDigest);
      expect(gunzipSync(raw).includes(image().file.content)).toBe(true);
    });

    it('fails with a wrong password: 401 on the POST, then on the GET containerd falls back to', async () => {
      const mark = berth.log.mark();
      const result = await pull('wrong-password', `${host}/team/ctr:v1`, [WRITER[0], 'not-the-password']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('failed to fetch oauth token: unexpected status: 401 Unauthorized');
      expect(exchangesWith(await berth.requestsSince(mark), '/auth/token')).toEqual([
        'POST /auth/token 401',
        'GET /auth/token 401',
      ]);
    });

    it('denies a push with the read role (403 on the manifest)', async () => {
      const ref = `${host}/team/ctr:by-reader`;
      await ctr('local', 'images', 'tag', `${host}/team/ctr:v1`, ref);
      const mark = berth.log.mark();
      const result = await push('local', ref, READER);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('unexpected status: 403 Forbidden');
      await expectPushDenied(berth, mark, 'team/ctr', 'by-reader');
    });

    it('denies a pull to an account without a role (token issued, then 403)', async () => {
      const mark = berth.log.mark();
      const result = await pull('outsider', `${host}/team/ctr:v1`, OUTSIDER);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('403 Forbidden');
      const requests = await berth.requestsSince(mark);
      expect(exchangesWith(requests, '/auth/token')).toEqual(['POST /auth/token 200']);
      expect(requests).toContainEqual({ method: 'HEAD', path: '/v2/team/ctr/manifests/v1', status: 403 });
      expect(await storedDigest('outsider', `${host}/team/ctr:v1`)).toBeUndefined();
    });

    it('pulls anonymously from a public namespace with the GET form, and not from a private one', async () => {
      const mark = berth.log.mark();
      const result = await pull('anonymous', `${host}/pub/ctr:v1`);
      expect(result.code, describeFailure('ctr', ['images', 'pull'], result)).toBe(0);
      expect(await storedDigest('anonymous', `${host}/pub/ctr:v1`)).toBe(layout.topDigest);
      expect(new Set(exchangesWith(await berth.requestsSince(mark), '/auth/token'))).toEqual(
        new Set(['GET /auth/token 200']),
      );

      const denied = await pull('anonymous', `${host}/team/ctr:v1`);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(
        /pull access denied, repository does not exist or may require authorization/,
      );
    });
  },
);
