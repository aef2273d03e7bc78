// A PostgreSQL server that is down, restarting, unreachable, out of connections or too slow is not a
// bug in Berth: calls that fail that way become StoreUnavailableError (503 UNAVAILABLE with
// Retry-After, which clients retry), and the pool reconnects by itself once the server is back.
import { StoreUnavailableError } from '../../registry/errors.js';

/** Socket-level failures of the connection to the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of an unavailable server (PostgreSQL "Appendix A"): class 08 connection exceptions,
 * 53300 too_many_connections, 57P01-57P03 shutdown and start-up, 57014 query_canceled (the
 * statement timeout).
 */
const SERVER_STATES = new Set(['53300', '57P01', '57P02', '57P03', '57014']);

/** node-postgres' own messages for a connection that ended or could not be had in time. */
const CLIENT_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
];

export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (NETWORK_CODES.has(code) || SERVER_STATES.has(code) || code.startsWith('08'))
  ) {
    return true;
  }
  return CLIENT_MESSAGES.some((pattern) => pattern.test(err.message));
}

/** `store` with every method's unavailability failures turned into StoreUnavailableError. */
export function reportingUnavailable<T extends object>(store: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(store) as Array<[string, unknown]>) {
    if (typeof method !== 'function') {
      wrapped[name] = method;
      continue;
    }
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      } catch (err) {
        if (isUnavailable(err)) throw new StoreUnavailableError((err as Error).message);
        throw err;
      }
    };
  }
  return wrapped as T;
}
