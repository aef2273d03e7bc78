// Which registry a conformance file talks to: Berth in-process (default), or any registry at REGISTRY_URL.
// Berth is imported lazily so the suite can run against an external registry without loading src/.
import { afterAll, beforeAll } from 'vitest';
import type * as BerthSupport from '../../../support/berth.js';
import { Client } from './client.js';

export type BerthOverrides = Parameters<typeof BerthSupport.startBerth>[0];

/** The external registry under test, when set (e.g. http://127.0.0.1:5001). */
export const EXTERNAL_URL = process.env.REGISTRY_URL?.replace(/\/+$/, '') || undefined;

export interface Target {
  /** Valid inside tests (after beforeAll). */
  client: Client;
  url: string;
}

/**
 * Registers beforeAll/afterAll hooks that start (and stop) one Berth for the calling test file, or
 * point at REGISTRY_URL. `externalUrl` replaces REGISTRY_URL for this call: a URL, or null to start Berth.
 */
export function useRegistry(
  overrides?: BerthOverrides,
  externalUrl: string | null = EXTERNAL_URL ?? null,
): Target {
  const target = { client: new Client('http://invalid.localhost'), url: '' };
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (externalUrl) {
      target.url = externalUrl;
    } else {
      const { startBerth } = await import('../../../support/berth.js');
      const berth = await startBerth(overrides);
      stop = () => berth.stop();
      target.url = berth.url;
    }
    target.client = new Client(target.url);
  });
  afterAll(async () => {
    await stop?.();
  });
  return target;
}
