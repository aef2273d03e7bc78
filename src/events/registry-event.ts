// What happened in the registry, as metrics, webhooks and the audit log see it. Events are made in one
// place, by the route table (src/http/routes.ts declares which successful responses make which
// event), so handlers and the domain stay unaware of who listens. The shape follows CNCF
// Distribution's notification envelope (docs/notifications.md), which existing receivers parse.

export type RegistryAction = 'push' | 'pull' | 'delete' | 'mount';

export interface RegistryEvent {
  /** Unique per event (a UUID): receivers deduplicate retried deliveries by it. */
  id: string;
  /** When it happened, ISO 8601. */
  timestamp: string;
  action: RegistryAction;
  target: {
    /**
     * A manifest (pushed, pulled or deleted by digest), a tag (deleted by name), a blob, or a whole
     * repository (deleted through the management API; Distribution 3 sends the same, with no digest
     * or tag).
     */
    kind: 'manifest' | 'tag' | 'blob' | 'repository';
    repository: string;
    digest?: string;
    mediaType?: string;
    size?: number;
    tag?: string;
  };
  request: {
    /** The X-Request-Id of the request that caused it. */
    id: string;
    /** The client's address. */
    addr: string;
    host: string;
    method: string;
    userAgent: string;
  };
  /** Who did it: an account or token subject; absent for anonymous callers and auth mode none. */
  actor: { name?: string };
}

/**
 * Told each event, synchronously, while the request that made it waits. A listener that must record
 * the event durably before the response goes out (webhooks' outbox) returns the promise of that one
 * write; the others return nothing and cost the request nothing more.
 */
export type EventListener = (event: RegistryEvent) => void | Promise<void>;

/**
 * Fans each event out to every listener; a listener that throws or rejects does not stop the others
 * and never fails the request. `publish` resolves once the promises listeners returned have settled.
 */
export function createEventBus(onListenerError: (err: unknown) => void) {
  const listeners: EventListener[] = [];
  return {
    subscribe(listener: EventListener): void {
      listeners.push(listener);
    },
    get active(): boolean {
      return listeners.length > 0;
    },
    /**
     * Resolves once every listener that returned a promise settled; rejects with the first failure of
     * those (a durable record that could not be made), so the caller can fail its request.
     */
    async publish(event: RegistryEvent): Promise<void> {
      const writes: Array<Promise<void>> = [];
      for (const listener of listeners) {
        try {
          const written = listener(event);
          if (written) writes.push(written);
        } catch (err) {
          onListenerError(err);
        }
      }
      if (writes.length === 0) return;
      const failed = (await Promise.allSettled(writes)).find((result) => result.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

export type EventBus = ReturnType<typeof createEventBus>;
