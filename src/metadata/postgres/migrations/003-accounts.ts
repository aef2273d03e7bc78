// Accounts (users and robots), namespaces and who holds which role in them (src/auth/model.ts): the
// tables of the SQLite schema's migration 002, for PostgreSQL. Names are the keys, unique across
// account kinds (robots carry the `robot+` prefix), and sort by bytes (COLLATE "C"). Times are ms
// since the epoch (BIGINT). The admin and public flags are BOOLEAN: the type is SQLite's 0/1 CHECK
// (and accepts the 0 and 1 that `berth db copy` reads from SQLite).
export const up = `
CREATE TABLE accounts (
  name               TEXT COLLATE "C" PRIMARY KEY,
  kind               TEXT NOT NULL CHECK (kind IN ('user', 'robot')),
  admin              BOOLEAN NOT NULL DEFAULT false,
  secret_hash        TEXT NOT NULL,
  credential_version INTEGER NOT NULL DEFAULT 1,
  description        TEXT,
  created_at         BIGINT NOT NULL
);

CREATE TABLE namespaces (
  name       TEXT COLLATE "C" PRIMARY KEY,
  public     BOOLEAN NOT NULL DEFAULT false,
  created_at BIGINT NOT NULL
);

CREATE TABLE namespace_members (
  namespace TEXT COLLATE "C" NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
  account   TEXT COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  role      TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
  PRIMARY KEY (namespace, account)
);
CREATE INDEX namespace_members_account ON namespace_members(account);
`;
