// Accounts (users and robots), namespaces and who holds which role in them (src/auth/model.ts).
// Names are the keys: account names are unique across kinds (robots carry the `robot+` prefix).
export const up = `
CREATE TABLE accounts (
  name               TEXT PRIMARY KEY,
  kind               TEXT NOT NULL CHECK (kind IN ('user', 'robot')),
  admin              INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
  secret_hash        TEXT NOT NULL,
  credential_version INTEGER NOT NULL DEFAULT 1,
  description        TEXT,
  created_at         INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE namespaces (
  name       TEXT PRIMARY KEY,
  public     INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE namespace_members (
  namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
  account   TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  role      TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
  PRIMARY KEY (namespace, account)
) WITHOUT ROWID;
CREATE INDEX namespace_members_account ON namespace_members(account);
`;
