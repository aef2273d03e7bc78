// The token signing key generated on first start: processes starting together on one data directory
// (replicas on a shared disk) end up with one key, whole, and no temporary files.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/auth/signing-key.js';
import { repoRoot } from '../support/processes.js';

/** Runs loadSigningKey(path, true) in a separate Node process; resolves with the key id it loaded. */
function keyIdFromAnotherProcess(path: string): Promise<string> {
  const script = `
    import { loadSigningKey } from ${JSON.stringify(join(repoRoot, 'src/auth/signing-key.ts'))};
    process.stdout.write(loadSigningKey(process.argv[1], true).keyId);
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, path], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`exit ${code}: ${err}`));
    });
  });
}

describe('generated token signing key', () => {
  it('is one whole key when several processes create it at the same moment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-key-'));
    try {
      const path = join(dir, 'auth', 'token-signing-key.pem');
      const ids = await Promise.all(Array.from({ length: 6 }, () => keyIdFromAnotherProcess(path)));
      expect(new Set(ids).size).toBe(1);
      expect(loadSigningKey(path, false).keyId).toBe(ids[0]);
      expect(await readdir(join(dir, 'auth'))).toEqual(['token-signing-key.pem']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
