-- Key/value store for internal parameters (token secrets, instance settings).
CREATE TABLE _params (
    key     TEXT PRIMARY KEY NOT NULL,
    value   TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
) STRICT;

-- The system auth collection `_superusers` (collection id pbc_3142635823).
CREATE TABLE _superusers (
    id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15),
    email           TEXT NOT NULL COLLATE NOCASE CHECK (email != ''),
    emailVisibility INTEGER NOT NULL DEFAULT 0 CHECK (emailVisibility IN (0, 1)),
    verified        INTEGER NOT NULL DEFAULT 1 CHECK (verified IN (0, 1)),
    password        TEXT NOT NULL,
    tokenKey        TEXT NOT NULL,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX idx_email_pbc_3142635823 ON _superusers (email COLLATE NOCASE);
CREATE UNIQUE INDEX idx_tokenKey_pbc_3142635823 ON _superusers (tokenKey);
CREATE INDEX idx_created_pbc_3142635823 ON _superusers (created);
