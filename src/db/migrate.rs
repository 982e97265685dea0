//! System migrations: the numbered SQL files under `migrations/`, embedded in the binary.
//!
//! All pending files of a set apply in one `BEGIN IMMEDIATE` transaction, in number order,
//! and each is recorded in `_migrations`; a failure applies none of them. A database that
//! records a migration this binary does not know was written by a newer Keelbase and is
//! refused rather than run with a schema we do not understand.

use rusqlite::Connection;
use rust_embed::RustEmbed;

use super::DbError;

#[derive(RustEmbed)]
#[folder = "migrations/"]
#[include = "*.sql"]
struct Files;

/// Which database a migration set belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationSet {
    Data,
    Aux,
}

impl MigrationSet {
    fn folder(self) -> &'static str {
        match self {
            Self::Data => "data/",
            Self::Aux => "aux/",
        }
    }
}

/// One embedded migration file.
#[derive(Clone, Debug)]
pub struct Migration {
    pub name: String,
    pub number: u32,
    pub sql: String,
}

/// The embedded migrations of `set`, in order.
pub fn embedded(set: MigrationSet) -> Vec<Migration> {
    let mut all: Vec<Migration> = Files::iter()
        .filter_map(|path| {
            let name = path
                .strip_prefix(set.folder())?
                .strip_suffix(".sql")?
                .to_owned();
            let number = name.split('_').next()?.parse().ok()?;
            let file = Files::get(&path)?;
            let sql = String::from_utf8_lossy(&file.data).into_owned();
            Some(Migration { name, number, sql })
        })
        .collect();
    all.sort_by_key(|m| m.number);
    all
}

/// A migration's state in one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    pub name: String,
    /// When it was applied, or `None` when pending.
    pub applied: Option<String>,
}

fn ensure_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _migrations (
            name    TEXT PRIMARY KEY NOT NULL,
            applied TEXT NOT NULL
        ) STRICT",
    )
}

fn applied(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare("SELECT name, applied FROM _migrations ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Applied and pending migrations of `set` in this database.
pub fn status(conn: &Connection, set: MigrationSet) -> Result<Vec<MigrationStatus>, DbError> {
    let done = applied(conn)?;
    let known = embedded(set);
    if let Some((name, _)) = done
        .iter()
        .find(|(n, _)| !known.iter().any(|m| &m.name == n))
    {
        return Err(DbError::Migration {
            name: name.clone(),
            message: "recorded in this database but unknown to this keelbase binary \
                      (was the data folder used by a newer version?)"
                .into(),
        });
    }
    Ok(known
        .into_iter()
        .map(|m| MigrationStatus {
            applied: done
                .iter()
                .find(|(n, _)| n == &m.name)
                .map(|(_, a)| a.clone()),
            name: m.name,
        })
        .collect())
}

/// Apply every pending migration of `set` in one transaction; returns the names applied.
pub fn apply(conn: &mut Connection, set: MigrationSet) -> Result<Vec<String>, DbError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    ensure_table(&tx)?;
    let pending: Vec<String> = status(&tx, set)?
        .into_iter()
        .filter(|s| s.applied.is_none())
        .map(|s| s.name)
        .collect();
    let all = embedded(set);
    for name in &pending {
        let m = all
            .iter()
            .find(|m| &m.name == name)
            .expect("pending names come from `all`");
        tx.execute_batch(&m.sql).map_err(|e| DbError::Migration {
            name: m.name.clone(),
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO _migrations (name, applied) VALUES (?1, ?2)",
            (&m.name, crate::util::now_string()),
        )?;
    }
    tx.commit()?;
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_are_numbered_from_one_without_gaps() {
        for set in [MigrationSet::Data, MigrationSet::Aux] {
            let all = embedded(set);
            assert!(!all.is_empty(), "{set:?} has migrations");
            for (i, m) in all.iter().enumerate() {
                assert_eq!(
                    m.number as usize,
                    i + 1,
                    "{set:?}: {} is out of sequence",
                    m.name
                );
            }
        }
    }

    #[test]
    fn apply_runs_each_migration_once_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = apply(&mut conn, MigrationSet::Data).unwrap();
        assert_eq!(
            first,
            embedded(MigrationSet::Data)
                .into_iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
        );
        assert!(
            apply(&mut conn, MigrationSet::Data).unwrap().is_empty(),
            "second run applies nothing"
        );
        let st = status(&conn, MigrationSet::Data).unwrap();
        assert!(st.iter().all(|s| s.applied.is_some()));
    }

    #[test]
    fn unknown_recorded_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, MigrationSet::Data).unwrap();
        conn.execute("INSERT INTO _migrations VALUES ('9999_future', 'x')", [])
            .unwrap();
        let err = apply(&mut conn, MigrationSet::Data)
            .unwrap_err()
            .to_string();
        assert!(err.contains("9999_future"), "{err}");
    }

    #[test]
    fn a_failing_migration_applies_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        // Occupy a name the first migration creates, so it fails half-way.
        conn.execute_batch("CREATE TABLE _superusers (x)").unwrap();
        assert!(apply(&mut conn, MigrationSet::Data).is_err());
        let params: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = '_params'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(params, 0, "the transaction rolled back");
    }
}
