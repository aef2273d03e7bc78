// One way to call Berth from the browser: JSON in and out, Berth's error body read into ApiError.

/** Berth's error body: {"errors":[{"code","message","detail"}]}. */
interface ErrorBody {
  errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The reason Berth gave (detail.reason), else the message. */
  get reason(): string {
    const reason = (this.detail as { reason?: unknown } | null | undefined)?.reason;
    return typeof reason === 'string' && reason !== '' ? reason : this.message;
  }
}

/** An ApiError from a non-2xx response (its body read as Berth's error body when it is one). */
export async function apiErrorOf(res: Response): Promise<ApiError> {
  let body: ErrorBody | undefined;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    body = undefined;
  }
  const first = body?.errors?.[0];
  const fallback = res.status === 0 ? 'no answer from Berth' : `${res.status} ${res.statusText}`.trim();
  return new ApiError(res.status, first?.code ?? 'HTTP', first?.message ?? fallback, first?.detail);
}

/** What went wrong, in a sentence a person can act on. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const reason = err.reason === err.message ? '' : `: ${err.reason}`;
    return `${err.message}${reason}`;
  }
  if (err instanceof TypeError) return 'Berth could not be reached (network error): is it running?';
  return err instanceof Error ? err.message : String(err);
}

export type Query = Record<string, string | number | boolean | null | undefined>;

/** `?a=1&b=x` of the defined values, or '' when there are none. */
export function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Base64 of UTF-8 (btoa alone takes Latin-1 only). */
export function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export const basicAuthorization = (username: string, password: string): string =>
  `Basic ${base64(`${username}:${password}`)}`;
