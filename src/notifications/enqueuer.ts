// The event bus listener of webhooks: records each registry event for the endpoints that want it
// (patterns.ts) in the durable outbox, before the response of the request that made it goes out (the
// listener returns the promise of that write, which the route awaits): when a client sees its push
// succeed, the event is in the outbox. That one insert is all a request pays. An event that cannot be
// recorded (the database is down) is logged, and the listener's promise rejects, so the request that
// made it answers an error instead of a success whose event went missing (src/http/routes.ts).
// Order: one enqueue call is in flight at a time; events arriving meanwhile go together into the next
// call, in the order they happened, so the outbox numbers them in that order on every database.
import type { NotificationEndpointConfig } from '../config/schema.js';
import type { EventListener, RegistryEvent } from '../events/registry-event.js';
import type { Logger } from '../registry/deps.js';
import type { EventSource, RecordedEvent } from './formats.js';
import type { OutboxEntry, OutboxStore } from './outbox-store.js';
import { compileEventFilter } from './patterns.js';

export interface EnqueuerOptions {
  endpoints: readonly Pick<NotificationEndpointConfig, 'name' | 'actions' | 'repositories'>[];
  store: Pick<OutboxStore, 'enqueue'>;
  clock: () => number;
  log: Logger;
  /** This instance, recorded with each event (Distribution's `source`), once known. */
  source?: () => EventSource | undefined;
  /** Told the endpoints that got new deliveries, once they are recorded. */
  enqueued?: (endpoints: ReadonlySet<string>) => void;
}

export interface Enqueuer {
  listener: EventListener;
  /** Resolves once every event received so far is recorded (or logged as lost). */
  drain(): Promise<void>;
}

interface Batch {
  entries: OutboxEntry[];
  /** Settles once the batch is recorded or logged as lost; never rejects. */
  written: Promise<void>;
  settle(): void;
  /** Why the batch could not be recorded, once it failed. */
  failure?: unknown;
}

function newBatch(): Batch {
  let settle!: () => void;
  const written = new Promise<void>((resolve) => (settle = resolve));
  return { entries: [], written, settle };
}

export function createEnqueuer({
  endpoints,
  store,
  clock,
  log,
  source,
  enqueued,
}: EnqueuerOptions): Enqueuer {
  const filters = endpoints.map((endpoint) => ({ name: endpoint.name, wants: compileEventFilter(endpoint) }));
  let waiting: Batch | undefined;
  let writing: Promise<void> | undefined;

  async function write(batch: Batch): Promise<void> {
    const { entries } = batch;
    try {
      await store.enqueue(entries, clock());
      enqueued?.(new Set(entries.flatMap((entry) => entry.endpoints)));
    } catch (err) {
      batch.failure = err;
      log.error(
        { err, events: entries.map((entry) => entry.eventId) },
        'webhook events not recorded: the outbox could not write them (their requests answer an error)',
      );
    }
  }

  function kick(): void {
    if (writing || !waiting) return;
    const batch = waiting;
    waiting = undefined;
    writing = write(batch).finally(() => {
      batch.settle();
      writing = undefined;
      kick();
    });
  }

  return {
    listener(event: RegistryEvent) {
      const names = filters.filter((filter) => filter.wants(event)).map((filter) => filter.name);
      if (names.length === 0) return;
      const batch = (waiting ??= newBatch());
      const recorded: RecordedEvent = { ...event, source: source?.() };
      batch.entries.push({
        eventId: event.id,
        repository: event.target.repository,
        payload: JSON.stringify(recorded),
        endpoints: names,
      });
      kick();
      return batch.written.then(() => {
        if (batch.failure !== undefined) throw batch.failure;
      });
    },
    async drain() {
      while (writing) await writing;
    },
  };
}
