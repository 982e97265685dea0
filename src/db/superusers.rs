//! Rows of the `_superusers` system auth collection.

use rusqlite::{Connection, OptionalExtension, Row};

/// A stored superuser, password hash and token key included (never serialise this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuperuserRow {
    pub id: String,
    pub email: String,
    pub email_visibility: bool,
    pub verified: bool,
    pub password_hash: String,
    pub token_key: String,
    pub created: String,
    pub updated: String,
}

const COLUMNS: &str = "id, email, emailVisibility, verified, password, tokenKey, created, updated";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SuperuserRow> {
    Ok(SuperuserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        email_visibility: r.get(2)?,
        verified: r.get(3)?,
        password_hash: r.get(4)?,
        token_key: r.get(5)?,
        created: r.get(6)?,
        updated: r.get(7)?,
    })
}

/// Case-insensitive (ASCII) lookup by email.
pub fn find_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<SuperuserRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _superusers WHERE email = ?1 COLLATE NOCASE"
    ))?
    .query_row([email], from_row)
    .optional()
}

pub fn find_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<SuperuserRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM _superusers WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM _superusers")?
        .query_row([], |r| r.get(0))
}

pub fn insert(conn: &Connection, row: &SuperuserRow) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO _superusers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute((
        &row.id,
        &row.email,
        row.email_visibility,
        row.verified,
        &row.password_hash,
        &row.token_key,
        &row.created,
        &row.updated,
    ))?;
    Ok(())
}

/// Set a new password hash and token key (which ends every token issued before).
pub fn set_password(
    conn: &Connection,
    id: &str,
    password_hash: &str,
    token_key: &str,
    updated: &str,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE _superusers SET password = ?2, tokenKey = ?3, updated = ?4 WHERE id = ?1",
    )?
    .execute((id, password_hash, token_key, updated))
}

pub fn delete_by_email(conn: &Connection, email: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM _superusers WHERE email = ?1 COLLATE NOCASE")?
        .execute([email])
}
