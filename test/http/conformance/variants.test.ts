// The cases the official suites found that this port first missed (support/suite-cases.ts), on the
// Berth configurations the workflow files do not start: memory storage, and token auth with the client
// logged in as the suite logs in (a challenge, then a token from the realm for the scope it names).
// The workflow files run them on filesystem storage; S3 runs the whole port in test/e2e.
import { describe, expect, it } from 'vitest';
import { EXTERNAL_URL, useRegistry } from './support/registry.js';
import { anonymousMountCases, chunkedUploadCases, invalidReferenceCases } from './support/suite-cases.js';

const ADMIN_PASSWORD = 'conformance-admin-password';

describe.skipIf(EXTERNAL_URL !== undefined)('on memory storage', () => {
  const reg = useRegistry({ storage: { driver: 'memory' } }, null);
  invalidReferenceCases(reg);
  chunkedUploadCases(reg);
  anonymousMountCases(reg);
});

describe.skipIf(EXTERNAL_URL !== undefined)('with token auth, logged in as the administrator', () => {
  const reg = useRegistry({ auth: { mode: 'token' } }, null, ADMIN_PASSWORD);
  it('refuses a request without a token, so the cases below run through the login', async () => {
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
  });
  invalidReferenceCases(reg);
  chunkedUploadCases(reg);
  anonymousMountCases(reg);
});
