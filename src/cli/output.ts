// What the `berth` commands that manage things share: command groups whose usage errors print
// `berth: …` and exit 2, subcommands that find the storage and database like `berth serve` does, and
// the output contract (stdout carries data only: lists, JSON, a secret shown once; confirmations go
// to stderr).
import { Command, type CommanderError } from 'commander';
import { configOption, dataOption } from './shared.js';

/** A command group whose usage errors, like account and registry errors, print `berth: …` and exit 2. */
export function commandGroup(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .configureOutput({ outputError: (text, write) => write(`berth: ${text.replace(/^error: /, '')}`) })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));
}

/** A subcommand that finds the storage and database like `berth serve` does (--config, --data). */
export function subcommand(group: Command, nameAndArgs: string, description: string): Command {
  return group
    .command(nameAndArgs)
    .description(description)
    .addOption(configOption())
    .addOption(dataOption());
}

/** Data, on stdout. */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A confirmation or a note, on stderr. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Columns padded to their widest cell, two spaces apart. */
export function printTable(header: string[], rows: string[][]): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  for (const row of all)
    print(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}
