// Whether this process can serve: liveness (it answers at all) and readiness (the metadata database
// and the storage backend both answer). Used by /healthz and /readyz, load balancers and orchestrators.
import type { RegistryDeps } from './deps.js';
import { readinessProbeKey } from './layout.js';

export interface Readiness {
  ready: boolean;
  checks: { metadata: 'ok' | 'unavailable'; storage: 'ok' | 'unavailable' };
}

/** Checks that do not answer within this time count as unavailable. */
const CHECK_TIMEOUT_MS = 5_000;

async function answers(check: () => Promise<unknown>): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export function createHealthService({ driver, metadata, log }: RegistryDeps) {
  return {
    async readiness(): Promise<Readiness> {
      const [metadataCheck, storageCheck] = await Promise.all([
        answers(() => metadata.ping()),
        answers(() => driver.stat(readinessProbeKey())),
      ]);
      const ready = metadataCheck === 'ok' && storageCheck === 'ok';
      if (!ready) log.warn({ metadata: metadataCheck, storage: storageCheck }, 'not ready');
      return { ready, checks: { metadata: metadataCheck, storage: storageCheck } };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;
