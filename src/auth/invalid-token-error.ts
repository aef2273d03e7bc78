/** A token the registry refuses; `reason` is for logs and the error detail, never a secret. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}
