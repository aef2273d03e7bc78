// Errors of account and namespace management (the management API and the CLI), not OCI errors:
// src/http/errors.ts maps the codes to 404 / 409 / 400. Messages and details never hold secrets.

export type AccountErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID';

export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class AccountNotFoundError extends AccountError {
  constructor(account: string) {
    super('NOT_FOUND', `no account named ${account}`, { account });
  }
}

export class NamespaceNotFoundError extends AccountError {
  constructor(namespace: string) {
    super('NOT_FOUND', `no namespace named ${namespace}`, { namespace });
  }
}

export class MembershipNotFoundError extends AccountError {
  constructor(namespace: string, account: string) {
    super('NOT_FOUND', `${account} is not a member of namespace ${namespace}`, { namespace, account });
  }
}

/** The name is taken, by an account or (for names that double as personal namespaces) a namespace. */
export class NameTakenError extends AccountError {
  constructor(name: string, takenBy: 'account' | 'namespace') {
    super(
      'CONFLICT',
      `the name ${name} is taken by ${takenBy === 'account' ? 'an account' : 'a namespace'}`,
      {
        name,
        takenBy,
      },
    );
  }
}

/** The change would leave the registry without a global administrator. */
export class LastAdminError extends AccountError {
  constructor(account: string) {
    super('CONFLICT', `${account} is the last administrator; make another account admin first`, { account });
  }
}

export class InvalidInputError extends AccountError {
  constructor(field: string, reason: string) {
    super('INVALID', `invalid ${field}: ${reason}`, { field, reason });
  }
}
