// Sends the outbox's deliveries (outbox-store.ts) to their endpoints, in one replica at a time.
//
// Leadership: every process renews a lease on the job `notifications` (MetadataStore.leaseJob) every
// poll interval; only its holder claims and sends. The lease lasts three intervals, so when the holder
// dies another replica takes over within about that; a process that stops releases it at once. The
// claims themselves are leases too, longer than a send can take (the endpoint's timeout), so even two
// processes that both believe they lead never send one delivery at the same time.
//
// Per endpoint, one lane: claim up to `batchSize` deliveries (the heads of as many repositories),
// send them side by side, record each outcome, and claim again at once while there is work. An idle
// lane sleeps until the next poll, the next retry it scheduled, or a wake-up from the enqueuer of this
// process (ignored while the endpoint fails), whichever comes first. Endpoints never hold each other
// up.
//
// A send is a POST of the endpoint's format (formats.ts) with undici, bounded by the endpoint's
// timeout. 2xx: delivered. Anything else (another status, a refused or cut connection, the timeout):
// retried after initialBackoff, doubled after each failure up to maxBackoff, each delay made up to 20%
// shorter at random so that retries of many deliveries spread out. Deliveries enqueued longer than
// maxAge ago are dropped, with a log line per endpoint.
//
// Delivery is at least once: a process that dies after a receiver accepted a delivery but before the
// outcome was recorded sends it again once its claim ends. Receivers deduplicate by the event id.
import { Agent, request, type Dispatcher } from 'undici';
import { durationMs, type NotificationEndpointConfig } from '../config/schema.js';
import type { Logger } from '../registry/deps.js';
import type { MetadataStore } from '../registry/metadata-store.js';
import { webhookRequest, type EventSource, type RecordedEvent } from './formats.js';
import type { DroppedDelivery, OutboxDelivery, OutboxStore } from './outbox-store.js';

/** The job lease's name (job_leases). */
export const NOTIFICATIONS_JOB = 'notifications';
export const DEFAULT_POLL_MS = 1000;
export const DEFAULT_BATCH_SIZE = 16;
/** A claim outlasts the endpoint's timeout by this much: the time to record the outcome. */
const CLAIM_MARGIN_MS = 10_000;
/** Deliveries dropped per statement; dropping goes on until fewer come back. */
const DROP_BATCH = 500;
/** Event ids named in a drop's log line. */
const DROP_IDS_LOGGED = 20;
const MAX_ERROR_LENGTH = 500;
const JITTER = 0.2;

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * The delay before the next attempt after `failures` failed ones (1 for the first failure):
 * initialMs doubled per earlier failure, at most maxMs, then up to 20% shorter (`random` in [0, 1)).
 */
export function backoffDelay(failures: number, { initialMs, maxMs }: Backoff, random: () => number): number {
  const nominal = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 52));
  return Math.round(nominal * (1 - JITTER * random()));
}

export interface DeliveryWorkerOptions {
  endpoints: readonly NotificationEndpointConfig[];
  store: OutboxStore;
  leases: Pick<MetadataStore, 'leaseJob'>;
  /** This process, unique among the replicas (a random id per start). */
  holder: string;
  /** This instance: the `source` of events recorded without one. */
  source: EventSource;
  backoff: Backoff;
  maxAgeMs: number;
  clock: () => number;
  log: Logger;
  pollMs?: number;
  /** Deliveries claimed and sent side by side per endpoint. */
  batchSize?: number;
  random?: () => number;
  /** The HTTP client (default: an undici Agent of the worker's own, closed by stop()). */
  dispatcher?: Dispatcher;
}

export interface DeliveryWorker {
  /** Makes the lanes of `endpoints` look for work now instead of at their next poll. */
  wake(endpoints: Iterable<string>): void;
  /**
   * Stops claiming, waits for the sends in flight (each bounded by its endpoint's timeout) and their
   * outcomes, and releases the lease. Idempotent.
   */
  stop(): Promise<void>;
}

/** Wakes one sleeper early; a wake-up while nobody sleeps makes the next sleep return at once. */
function createAlarm() {
  let pending = false;
  let ring: (() => void) | undefined;
  return {
    ring() {
      if (ring) ring();
      else pending = true;
    },
    sleep(ms: number): Promise<void> {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          ring = undefined;
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        timer.unref();
        ring = done;
      });
    },
  };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  const text = `${typeof code === 'string' ? `${code}: ` : ''}${err.message}${cause}`;
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

