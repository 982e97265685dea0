-- Stored files waiting to be removed (issue 10, RELIABILITY.md R-4). A row is written in
-- the same transaction as the change that leaves its file unreferenced, so a crash can
-- neither lose the removal nor remove a file a committed record still names:
--   kind 'upload': a file being stored for a write that has not committed yet; the write's
--     transaction deletes the row when the record names the file. A row that outlives its
--     write (the write failed, or the server died) is an orphan and is removed.
--   kind 'delete': a file (or a record's whole folder, `key` ending in '/') no committed
--     record names any more.
-- The files service drains the table after each commit and at start, retrying failures.
CREATE TABLE _files_queue (
    key      TEXT PRIMARY KEY NOT NULL CHECK (key != ''),
    kind     TEXT NOT NULL CHECK (kind IN ('upload', 'delete')),
    created  TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
) STRICT;
