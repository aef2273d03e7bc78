// The `berth` command line (commander): serve, config check, account management and the database.
import { packageVersion } from '../package-info.js';
import { Command } from 'commander';
import { AccountError } from '../auth/errors.js';
import { loadConfig } from '../config/load.js';
import { redactSecrets } from '../config/redact.js';
import { ConfigError } from '../config/schema.js';
import { RegistryError } from '../registry/errors.js';
import { namespaceCommand, robotCommand, userCommand } from './accounts.js';
import { dbCommand } from './db.js';
import { gcCommand } from './gc.js';
import { mirrorCommand } from './mirror.js';
import { registryErrorText, repoCommand, tagCommand } from './repositories.js';
import {
  authOption,
  configOption,
  flagsToConfig,
  mirrorOption,
  tlsCertOption,
  tlsKeyOption,
  type CommonFlags,
} from './shared.js';
import { tlsCommand } from './tls.js';

export function createProgram(): Command {
  const program = new Command('berth')
    .description('Berth: a private container image registry (OCI Distribution Spec v1.1)')
    .version(packageVersion(), '-v, --version')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nEvery setting is listed with its default in config/default.yaml. Sources, later ones winning:\n' +
        'defaults, --config FILE (or BERTH_CONFIG), BERTH_* environment variables\n' +
        '(e.g. storage.delete.enabled -> BERTH_STORAGE_DELETE_ENABLED), then flags.',
    );

  program
    .command('serve')
    .description('start the registry (defaults: 0.0.0.0:5000, filesystem storage and SQLite under ./data)')
    .addOption(configOption())
    .option('-l, --listen <host:port>', 'address to listen on (server.listen)')
    .option('-d, --data <dir>', 'data directory for blobs and the metadata database (dataDir)')
    .addOption(authOption())
    .addOption(mirrorOption())
    .addOption(tlsCertOption())
    .addOption(tlsKeyOption())
    .action(async (flags: CommonFlags) => {
      // Loaded on demand: the server's dependencies (Koa, the route table, metrics) would slow every other
      // command. What the configuration does not use is loaded later, or never (src/server.ts).
      const { runServe } = await import('./serve.js');
      await runServe(loadConfig({ file: flags.config, flags: flagsToConfig(flags) }));
    });

  const config = program.command('config').description('inspect configuration');
  config
    .command('check')
    .description('validate the configuration and print the effective settings as YAML')
    .addOption(configOption())
    .option('-l, --listen <host:port>', 'address to listen on (server.listen)')
    .option('-d, --data <dir>', 'data directory (dataDir)')
    .addOption(authOption())
    .addOption(mirrorOption())
    .addOption(tlsCertOption())
    .addOption(tlsKeyOption())
    .action(async (flags: CommonFlags) => {
      const config = loadConfig({ file: flags.config, flags: flagsToConfig(flags) });
      // Loaded on demand: only this command writes YAML (`berth serve` reads it only from --config).
      const { stringify } = await import('yaml');
      process.stdout.write(stringify(redactSecrets(config)));
    });

  program.addCommand(userCommand());
  program.addCommand(robotCommand());
  program.addCommand(namespaceCommand());
  program.addCommand(dbCommand());
  program.addCommand(mirrorCommand());
  program.addCommand(repoCommand());
  program.addCommand(tagCommand());
  program.addCommand(gcCommand());
  program.addCommand(tlsCommand());

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AccountError) {
      process.stderr.write(`berth: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof RegistryError) {
      process.stderr.write(`berth: ${registryErrorText(err)}\n`);
      process.exit(2);
    }
    throw err;
  }
}
