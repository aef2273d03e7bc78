// The durable outbox of webhook deliveries, in the metadata database: one row per (event, endpoint)
// from the moment the event is recorded until the endpoint answered 2xx or the event grew older than
// notifications.maxAge. In the database, not in a process, so an endpoint that is down for minutes or
// a Berth restart loses nothing, and replicas sharing the database share one queue.
// src/metadata implements it on SQLite and PostgreSQL; every method is one atomic operation.
//
// Order: within one endpoint, a repository's deliveries go out one at a time in the order they were
// enqueued (by `seq`). Only the earliest pending delivery of each (endpoint, repository), its head, is
// ever claimed; the next one becomes claimable once the head was delivered or dropped.
// Claims are leases: a claimed delivery is not claimed again until `until`, so two workers (a replica
// that took the job over while another was still sending) never send it at the same time; a worker
// that died mid-send leaves a claim that simply ends, and the delivery is sent again (at least once).

/** An event to record for some endpoints. */
export interface OutboxEntry {
  /** The event's id (RegistryEvent.id), which receivers deduplicate by. */
  eventId: string;
  repository: string;
  /** The event, serialized by the caller; opaque to the store. */
  payload: string;
  /** Names of the endpoints (notifications.endpoints[].name) that get it: one delivery each. */
  endpoints: readonly string[];
}

/** One pending delivery of an event to an endpoint. */
export interface OutboxDelivery {
  /** Assigned by the store: unique, and increasing in enqueue order. */
  seq: number;
  endpoint: string;
  eventId: string;
  repository: string;
  payload: string;
  /** When it was enqueued (ms). */
  createdAt: number;
  /** Failed attempts so far. */
  attempts: number;
}

export interface OutboxClaim {
  /** The claiming worker, unique among the replicas (a random id per start). */
  holder: string;
  now: number;
  /** The claim lasts until then (ms): past the longest a send can take. */
  until: number;
  /** Most deliveries to claim (0 claims none). */
  limit: number;
}

export interface OutboxFailure {
  at: number;
  /** Not claimable before then. */
  nextAttemptAt: number;
  error: string;
}

/** A delivery removed by dropExpired. */
export interface DroppedDelivery {
  endpoint: string;
  eventId: string;
  repository: string;
  createdAt: number;
  attempts: number;
  lastError: string | null;
}

export interface OutboxEndpointStatus {
  endpoint: string;
  /** Deliveries not yet made. */
  pending: number;
  /** Pending deliveries that failed at least once. */
  retrying: number;
  /** When the oldest pending delivery was enqueued (ms); null when none is pending. */
  oldestPendingAt: number | null;
  /** Deliveries made (answered 2xx) since the database was created. */
  delivered: number;
  /** Deliveries dropped as older than maxAge. */
  dropped: number;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  /** The last failure's error, kept after later successes. */
  lastError: string | null;
}

export interface OutboxStore {
  /** Records every entry's deliveries at `at` (due at once), all or none, in the order given. */
  enqueue(entries: readonly OutboxEntry[], at: number): Promise<void>;
  /**
   * Claims, for `claim.holder` until `claim.until`, up to `claim.limit` of `endpoint`'s deliveries,
   * earliest first: each the head of its repository's queue (no earlier pending delivery of the same
   * endpoint and repository), due (next attempt at or before `claim.now`) and not under a live claim.
   */
  claim(endpoint: string, claim: OutboxClaim): Promise<OutboxDelivery[]>;
  /** Removes a delivery that was made and counts it; false (nothing counted) when it was already gone. */
  markDelivered(seq: number, at: number): Promise<boolean>;
  /**
   * Records a failed attempt and ends the claim; false (nothing changed) unless `holder` still holds
   * the delivery's claim.
   */
  markFailed(seq: number, holder: string, failure: OutboxFailure): Promise<boolean>;
  /**
   * Removes up to `limit` pending deliveries enqueued before `createdBefore`, earliest first, counts
   * them as dropped and returns them.
   */
  dropExpired(createdBefore: number, limit: number): Promise<DroppedDelivery[]>;
  /** Every endpoint with pending deliveries or a recorded outcome, by name. */
  listStatus(): Promise<OutboxEndpointStatus[]>;
}
