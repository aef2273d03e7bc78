// Logs on stdout (pino): JSON lines for collectors, or human-readable lines on a terminal
// (log.format auto|json|pretty; pino-pretty is loaded only for the latter). Secrets never go into
// log fields; each request's lines carry its requestId.
import { createRequire } from 'node:module';
import { pino, type DestinationStream } from 'pino';
import type { BerthConfig } from './config/schema.js';

/** Whether lines are formatted for people: `auto` decides by whether stdout is a terminal. */
export function isPrettyLog(format: BerthConfig['log']['format'], stdoutIsTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTty);
}

function prettyStream(): DestinationStream {
  // pino-pretty is CommonJS; required here so JSON logging never loads it.
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as (options: object) => DestinationStream;
  return pretty({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    singleLine: true,
  });
}

export function createLogger(config: BerthConfig['log']) {
  const options = { level: config.level, base: { service: 'berth' } };
  if (isPrettyLog(config.format, process.stdout.isTTY === true)) return pino(options, prettyStream());
  return pino(options);
}
