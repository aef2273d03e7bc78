// Structured JSON logs on stdout (pino). Secrets never go into log fields.
import { pino } from 'pino';
import type { BerthConfig } from './config/schema.js';

export function createLogger(config: BerthConfig['log']) {
  return pino({ level: config.level, base: { service: 'berth' } });
}
