// berth_webhook_outbox_depth: the deliveries waiting in the outbox, read at each scrape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { pushImage } from '../support/fuzz-registry.js';
import { freePort } from '../support/processes.js';

describe('the webhook outbox in /metrics', () => {
  let berth: RunningBerth;
  beforeAll(async () => {
    // Nothing listens on this port: every delivery fails and stays pending.
    const closed = await freePort();
    berth = await startBerth({
      notifications: {
        endpoints: [{ name: 'down', url: `http://127.0.0.1:${closed}/hook`, actions: ['push'] }],
        initialBackoff: '1m',
      },
    });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  const depth = async () => {
    const text = await (await fetch(`${berth.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('berth_webhook_outbox_depth '));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  it('counts the pushes an endpoint that is down has not received', async () => {
    expect(await depth()).toBe(0);
    await pushImage(berth.url, 'team/app', 'v1');
    // One manifest push and two blob pushes (layer and config).
    expect(await depth()).toBe(3);
  });
});
