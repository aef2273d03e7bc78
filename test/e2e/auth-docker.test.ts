// The real Docker client and engine against Berth with token authentication (Docker token spec), set up
// with the `berth` CLI: login and logout, roles (write pushes, read pulls, no role is denied), public
// namespaces for anonymous pulls, robot accounts, and the refresh-token POST that docker sends once
// `docker login` has stored an identity token. Tests run in order and share the daemon, the registry and
// the client's config.json (DOCKER_CONFIG is private to this suite).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCKER_TIMEOUT_MS,
  dockerOk,
  localImageId,
  removeAllImages,
  runBusybox,
} from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { E2E_TEST_TIMEOUT_MS, settleAll } from '../support/processes.js';
import { exchangesWith, format } from '../support/request-log.js';
import { OUTSIDER, READER, WRITER, addTeamAccounts } from '../support/team-accounts.js';
import { expectPushDenied, startTokenBerth, type TokenBerth } from '../support/token-berth.js';
import { describeFailure, requireTools, type RunResult } from '../support/tools.js';

const enabled = requireTools('docker token-auth e2e', ['docker', 'dockerd', 'busybox']);

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

describe.skipIf(!enabled)('docker against Berth with token auth', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  let berth: TokenBerth;
  let daemon: DockerDaemon;
  let image: BuiltImage;
  let imageId: string;
  let host: string;
  let robotSecret: string;
  const pushed: Record<string, string> = {};

  const dockerRaw = (args: string[], input?: string): Promise<RunResult> =>
    daemon.docker(args, { timeoutMs: DOCKER_TIMEOUT_MS, input });
  const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);
  const login = ([user, password]: [string, string]): Promise<RunResult> =>
    dockerRaw(['login', '--username', user, '--password-stdin', host], `${password}\n`);
  const loginOk = async (credentials: [string, string]): Promise<void> => {
    const result = await login(credentials);
    if (result.code !== 0) throw new Error(describeFailure('docker', ['login', credentials[0]], result));
    expect(result.stdout).toContain('Login Succeeded');
  };
  const configFile = async (): Promise<DockerConfigFile> =>
    JSON.parse(await readFile(join(daemon.env.DOCKER_CONFIG, 'config.json'), 'utf8')) as DockerConfigFile;
  const push = async (ref: string, source = image.tag): Promise<string> => {
    await docker('tag', source, ref);
    const result = await docker('push', ref);
    const digest = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(result.stdout)?.[1];
    expect(digest, result.stdout).toBeDefined();
    return digest as string;
  };

  beforeAll(async () => {
    await settleAll([
      startTokenBerth().then((b) => (berth = b)),
      startDockerDaemon().then((d) => (daemon = d)),
    ]);
    host = berth.registry.host;
    await addTeamAccounts(berth.accounts, [WRITER, READER, OUTSIDER]);
    robotSecret = await berth.accounts.addRobot('ci', { team: 'write' });
    image = await buildDockerImage(daemon, 'local/auth:v1');
    imageId = await localImageId(daemon, image.tag);
  });

  afterAll(async () => {
    await Promise.allSettled([daemon?.stop(), berth?.registry.stop(), image?.remove()]);
  });

  it('refuses `docker login` with a wrong password and writes no credentials', async () => {
    const mark = berth.log.mark();
    const result = await login([WRITER[0], 'not-the-password']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Error response from daemon: .*unauthorized: invalid username or password/);
    expect((await configFile()).auths?.[host]).toBeUndefined();
    expect(exchangesWith(await berth.requestsSince(mark), '/auth/token')).toEqual(['GET /auth/token 401']);
    // Berth records the failure for the operator, without the secret.
    const events = await berth.eventsSince(mark);
    expect(events).toContainEqual(expect.objectContaining({ event: 'login failed', account: 'writer' }));
    expect(JSON.stringify(events)).not.toContain('not-the-password');
  });

  it('logs in with --password-stdin and stores an identity token instead of the password', async () => {
    const mark = berth.log.mark();
    await loginOk(WRITER);
    const entry = (await configFile()).auths?.[host];
    expect(entry).toBeDefined();
    // docker asks GET /auth/token?offline_token=true; Berth's refresh_token becomes the identity token.
    expect(entry?.identitytoken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(Buffer.from(entry?.auth ?? '', 'base64').toString()).toBe('writer:');
    expect(exchangesWith(await berth.requestsSince(mark), '/auth/token')).toEqual(['GET /auth/token 200']);
  });

  it('pushes with the write role, trading the identity token in a POST /auth/token', async () => {
    const mark = berth.log.mark();
    pushed.team = await push(`${host}/team/app:v1`);
    const requests = await berth.requestsSince(mark);
    // Only the refresh token is stored, so the grant can only be grant_type=refresh_token.
    expect(exchangesWith(requests, '/auth/token'), format(requests)).toEqual(['POST /auth/token 200']);
    expect(requests).toContainEqual({ method: 'PUT', path: '/v2/team/app/manifests/v1', status: 201 });
    expect((await berth.manifestAs('team/app', 'v1')).digest).toBe(pushed.team);

    pushed.pub = await push(`${host}/pub/app:v1`);
    expect((await berth.manifestAs('pub/app', 'v1')).digest).toBe(pushed.pub);
  });

  it('denies a push with the read role: "denied: requested access to the resource is denied"', async () => {
    await loginOk(READER);
    const ref = `${host}/team/app:by-reader`;
    await docker('tag', image.tag, ref);
    const mark = berth.log.mark();
    const result = await dockerRaw(['push', ref]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('denied: requested access to the resource is denied');
    await expectPushDenied(berth, mark, 'team/app', 'by-reader');
  });

  it('pulls with the read role into an empty engine: same digest, image ID and file contents', async () => {
    await removeAllImages(daemon);
    const ref = `${host}/team/app:v1`;
    const pull = await docker('pull', ref);
    expect(pull.stdout).toContain(`Digest: ${pushed.team}`);
    expect(await localImageId(daemon, ref)).toBe(imageId);
    const sum = await runBusybox(daemon, ref, 'sha256sum', '/data/id');
    expect(sum.split(/\s+/)[0]).toBe(image.files['/data/id']);
  });

  it('denies a pull to an account without a role in the namespace ("pull access denied")', async () => {
    await loginOk(OUTSIDER);
    await removeAllImages(daemon);
    const mark = berth.log.mark();
    const result = await dockerRaw(['pull', `${host}/team/app:v1`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/pull access denied for .*team\/app.*: denied: requested access/);
    const requests = await berth.requestsSince(mark);
    // An authenticated account without the role gets 403 DENIED, not another challenge.
    expect(requests.filter((r) => r.path === '/v2/team/app/manifests/v1').map((r) => r.status)).toContain(
      403,
    );
    expect(requests.filter((r) => r.path.startsWith('/v2/team/app/blobs/'))).toEqual([]);
  });

  it('`docker logout` removes the entry from config.json', async () => {
    const result = await docker('logout', host);
    expect(result.stdout).toContain(`Removing login credentials for ${host}`);
    expect((await configFile()).auths?.[host]).toBeUndefined();
  });

  it('pulls anonymously from a public namespace', async () => {
    const ref = `${host}/pub/app:v1`;
    const mark = berth.log.mark();
    const pull = await docker('pull', ref);
    expect(pull.stdout).toContain(`Digest: ${pushed.pub}`);
    expect(await localImageId(daemon, ref)).toBe(imageId);
    expect(exchangesWith(await berth.requestsSince(mark), '/auth/token')).toEqual(['GET /auth/token 200']);
  });

  it('refuses an anonymous pull of a private repository with a challenge (401), which docker reports as denied', async () => {
    const mark = berth.log.mark();
    const result = await dockerRaw(['pull', `${host}/team/app:v1`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/pull access denied for .*team\/app/);
    const statuses = (await berth.requestsSince(mark))
      .filter((r) => r.path === '/v2/team/app/manifests/v1')
      .map((r) => r.status);
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([401]));
  });

  it('logs in as robot+ci with its secret and pushes where it was granted write', async () => {
    await loginOk(['robot+ci', robotSecret]);
    expect((await configFile()).auths?.[host]?.identitytoken).toBeTruthy();
    // The engine holds the image only as pulled from pub/app by now (same image ID as the build).
    const digest = await push(`${host}/team/robot:v1`, `${host}/pub/app:v1`);
    expect((await berth.manifestAs('team/robot', 'v1')).digest).toBe(digest);
    expect(digest).toBe(pushed.team);
  });

  it('`docker search` lists the repositories the caller may pull, and only the public ones to others', async () => {
    await loginOk(READER);
    const mark = berth.log.mark();
    const reader = await docker('search', '--no-trunc', `${host}/app`);
    expect(reader.stdout).toMatch(/^NAME\s+DESCRIPTION/);
    expect(reader.stdout).toContain('team/app');
    expect(reader.stdout).toContain('pub/app');
    expect(reader.stdout).not.toContain('team/robot');
    const requests = await berth.requestsSince(mark);
    expect(requests).toContainEqual({ method: 'GET', path: '/v1/search', status: 200 });

    await loginOk(OUTSIDER);
    const outsider = await docker('search', `${host}/app`);
    expect(outsider.stdout).toContain('pub/app');
    expect(outsider.stdout).not.toContain('team/app');

    await docker('logout', host);
    const anonymous = await docker('search', `${host}/app`);
    expect(anonymous.stdout).toContain('pub/app');
    expect(anonymous.stdout).not.toContain('team/app');
  });
});
