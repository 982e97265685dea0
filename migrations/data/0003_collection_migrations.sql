-- Collection migration files (kb_migrations/*.json) applied to, or written from, this
-- database. A file recorded here is never applied again.
CREATE TABLE _collection_migrations (
    file    TEXT PRIMARY KEY NOT NULL,
    applied TEXT NOT NULL
) STRICT;