export function startDeliveryWorker(options: DeliveryWorkerOptions): DeliveryWorker {
  const { endpoints, store, leases, holder, source, backoff, maxAgeMs, clock, log } = options;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const random = options.random ?? Math.random;
  const dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
  const leaseMs = 3 * pollMs;

  let stopped = false;
  let leading = false;
  const leadership = createAlarm();

  async function dropExpired(): Promise<void> {
    for (;;) {
      const dropped = await store.dropExpired(clock() - maxAgeMs, DROP_BATCH);
      const byEndpoint = new Map<string, DroppedDelivery[]>();
      for (const d of dropped) byEndpoint.set(d.endpoint, [...(byEndpoint.get(d.endpoint) ?? []), d]);
      for (const [endpoint, list] of byEndpoint) {
        log.warn(
          {
            endpoint,
            events: list.length,
            eventIds: list.slice(0, DROP_IDS_LOGGED).map((d) => d.eventId),
            oldest: new Date(list[0]!.createdAt).toISOString(),
            lastError: list.at(-1)?.lastError,
          },
          'webhook events dropped: undelivered for longer than notifications.maxAge',
        );
      }
      if (dropped.length < DROP_BATCH) return;
    }
  }

  function createLane(endpoint: NotificationEndpointConfig) {
    const timeoutMs = Math.max(1, durationMs(endpoint.timeout));
    const alarm = createAlarm();
    /** Next attempts this lane scheduled, so that it wakes for them rather than at the next poll. */
    let retries: number[] = [];
    let failing = false;

    async function send(delivery: OutboxDelivery): Promise<string | undefined> {
      try {
        const { source: recordedBy, ...event } = JSON.parse(delivery.payload) as RecordedEvent;
        const { body, headers } = webhookRequest(endpoint, event, recordedBy ?? source);
        const res = await request(endpoint.url, {
          method: 'POST',
          body,
          headers,
          dispatcher,
          signal: AbortSignal.timeout(timeoutMs),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        await res.body.dump().catch(() => undefined);
        return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `HTTP ${res.statusCode}`;
      } catch (err) {
        return describeError(err);
      }
    }

    async function deliver(delivery: OutboxDelivery): Promise<void> {
      const error = await send(delivery);
      const at = clock();
      try {
        if (error === undefined) {
          await store.markDelivered(delivery.seq, at);
          if (failing) log.info({ endpoint: endpoint.name }, 'webhook endpoint accepts deliveries again');
          failing = false;
          return;
        }
        const nextAttemptAt = at + backoffDelay(delivery.attempts + 1, backoff, random);
        await store.markFailed(delivery.seq, holder, { at, nextAttemptAt, error });
        retries.push(nextAttemptAt);
        const fields = {
          endpoint: endpoint.name,
          error,
          eventId: delivery.eventId,
          repository: delivery.repository,
          attempts: delivery.attempts + 1,
          retryInMs: nextAttemptAt - at,
        };
        if (failing) log.debug(fields, 'webhook delivery failed again');
        else log.warn(fields, 'webhook delivery failed: retrying with backoff');
        failing = true;
      } catch (err) {
        log.error(
          { err, endpoint: endpoint.name, eventId: delivery.eventId },
          'webhook delivery outcome not recorded: it is sent again once its claim ends',
        );
      }
    }

    async function run(): Promise<void> {
      while (!stopped) {
        if (leading) {
          const now = clock();
          retries = retries.filter((at) => at > now);
          let claimed: OutboxDelivery[] = [];
          try {
            claimed = await store.claim(endpoint.name, {
              holder,
              now,
              until: now + timeoutMs + CLAIM_MARGIN_MS,
              limit: batchSize,
            });
          } catch (err) {
            log.warn({ err, endpoint: endpoint.name }, 'webhook deliveries not claimed: the outbox failed');
          }
          if (claimed.length > 0) {
            await Promise.all(claimed.map(deliver));
            continue;
          }
        }
        const nextRetry = retries.reduce((earliest, at) => Math.min(earliest, at), Infinity);
        await alarm.sleep(Math.min(pollMs, nextRetry - clock()));
      }
    }

    return {
      name: endpoint.name,
      alarm,
      done: run(),
      /** True from a failed send until the next successful one. */
      failing: () => failing,
    };
  }

  async function lead(): Promise<void> {
    while (!stopped) {
      const now = clock();
      let holds = false;
      try {
        holds = await leases.leaseJob(NOTIFICATIONS_JOB, { holder, now, until: now + leaseMs });
      } catch (err) {
        log.warn({ err }, 'webhook deliveries paused: the job lease could not be renewed');
      }
      if (stopped) break;
      if (holds && !leading) {
        log.debug({ holder }, 'webhook deliveries: this process sends them');
        for (const lane of lanes) lane.alarm.ring();
      }
      leading = holds;
      if (leading) {
        await dropExpired().catch((err: unknown) => log.warn({ err }, 'webhook expiry failed'));
      }
      await leadership.sleep(pollMs);
    }
  }

  const lanes = endpoints.map(createLane);
  const leader = lead();
  let stopping: Promise<void> | undefined;

  async function stop(): Promise<void> {
    stopped = true;
    leadership.ring();
    for (const lane of lanes) lane.alarm.ring();
    await Promise.all([leader, ...lanes.map((lane) => lane.done)]);
    if (leading) {
      const now = clock();
      // A lease ending now: another replica takes over at its next poll.
      await leases.leaseJob(NOTIFICATIONS_JOB, { holder, now, until: now }).catch(() => false);
    }
    if (!options.dispatcher) await (dispatcher as Agent).close();
  }

  return {
    wake(names) {
      for (const name of names) {
        const lane = lanes.find((candidate) => candidate.name === name);
        // A failing endpoint's lane looks at its next poll or retry: an outage does not make every
        // push pay for a claim.
        if (lane && !lane.failing()) lane.alarm.ring();
      }
    },
    stop: () => (stopping ??= stop()),
  };
}
