// `berth user`, `berth robot` and `berth namespace`: account management straight on the database the
// server uses (SQLite or PostgreSQL: a running server reads accounts from it on every request, so
// changes apply at once).
// Output contract: stdout carries data only (lists, and a generated password or robot secret, shown
// this once); confirmations go to stderr. Errors print `berth: <message>` and exit 2.
import { Argument, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createAccountService, robotAccountName, type AccountService, type Grant } from '../auth/accounts.js';
import { AccountNotFoundError, InvalidInputError } from '../auth/errors.js';
import type { Role } from '../auth/model.js';
import { newPassword } from '../auth/passwords.js';
import { configFromFlags, withStores, type CommonFlags } from './shared.js';
import { commandGroup, note, print, printJson, printTable, subcommand } from './output.js';

interface ListFlags extends CommonFlags {
  json?: boolean;
}

const onOff = () => new Argument('<state>', 'on or off').choices(['on', 'off']);

/** Runs `work` with an account service on the configured database, closing it afterwards. */
async function withAccounts<T>(flags: CommonFlags, work: (accounts: AccountService) => T | Promise<T>) {
  const config = configFromFlags(flags);
  return withStores(config, async (stores) =>
    work(
      createAccountService({
        store: stores.accounts,
        clock: Date.now,
        personalNamespaces: config.auth.personalNamespaces,
      }),
    ),
  );
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

/** The whole of stdin, without the final line break (as `docker login --password-stdin`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidInputError('file', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

function parseGrant(value: string, previous: Grant[]): Grant[] {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw new InvalidInputError('grant', `${value} is not NAMESPACE:ROLE`);
  return [...previous, { namespace: value.slice(0, colon), role: value.slice(colon + 1) as Role }];
}

export function userCommand(): Command {
  const user = commandGroup('user', 'manage users (stored in the metadata database)');

  subcommand(user, 'add <name>', 'add a user; prints a generated password unless --password-stdin')
    .option('--admin', 'make the user a global administrator')
    .option('--password-stdin', 'read the password from stdin')
    .option('--description <text>', 'a note about the user')
    .action(
      async (
        name: string,
        flags: CommonFlags & { admin?: boolean; passwordStdin?: boolean; description?: string },
      ) => {
        const given = flags.passwordStdin ? await readStdin() : undefined;
        await withAccounts(flags, async (accounts) => {
          const password = given ?? newPassword();
          await accounts.addUser(name, password, {
            admin: flags.admin ?? false,
            description: flags.description,
          });
          if (given === undefined) {
            note(`created user ${name} with this generated password (shown once):`);
            print(password);
          } else {
            note(`created user ${name}`);
          }
        });
      },
    );

  subcommand(
    user,
    'passwd <name>',
    "change a user's password; prints a generated one unless --password-stdin",
  )
    .option('--password-stdin', 'read the new password from stdin')
    .action(async (name: string, flags: CommonFlags & { passwordStdin?: boolean }) => {
      const given = flags.passwordStdin ? await readStdin() : undefined;
      await withAccounts(flags, async (accounts) => {
        const password = given ?? newPassword();
        await accounts.setPassword(name, password);
        if (given === undefined) {
          note(`changed the password of ${name} to this generated one (shown once):`);
          print(password);
        } else {
          note(`changed the password of ${name}`);
        }
      });
    });

  subcommand(user, 'rm <name>', 'remove a user, their memberships and personal namespace settings').action(
    (name: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        if ((await accounts.getAccount(name))?.kind === 'robot') {
          throw new InvalidInputError('user', `${name} is a robot account; use berth robot rm`);
        }
        await accounts.removeAccount(name);
        note(`removed user ${name}`);
      }),
  );

  subcommand(user, 'list', 'list users')
    .option('--json', 'print JSON')
    .action((flags: ListFlags) =>
      withAccounts(flags, async (accounts) => {
        const users = await accounts.listAccounts('user');
        if (flags.json) return printJson(users);
        printTable(
          ['NAME', 'ADMIN', 'DESCRIPTION'],
          users.map((u) => [u.name, yesNo(u.admin), u.description ?? '']),
        );
      }),
    );

  subcommand(
    user,
    'import <file>',
    'add the bcrypt users of an htpasswd file (exit 1 if lines were rejected)',
  )
    .option('--overwrite', 'replace the passwords of users that already exist')
    .action((file: string, flags: CommonFlags & { overwrite?: boolean }) =>
      withAccounts(flags, async (accounts) => {
        const result = await accounts.importHtpasswd(readTextFile(file), {
          overwrite: flags.overwrite ?? false,
        });
        for (const name of result.added) print(`added ${name}`);
        for (const name of result.updated) print(`updated ${name}`);
        for (const name of result.skipped) print(`skipped ${name}`);
        for (const r of result.rejected) {
          note(`berth: ${file}:${r.line}${r.user ? ` (${r.user})` : ''}: ${r.reason}`);
        }
        if (result.rejected.length > 0) process.exitCode = 1;
      }),
    );

  subcommand(user, 'admin <name>', 'make a user a global administrator (on) or not (off)')
    .addArgument(onOff())
    .action((name: string, state: 'on' | 'off', flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        await accounts.setAdmin(name, state === 'on');
        note(state === 'on' ? `${name} is now an administrator` : `${name} is no longer an administrator`);
      }),
    );

  return user;
}

export function robotCommand(): Command {
  const robot = commandGroup('robot', 'manage robot accounts (named robot+NAME, for CI and automation)');

  subcommand(robot, 'add <name>', 'add a robot account and print its secret (shown once)')
    .option('--description <text>', 'a note about the robot')
    .option(
      '--grant <namespace:role>',
      'give a role (read, write, admin) in a namespace; repeatable',
      parseGrant,
      [],
    )
    .action((name: string, flags: CommonFlags & { description?: string; grant: Grant[] }) =>
      withAccounts(flags, async (accounts) => {
        const { account, secret } = await accounts.addRobot(name, {
          description: flags.description,
          grants: flags.grant,
        });
        note(`created ${account.name}; log in with this secret (shown once):`);
        print(secret);
      }),
    );

  subcommand(robot, 'rotate <name>', "replace a robot's secret and print the new one (shown once)").action(
    (name: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        const secret = await accounts.rotateRobotSecret(name);
        note(`new secret for ${robotAccountName(name)} (shown once; the old one no longer works):`);
        print(secret);
      }),
  );

  subcommand(robot, 'rm <name>', 'remove a robot account and its grants').action(
    (name: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        const fullName = robotAccountName(name);
        if ((await accounts.getAccount(fullName))?.kind !== 'robot') {
          throw new AccountNotFoundError(fullName);
        }
        await accounts.removeAccount(fullName);
        note(`removed ${fullName}`);
      }),
  );

  subcommand(robot, 'list', 'list robot accounts and their grants')
    .option('--json', 'print JSON')
    .action((flags: ListFlags) =>
      withAccounts(flags, async (accounts) => {
        const robots = await Promise.all(
          (await accounts.listAccounts('robot')).map(async (account) => ({
            ...account,
            grants: (await accounts.membershipsOf(account.name)).map(({ namespace, role }) => ({
              namespace,
              role,
            })),
          })),
        );
        if (flags.json) return printJson(robots);
        printTable(
          ['NAME', 'GRANTS', 'DESCRIPTION'],
          robots.map((r) => [
            r.name,
            r.grants.map((g) => `${g.namespace}:${g.role}`).join(',') || '-',
            r.description ?? '',
          ]),
        );
      }),
    );

  return robot;
}

export function namespaceCommand(): Command {
  const namespace = commandGroup('namespace', 'manage namespaces (the first path component of repositories)');

  subcommand(namespace, 'add <name>', 'add a namespace (private unless --public)')
    .option('--public', 'anyone, even anonymous clients, may pull')
    .action((name: string, flags: CommonFlags & { public?: boolean }) =>
      withAccounts(flags, async (accounts) => {
        const created = await accounts.addNamespace(name, { public: flags.public ?? false });
        note(`created namespace ${created.name} (${created.public ? 'public' : 'private'})`);
      }),
    );

  subcommand(namespace, 'rm <name>', 'remove a namespace and its members (its repositories are kept)').action(
    (name: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        await accounts.removeNamespace(name);
        note(`removed namespace ${name}`);
      }),
  );

  subcommand(namespace, 'list', 'list namespaces, including personal ones')
    .option('--json', 'print JSON')
    .action((flags: ListFlags) =>
      withAccounts(flags, async (accounts) => {
        const namespaces = await accounts.listNamespaces();
        if (flags.json) return printJson(namespaces);
        printTable(
          ['NAME', 'PUBLIC'],
          namespaces.map((n) => [n.name, yesNo(n.public)]),
        );
      }),
    );

  subcommand(namespace, 'public <name>', 'let anyone pull from the namespace (on) or only members (off)')
    .addArgument(onOff())
    .action((name: string, state: 'on' | 'off', flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        await accounts.setNamespacePublic(name, state === 'on');
        note(`${name} is now ${state === 'on' ? 'public' : 'private'}`);
      }),
    );

  subcommand(namespace, 'grant <namespace> <account>', 'give an account a role in a namespace')
    .addArgument(new Argument('<role>', 'read, write or admin'))
    .action((name: string, account: string, role: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        const membership = await accounts.setMember(name, account, role);
        note(`${membership.account} has role ${membership.role} in ${membership.namespace}`);
      }),
    );

  subcommand(namespace, 'revoke <namespace> <account>', "remove an account's role in a namespace").action(
    (name: string, account: string, flags: CommonFlags) =>
      withAccounts(flags, async (accounts) => {
        await accounts.removeMember(name, account);
        note(`${account} no longer has a role in ${name}`);
      }),
  );

  subcommand(namespace, 'members <namespace>', 'list who holds which role in a namespace')
    .option('--json', 'print JSON')
    .action((name: string, flags: ListFlags) =>
      withAccounts(flags, async (accounts) => {
        const members = await accounts.listMembers(name);
        if (flags.json) return printJson(members);
        printTable(
          ['ACCOUNT', 'ROLE'],
          members.map((m) => [m.account, m.role]),
        );
      }),
    );

  return namespace;
}
