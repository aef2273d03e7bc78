// Which registry a conformance file talks to: Berth in-process (default), or any registry at REGISTRY_URL.
// Berth is imported lazily so the suite can run against an external registry without loading src/.
import { afterAll, beforeAll } from 'vitest';
import type * as BerthSupport from '../../../support/berth.js';
import { Client, type Login } from './client.js';

export type BerthOverrides = Parameters<typeof BerthSupport.startBerth>[0];

/** The external registry under test, when set (e.g. http://127.0.0.1:5001). */
export const EXTERNAL_URL = process.env.REGISTRY_URL?.replace(/\/+$/, '') || undefined;

/** Credentials for REGISTRY_URL, when it challenges (REGISTRY_USERNAME and REGISTRY_PASSWORD). */
const EXTERNAL_LOGIN: Login | undefined =
  process.env.REGISTRY_USERNAME && process.env.REGISTRY_PASSWORD
    ? { username: process.env.REGISTRY_USERNAME, password: process.env.REGISTRY_PASSWORD }
    : undefined;

export interface Target {
  /** Valid inside tests (after beforeAll). */
  client: Client;
  url: string;
  /** Whether this is Berth started for the file (so Berth's own choices among what the spec allows hold). */
  berth: boolean;
}

/**
 * Registers beforeAll/afterAll hooks that start (and stop) one Berth for the calling test file (or
 * describe block), or point at REGISTRY_URL. `externalUrl` replaces REGISTRY_URL for this call: a URL,
 * or null to start Berth. `adminPassword` (with `auth.mode: token` in the overrides) makes the client
 * log in as Berth's administrator.
 */
export function useRegistry(
  overrides?: BerthOverrides,
  externalUrl: string | null = EXTERNAL_URL ?? null,
  adminPassword?: string,
): Target {
  const target = { client: new Client('http://invalid.localhost'), url: '', berth: !externalUrl };
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    let login = EXTERNAL_LOGIN;
    if (externalUrl) {
      target.url = externalUrl;
    } else {
      const { startBerth } = await import('../../../support/berth.js');
      const berth = await startBerth(overrides, { adminPassword });
      stop = () => berth.stop();
      target.url = berth.url;
      login = adminPassword ? { username: 'admin', password: adminPassword } : undefined;
    }
    target.client = new Client(target.url, login);
  });
  afterAll(async () => {
    await stop?.();
  });
  return target;
}
