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

export function redactSecrets(config: BerthConfig): BerthConfig {
  const { s3 } = config.storage;
  const { postgres } = config.metadata;
  return {
    ...config,
    storage: {
      ...config.storage,
      s3: { ...s3, secretAccessKey: s3.secretAccessKey === null ? null : REDACTED },
    },
    metadata: {
      ...config.metadata,
      postgres: { ...postgres, url: postgres.url === null ? null : withoutPassword(postgres.url) },
    },
  };
}
