// The accounts and namespaces the token-auth client suites share, added through the `berth` CLI
// (TokenBerth.accounts): the private namespace `team` and the public namespace `pub`.
import type { AccountsCli } from './token-berth.js';

/** [name, password]: WRITER may write to `team` and `pub`, READER may read `team`, OUTSIDER has no role. */
export const WRITER: [string, string] = ['writer', 'writer-password'];
export const READER: [string, string] = ['reader', 'reader-password'];
export const OUTSIDER: [string, string] = ['outsider', 'outsider-password'];

/** Adds `users` (WRITER and READER, optionally OUTSIDER), the namespaces `team` and `pub`, and the roles. */
export async function addTeamAccounts(accounts: AccountsCli, users: [string, string][]): Promise<void> {
  for (const [name, password] of users) await accounts.addUser(name, password);
  await accounts.addNamespace('team');
  await accounts.addNamespace('pub', { public: true });
  await accounts.grant('team', WRITER[0], 'write');
  await accounts.grant('pub', WRITER[0], 'write');
  await accounts.grant('team', READER[0], 'read');
}
