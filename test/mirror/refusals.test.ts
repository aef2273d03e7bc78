// What a client may not do to the mirror through names the upstream refuses (issue 10, "think like an
// attacker"): requests for a repository the upstream answers 403 for neither trip the circuit breaker
// of the whole upstream, nor fail the clients of another repository that share a blob's download.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../support/fuzz.js';
import { expectOciError } from '../support/http.js';
import { pushLayers, randomishBlob, startMirrorRig, streamGet, type MirrorRig } from '../support/mirror.js';

describe('upstream refusals', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig({ failureThreshold: 2, failureCooldown: '1h' });
  });
  afterAll(async () => {
    await rig?.stop();
  });
  beforeEach(() => {
    rig.proxy.setFault({ kind: 'status', status: 403, paths: /^\/v2\/refused\// });
    rig.proxy.reset();
  });

  it('does not count a refused repository against the upstream: other pulls go on', async () => {
    const layer = randomishBlob(50_000, 'breaker-stays-closed');
    await pushLayers(rig.upstream.url, 'open/app', 'v1', [layer]);
    const refused = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        streamGet(rig.mirror.url, `/v2/up/refused/app/blobs/${sha256(`nothing ${i}`)}`),
      ),
    );
    for (const res of refused) expect(res.status).toBe(403);
    // failureThreshold is 2: had the refusals counted, this would answer 503 for an hour.
    const got = await streamGet(rig.mirror.url, `/v2/up/open/app/blobs/${sha256(layer)}`);
    expect(got.status, got.error).toBe(200);
    expect(sha256(got.body)).toBe(sha256(layer));
  });

  it("serves another repository's clients when the repository that asked first for the blob is refused", async () => {
    for (let round = 0; round < 5; round++) {
      const layer = randomishBlob(200_000, `shared-download ${round}`);
      await pushLayers(rig.upstream.url, `open/shared${round}`, 'v1', [layer]);
      const digest = sha256(layer);
      const [refused, served] = await Promise.all([
        streamGet(rig.mirror.url, `/v2/up/refused/app/blobs/${digest}`),
        streamGet(rig.mirror.url, `/v2/up/open/shared${round}/blobs/${digest}`),
      ]);
      expect(refused.status).toBe(403);
      expect(served.status, `round ${round}: ${served.error ?? served.body.toString().slice(0, 200)}`).toBe(
        200,
      );
      expect(sha256(served.body)).toBe(digest);
    }
  });

  it('answers DENIED with the reason when the upstream refuses the repository', async () => {
    const res = await streamGet(rig.mirror.url, `/v2/up/refused/app/blobs/${sha256('x')}`);
    expectOciError(
      { status: res.status, text: res.body.toString(), headers: res.headers } as never,
      403,
      'DENIED',
    );
  });
});
