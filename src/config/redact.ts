// The effective configuration as it may be shown (`berth config check`, logs): every secret it can
// hold replaced by '<redacted>'. New secret settings are added here, and nowhere else.
import type { BerthConfig } from './schema.js';

const REDACTED = '<redacted>';

/** A connection URL with its password (if any) replaced. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = REDACTED;
    return parsed.toString();
  } catch {
    return REDACTED;
  }
}

const redactedOrNull = (value: string | null) => (value === null ? null : REDACTED);

export function redactSecrets(config: BerthConfig): BerthConfig {
  const { s3 } = config.storage;
  const { postgres } = config.metadata;
  return {
    ...config,
    mirror: {
      ...config.mirror,
      upstreams: config.mirror.upstreams.map((upstream) => ({
        ...upstream,
        url: withoutPassword(upstream.url),
        password: redactedOrNull(upstream.password),
      })),
    },
    notifications: {
      ...config.notifications,
      // Header values are often credentials (Authorization: Bearer ...): only their names are shown.
      endpoints: config.notifications.endpoints.map((endpoint) => ({
        ...endpoint,
        url: withoutPassword(endpoint.url),
        secret: redactedOrNull(endpoint.secret),
        headers: Object.fromEntries(Object.keys(endpoint.headers).map((name) => [name, REDACTED])),
      })),
    },
    storage: {
      ...config.storage,
      s3: { ...s3, secretAccessKey: redactedOrNull(s3.secretAccessKey) },
    },
    metadata: {
      ...config.metadata,
      postgres: { ...postgres, url: postgres.url === null ? null : withoutPassword(postgres.url) },
    },
  };
}
