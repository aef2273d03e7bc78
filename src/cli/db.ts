// `berth db migrate` and `berth db copy`: the metadata database's schema, and the move from one
// machine (SQLite) to replicas (PostgreSQL). Output contract as for the account commands: data on
// stdout, confirmations on stderr, `berth: <message>` and exit 2 on a refusal.
import { Command, Option, type CommanderError } from 'commander';
import { existsSync } from 'node:fs';
import { withoutPassword } from '../config/redact.js';
import { sqlitePath } from '../metadata/open.js';
import { configFromFlags, configOption, dataOption, withStores, type CommonFlags } from './shared.js';

interface CopyFlags extends CommonFlags {
  to: string;
}

function refuse(message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(2);
}

export function dbCommand(): Command {
  const db = new Command('db')
    .description('the metadata database: migrate its schema, copy SQLite into PostgreSQL')
    .configureOutput({ outputError: (text, write) => write(`berth: ${text.replace(/^error: /, '')}`) })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

  db.command('migrate')
    .description(
      "bring the configured database (metadata.driver) up to this version's schema; replicas also do it at start",
    )
    .addOption(configOption())
    .addOption(dataOption())
    .action(async (flags: CommonFlags) => {
      const config = configFromFlags(flags);
      const location = await withStores(config, async (stores) => stores.location);
      process.stderr.write(`${config.metadata.driver} database at ${location} is up to date\n`);
    });

  db.command('copy')
    .description(
      'copy the SQLite database (dataDir/berth.db or metadata.path) into an empty PostgreSQL database: ' +
        'repositories, tags, manifests, references, upload sessions, accounts, namespaces; stop Berth first',
    )
    .addOption(configOption())
    .addOption(dataOption())
    .addOption(new Option('--to <url>', 'postgres:// URL of the target database').makeOptionMandatory())
    .action(async (flags: CopyFlags) => {
      const config = configFromFlags(flags);
      const source = sqlitePath(config);
      if (!existsSync(source)) refuse(`no SQLite database at ${source}`);
      if (!/^postgres(ql)?:\/\//.test(flags.to)) refuse('--to must be a postgres:// URL');
      const { openDatabase } = await import('../metadata/db.js');
      const { openPostgresDatabase } = await import('../metadata/postgres/db.js');
      const { copySqliteToPostgres } = await import('../metadata/copy.js');
      const sqlite = openDatabase(source);
      try {
        const pool = await openPostgresDatabase({ url: flags.to });
        try {
          const report = await copySqliteToPostgres(sqlite, pool).catch((err: Error) => refuse(err.message));
          for (const [table, rows] of Object.entries(report.rows))
            process.stdout.write(`${table}\t${rows}\n`);
          process.stderr.write(
            `copied ${source} into ${withoutPassword(flags.to)}; now start Berth with ` +
              'metadata.driver: postgres and that URL\n',
          );
        } finally {
          await pool.end();
        }
      } finally {
        sqlite.close();
      }
    });
  return db;
}
