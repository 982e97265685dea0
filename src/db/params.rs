//! `_params`: internal key/value parameters (token secrets and other instance state).

use rusqlite::{Connection, OptionalExtension};

use crate::util::now_string;

pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM _params WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

pub fn set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    let now = now_string();
    conn.prepare_cached(
        "INSERT INTO _params (key, value, created, updated) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
    )?
    .execute((key, value, now))?;
    Ok(())
}

/// The value under `key`, or `make()` stored under it first. Call inside a write.
pub fn get_or_init(
    conn: &Connection,
    key: &str,
    make: impl FnOnce() -> String,
) -> rusqlite::Result<String> {
    if let Some(v) = get(conn, key)? {
        return Ok(v);
    }
    let v = make();
    set(conn, key, &v)?;
    Ok(v)
}
