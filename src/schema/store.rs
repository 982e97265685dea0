//! The `_collections` table: one row per collection, its definition as JSON.

use rusqlite::Connection;
use serde_json::Value;

use super::collection::Collection;
use super::SchemaError;

/// A stored row: the definition JSON and the bookkeeping columns.
pub struct StoredCollection {
    pub id: String,
    pub name: String,
    pub system: bool,
    pub definition: Value,
    pub created: String,
    pub updated: String,
}

pub fn load_all(conn: &Connection) -> Result<Vec<StoredCollection>, SchemaError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, system, definition, created, updated FROM _collections ORDER BY created, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, system, text, created, updated) = row?;
        let definition = serde_json::from_str(&text).map_err(|e| SchemaError::Corrupt {
            name: name.clone(),
            message: e.to_string(),
        })?;
        out.push(StoredCollection {
            id,
            name,
            system,
            definition,
            created,
            updated,
        });
    }
    Ok(out)
}

pub fn insert(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    conn.prepare_cached(
        "INSERT INTO _collections (id, name, type, system, definition, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        &c.id,
        &c.name,
        c.kind.as_str(),
        c.system,
        c.stored_json().to_string(),
        &c.created,
        &c.updated,
    ))?;
    Ok(())
}

pub fn update(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    conn.prepare_cached(
        "UPDATE _collections SET name = ?2, definition = ?3, updated = ?4 WHERE id = ?1",
    )?
    .execute((&c.id, &c.name, c.stored_json().to_string(), &c.updated))?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> Result<(), SchemaError> {
    conn.prepare_cached("DELETE FROM _collections WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

const VERSION_KEY: &str = "collections.version";

/// The registry version: bumped by every collection change, in the same transaction.
pub fn version(conn: &Connection) -> Result<u64, SchemaError> {
    Ok(crate::db::params::get(conn, VERSION_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub fn bump_version(conn: &Connection) -> Result<u64, SchemaError> {
    let next = version(conn)? + 1;
    crate::db::params::set(conn, VERSION_KEY, &next.to_string())?;
    Ok(next)
}

/// Record a collection migration file as applied to (or written from) this database.
pub fn record_migration(conn: &Connection, file: &str) -> Result<(), SchemaError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO _collection_migrations (file, applied) VALUES (?1, ?2)",
    )?
    .execute((file, crate::util::now_string()))?;
    Ok(())
}

/// Applied collection migration files with when they were applied.
pub fn applied_migrations(conn: &Connection) -> Result<Vec<(String, String)>, SchemaError> {
    let mut stmt =
        conn.prepare_cached("SELECT file, applied FROM _collection_migrations ORDER BY file")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
