//! Opening connections with the PRAGMAs every Keelbase connection carries.

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use super::{DbError, DbOptions};

/// Wait this long for a lock held by another process (the CLI, a backup tool) before
/// giving up. Inside the server the writer is alone, so this is only a backstop.
pub(super) const BUSY_TIMEOUT_MS: u32 = 10_000;

fn common(conn: &Connection) -> rusqlite::Result<()> {
    // busy_timeout first: the journal_mode switch below may itself need the lock.
    conn.pragma_update(None, "busy_timeout", BUSY_TIMEOUT_MS)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    conn.pragma_update(None, "cache_size", -16_000)?; // KiB
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    crate::query::functions::register(conn)?;
    Ok(())
}

/// The one read-write connection of a database file (the writer thread's).
pub(super) fn open_writer(path: &Path, options: &DbOptions) -> Result<Connection, DbError> {
    let open = || -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        common(&conn)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!("cannot switch to WAL mode (got {mode})")),
            ));
        }
        conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
        conn.pragma_update(
            None,
            "journal_size_limit",
            options.journal_size_limit as i64,
        )?;
        // The checkpointer thread owns checkpoints, so a commit never pays for one.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(conn)
    };
    open().map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })
}

/// Initialise a pooled reader connection: it can never write.
pub(super) fn init_reader(conn: &mut Connection) -> rusqlite::Result<()> {
    common(conn)?;
    conn.pragma_update(None, "query_only", "ON")?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

/// A connection for the checkpointer: a short busy timeout so a pending RESTART/TRUNCATE
/// checkpoint never holds new writers back for long.
pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, DbError> {
    let open = || -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "busy_timeout", 100)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(conn)
    };
    open().map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })
}
