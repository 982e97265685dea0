//! `_files_queue`: the files no committed record names, written inside the transaction
//! that makes them so (see migrations/data/0006_files_queue.sql). SQL only; the drain
//! loop that removes them from storage is [`super::Files::drain`].

use rusqlite::{Connection, OptionalExtension};

use crate::util::now_string;

/// A file of a write in progress: removed unless the write's transaction claims it.
pub fn add_upload(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _files_queue (key, kind, created) VALUES (?1, 'upload', ?2)
         ON CONFLICT (key) DO NOTHING",
    )?
    .execute((key, now_string()))?;
    Ok(())
}

/// The write that stored `key` committed with a record naming it: keep the file.
pub fn claim(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM _files_queue WHERE key = ?1 AND kind = 'upload'")?
        .execute([key])?;
    Ok(())
}

/// `key` (a file, or a folder ending in `/`) is no longer named by any record.
pub fn add_delete(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _files_queue (key, kind, created) VALUES (?1, 'delete', ?2)
         ON CONFLICT (key) DO UPDATE SET kind = 'delete'",
    )?
    .execute((key, now_string()))?;
    Ok(())
}

/// Up to `limit` entries to remove now: every `delete`, and `upload` entries created
/// before `orphan_before` (their write is long over: it failed or the server died).
pub fn due(conn: &Connection, orphan_before: &str, limit: usize) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key FROM _files_queue WHERE kind = 'delete' OR created < ?1
         ORDER BY attempts, created LIMIT ?2",
    )?;
    let rows = stmt.query_map((orphan_before, limit as i64), |r| r.get(0))?;
    rows.collect()
}

/// `key` is gone from storage.
pub fn done(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM _files_queue WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Removing `key` failed; it is tried again later, after the others.
pub fn failed(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE _files_queue SET attempts = attempts + 1 WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// How many entries wait (tests, metrics).
pub fn len(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM _files_queue", [], |r| r.get(0))
}

/// The kind of `key`'s entry, if any.
pub fn kind(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT kind FROM _files_queue WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}
