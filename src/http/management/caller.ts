// The account calling an accounts-API route, authenticated by the route table's access check
// (access-guard.ts) before the handler runs.
import type { Context } from 'koa';
import type { Account } from '../../auth/model.js';

interface CallerState {
  caller?: Account;
}

export function setCaller(ctx: Context, caller: Account): void {
  (ctx.state as CallerState).caller = caller;
}

/** The authenticated caller; only routes with an account rule have one (token mode). */
export function callerOf(ctx: Context): Account {
  const caller = (ctx.state as CallerState).caller;
  if (!caller) throw new Error(`no authenticated caller for ${ctx.method} ${ctx.path}`);
  return caller;
}
