// The login throttle's state (src/auth/login-throttle.ts), shared by every process on the database:
// failed logins under each key they count for (`account:<name>`, `source:<address>`), in the order
// recorded (id), and the addresses each account logged in from, with the time of the last success
// there. Neither refers to accounts: htpasswd users have no row there, and rows of a deleted account
// age out with the rest. Both are pruned by time on every write (the `at` indexes).
export const up = `
CREATE TABLE login_failures (
  id     INTEGER PRIMARY KEY,
  key    TEXT NOT NULL,
  source TEXT NOT NULL,
  at     INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(key, at);
CREATE INDEX login_failures_at ON login_failures(at);

CREATE TABLE login_known_addresses (
  account         TEXT NOT NULL,
  address         TEXT NOT NULL,
  last_success_at INTEGER NOT NULL,
  PRIMARY KEY (account, address)
) WITHOUT ROWID;
CREATE INDEX login_known_addresses_last_success ON login_known_addresses(last_success_at);
`;
