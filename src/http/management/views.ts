// The JSON shapes the management API answers with. Fields are picked one by one, so nothing else of a
// stored row (a secret hash, the credential version) can reach a response. Times are ISO 8601.
import type { Account, Membership, Namespace } from '../../auth/model.js';

export interface AccountView {
  name: string;
  kind: Account['kind'];
  admin: boolean;
  createdAt: string;
  description: string | null;
}

export const accountView = (account: Account): AccountView => ({
  name: account.name,
  kind: account.kind,
  admin: account.admin,
  createdAt: new Date(account.createdAt).toISOString(),
  description: account.description,
});

export const namespaceView = (namespace: Namespace) => ({
  name: namespace.name,
  public: namespace.public,
  createdAt: new Date(namespace.createdAt).toISOString(),
});

/** A membership seen from the account: which namespace, which role. */
export const roleView = (membership: Membership) => ({
  namespace: membership.namespace,
  role: membership.role,
});

/** A membership seen from the namespace: which account, which role. */
export const memberView = (membership: Membership) => ({
  account: membership.account,
  role: membership.role,
});

export const membershipView = (membership: Membership) => ({
  namespace: membership.namespace,
  account: membership.account,
  role: membership.role,
});
