// Namespace policies as a docker user meets them, with the real Docker client and engine against an
// in-process Berth, rules set over the management API (/api/v1, auth mode none): a push over quota and
// a re-push of an immutable tag are refused with the messages docker prints, content the namespace
// already holds still goes through at a full quota, and a retention dry run lists exactly what the
// real run then deletes (seen in /v2/<name>/tags/list). Tests run in order and share the registry and
// the daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetentionReport } from '../../src/policies/retention.js';
import { dockerOk } from '../support/docker-client.js';
import { startDockerDaemon, type DockerDaemon } from '../support/docker-daemon.js';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { send } from '../support/fuzz.js';
import { buildDockerImage, type BuiltImage } from '../support/images.js';
import { E2E_TEST_TIMEOUT_MS, settleAll } from '../support/processes.js';
import { requireTools, type RunResult } from '../support/tools.js';

const enabled = requireTools('docker namespace-policies e2e', ['docker', 'dockerd', 'busybox']);

describe.skipIf(!enabled)(
  'docker against Berth with namespace policies',
  { timeout: E2E_TEST_TIMEOUT_MS },
  () => {
    let berth: RunningBerth;
    let daemon: DockerDaemon;
    const images: BuiltImage[] = [];

    const docker = (...args: string[]): Promise<RunResult> => dockerOk(daemon, args);
    /** Tags `source` as `ref` and pushes it; resolves with docker's output whatever its exit code. */
    const push = async (source: string, ref: string): Promise<RunResult> => {
      await docker('tag', source, ref);
      return daemon.docker(['push', ref], { timeoutMs: 180_000 });
    };
    const pushOk = async (source: string, ref: string): Promise<string> => {
      const result = await push(source, ref);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      const digest = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(result.stdout)?.[1];
      expect(digest, result.stdout).toBeDefined();
      return digest as string;
    };
    /** A management API call; fails unless it answers `status`. */
    const api = async (method: string, path: string, body?: unknown, status = 200): Promise<unknown> => {
      const res = await fetch(`${berth.url}/api/v1${path}`, {
        method,
        headers: body === undefined && method !== 'POST' ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      expect(res.status, `${method} ${path}: ${text}`).toBe(status);
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    };
    const usedBytes = async () =>
      ((await api('GET', '/namespaces/team/quota')) as { usedBytes: number }).usedBytes;
    const tagsOf = async (repository: string): Promise<string[]> => {
      const res = await send(berth.url, 'GET', `/v2/${repository}/tags/list`);
      expect(res.status).toBe(200);
      return (JSON.parse(res.text) as { tags: string[] }).tags;
    };

    beforeAll(async () => {
      await settleAll([
        startBerth({ retention: { interval: '0s' } }).then((b) => (berth = b)),
        startDockerDaemon().then((d) => (daemon = d)),
      ]);
      images.push(await buildDockerImage(daemon, 'local/big:v1', { randomLayersMiB: [2] }));
      for (const name of ['one', 'two', 'three', 'four']) {
        images.push(await buildDockerImage(daemon, `local/${name}:v1`, { smallFiles: 1 }));
      }
    });

    afterAll(async () => {
      await Promise.allSettled([daemon?.stop(), berth?.stop(), ...images.map((image) => image.remove())]);
    });

    it('refuses a push over the quota with "denied: quota exceeded" as docker prints it', async () => {
      await api('PUT', '/namespaces/team/quota', { limitBytes: 1_000_000 });
      const result = await push('local/big:v1', `${berth.host}/team/app:v1`);
      expect(result.code, result.stdout).not.toBe(0);
      expect(result.stderr).toMatch(
        /denied: quota exceeded: namespace "team" would use [\d.]+ [kMG]?B of its 1 MB quota/,
      );
      expect(await usedBytes()).toBeLessThanOrEqual(1_000_000);
    });

    it('pushes once the quota is raised, and content the namespace holds passes at a full quota', async () => {
      await api('PUT', '/namespaces/team/quota', { limitBytes: 100_000_000 });
      await pushOk('local/big:v1', `${berth.host}/team/app:v1`);
      const used = await usedBytes();
      expect(used).toBeGreaterThan(2 * 1024 * 1024);
      // Full to the byte: the same image in another repository of the namespace adds nothing.
      await api('PUT', '/namespaces/team/quota', { limitBytes: used });
      const again = await push('local/big:v1', `${berth.host}/team/copy:v1`);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/Mounted from team\/app|Layer already exists/);
      expect(await usedBytes()).toBe(used);
      await api('DELETE', '/namespaces/team/quota', undefined, 204);
    });

    it('refuses re-pushing an immutable tag with other content, with the message docker prints', async () => {
      await api('PUT', '/namespaces/team/immutable-tags', { rules: [{ tags: 'v*' }] });
      // The same image again changes nothing: allowed.
      await pushOk('local/big:v1', `${berth.host}/team/app:v1`);
      const result = await push('local/one:v1', `${berth.host}/team/app:v1`);
      expect(result.code, result.stdout).not.toBe(0);
      expect(result.stderr).toContain(
        'denied: tag team/app:v1 is immutable (rule "v*" of namespace "team"): push a new tag instead',
      );
      // A new tag is a first push.
      await pushOk('local/one:v1', `${berth.host}/team/app:v2`);
      expect(await tagsOf('team/app')).toEqual(['v1', 'v2']);
      await api('PUT', '/namespaces/team/immutable-tags', { rules: [] });
    });

    it('deletes in a real retention run exactly what the dry run listed', async () => {
      const digests: string[] = [];
      for (const [i, name] of ['one', 'two', 'three', 'four'].entries()) {
        digests.push(await pushOk(`local/${name}:v1`, `${berth.host}/team/cleanup:r${i + 1}`));
      }
      await api('PUT', '/repositories/team/cleanup/-/retention', {
        keepLatest: { count: 2, by: 'pushed' },
        untaggedAfter: '1s',
      });
      await new Promise((resolve) => setTimeout(resolve, 1_100));

      const dry = (await api('POST', '/namespaces/team/retention/run?dryRun=true')) as RetentionReport;
      expect(dry.repositories.map((r) => [r.repository, r.tags.map((t) => t.tag)])).toEqual([
        ['team/cleanup', ['r1', 'r2']],
      ]);
      expect(dry.repositories[0]?.manifests.map((m) => m.digest)).toEqual([digests[0], digests[1]].sort());
      expect(await tagsOf('team/cleanup')).toEqual(['r1', 'r2', 'r3', 'r4']);

      const real = (await api('POST', '/namespaces/team/retention/run?dryRun=false')) as RetentionReport;
      expect(real.repositories).toEqual(dry.repositories);
      expect(await tagsOf('team/cleanup')).toEqual(['r3', 'r4']);
      const gone = await daemon.docker(['pull', `${berth.host}/team/cleanup@${digests[0]}`], {
        timeoutMs: 60_000,
      });
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toMatch(/manifest unknown|not found/i);
      await docker('pull', `${berth.host}/team/cleanup:r4`);
    });
  },
);
