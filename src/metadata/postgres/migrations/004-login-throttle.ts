// The login throttle's state (src/auth/login-throttle.ts), shared by every replica: the tables of the
// SQLite schema's migration 005, for PostgreSQL. Failed logins under each key they count for
// (`account:<name>`, `source:<address>`), in the order recorded (id), and the addresses each account
// logged in from, with the time of the last success there. Neither refers to accounts: htpasswd users
// have no row there, and rows of a deleted account age out with the rest. Times are ms since the
// epoch (BIGINT); both tables are pruned by time on every write (the `at` indexes).
export const up = `
CREATE TABLE login_failures (
  id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key    TEXT COLLATE "C" NOT NULL,
  source TEXT COLLATE "C" NOT NULL,
  at     BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(key, at);
CREATE INDEX login_failures_at ON login_failures(at);

CREATE TABLE login_known_addresses (
  account         TEXT COLLATE "C" NOT NULL,
  address         TEXT COLLATE "C" NOT NULL,
  last_success_at BIGINT NOT NULL,
  PRIMARY KEY (account, address)
);
CREATE INDEX login_known_addresses_last_success ON login_known_addresses(last_success_at);
`;
