// `berth serve`: run until SIGTERM/SIGINT, then drain in-flight requests and close the database. With
// HTTPS, SIGHUP reads the certificate and key files again (open connections keep going).
import type { BerthConfig } from '../config/schema.js';
import { createLogger } from '../log.js';
import { startServer } from '../server.js';

export async function runServe(config: BerthConfig): Promise<void> {
  const log = createLogger(config.log);
  let server;
  try {
    // A secret, not a setting: read here, never part of the effective configuration.
    server = await startServer(config, log, { adminPassword: process.env.BERTH_ADMIN_PASSWORD });
  } catch (err) {
    log.fatal({ err }, 'berth failed to start');
    process.exitCode = 1;
    return;
  }
  const running = server;
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // SIGHUP (systemctl reload, logrotate) never ends Berth: with HTTPS it reads the certificate again.
  const reloadTls = running.reloadTls;
  process.on('SIGHUP', () => {
    if (reloadTls) void reloadTls();
    else log.info({ signal: 'SIGHUP' }, 'nothing to reload without server.tls');
  });
}
