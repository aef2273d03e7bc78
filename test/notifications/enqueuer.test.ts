// An event that cannot be recorded in the outbox is not lost silently: the listener's promise, and so
// the bus's publish, rejects, and the route answers an error for the change that made it.
import { describe, expect, it } from 'vitest';
import { createEventBus, type RegistryEvent } from '../../src/events/registry-event.js';
import { createEnqueuer } from '../../src/notifications/enqueuer.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function pushEvent(id: string): RegistryEvent {
  return {
    id,
    timestamp: new Date(0).toISOString(),
    action: 'push',
    target: { kind: 'manifest', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}`, tag: 'v1' },
    request: { id: 'r', addr: '127.0.0.1', host: 'registry', method: 'PUT', userAgent: 'test' },
    actor: {},
  };
}

const endpoints = [{ name: 'ci', actions: ['push' as const], repositories: ['*'] }];

describe('recording events', () => {
  it('resolves once the outbox recorded the event', async () => {
    const recorded: string[] = [];
    const enqueuer = createEnqueuer({
      endpoints,
      store: { enqueue: async (entries) => void recorded.push(...entries.map((e) => e.eventId)) },
      clock: () => 1,
      log: quiet,
    });
    const bus = createEventBus(() => {});
    bus.subscribe(enqueuer.listener);
    await bus.publish(pushEvent('e1'));
    expect(recorded).toEqual(['e1']);
  });

  it('rejects when the outbox cannot record it, so the request that made it fails', async () => {
    const enqueuer = createEnqueuer({
      endpoints,
      store: {
        enqueue: async () => {
          throw new Error('database is down');
        },
      },
      clock: () => 1,
      log: quiet,
    });
    const bus = createEventBus(() => {});
    bus.subscribe(enqueuer.listener);
    await expect(bus.publish(pushEvent('e2'))).rejects.toThrow('database is down');
    await enqueuer.drain();
  });

  it('still passes events to listeners that record nothing', async () => {
    const seen: string[] = [];
    const bus = createEventBus(() => {});
    bus.subscribe((event) => void seen.push(event.id));
    await bus.publish(pushEvent('e3'));
    expect(seen).toEqual(['e3']);
  });
});
