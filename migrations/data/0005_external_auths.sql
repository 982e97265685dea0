-- OAuth2 links between auth records and provider accounts (PocketBase's `_externalAuths`,
-- API.md Part B §5.11). A plain system table for now: it is not a registered collection,
-- so the records API does not serve it yet. `collectionRef`/`recordRef` cannot be foreign
-- keys (collection tables are made at run time); each auth table gets a delete trigger
-- instead (schema/ddl.rs), and deleting a collection deletes its rows.
CREATE TABLE _externalAuths (
    id            TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15),
    collectionRef TEXT NOT NULL CHECK (collectionRef != ''),
    recordRef     TEXT NOT NULL CHECK (recordRef != ''),
    provider      TEXT NOT NULL CHECK (provider != ''),
    providerId    TEXT NOT NULL CHECK (providerId != ''),
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL
) STRICT;
-- One record per provider account, and one account per provider per record (as PocketBase).
CREATE UNIQUE INDEX _idx_externalAuths_provider ON _externalAuths (collectionRef, provider, providerId);
CREATE UNIQUE INDEX _idx_externalAuths_record ON _externalAuths (collectionRef, recordRef, provider);
