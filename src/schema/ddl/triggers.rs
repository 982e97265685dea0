//! Triggers: the system delete triggers of a collection's table (OAuth2 links, the
//! queue of stored files), created with the table or added to older ones.

use rusqlite::Connection;

use crate::schema::collection::Collection;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, SchemaError};

/// Triggers Keelbase adds to the table of a user auth collection, by name: deleting a
/// record deletes its OAuth2 links (`_externalAuths`), whether the delete comes from the
/// API, a truncate or a relation cascade. A link that outlived its record could attach a
/// provider account to a later record created with the same id.
///
/// Collections with an `x-file` property get a second one: deleting a record queues its
/// folder of stored files for removal (`_files_queue`, see `files`), in the deleting
/// transaction, however the delete comes. (It stays when the last file property goes;
/// it then queues folders that hold nothing, which is harmless.)
pub(super) fn system_triggers(c: &Collection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if c.is_view() || c.system {
        return out;
    }
    let id = c.id.replace('\'', "''");
    if c.is_auth() {
        let name = format!("_trg_{}_externalAuths", c.id);
        let sql = format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {} BEGIN \
             DELETE FROM _externalAuths WHERE collectionRef = '{id}' AND recordRef = OLD.\"id\"; END",
            q(&name),
            q(&c.name),
        );
        out.push((name, sql));
    }
    if c.fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::File(_)))
    {
        let name = format!("_trg_{}_files", c.id);
        let sql = format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {} BEGIN \
             INSERT INTO _files_queue (key, kind, created) \
             VALUES ('{id}/' || OLD.\"id\" || '/', 'delete', strftime('%Y-%m-%d %H:%M:%fZ', 'now')) \
             ON CONFLICT (key) DO UPDATE SET kind = 'delete'; END",
            q(&name),
            q(&c.name),
        );
        out.push((name, sql));
    }
    out
}

/// Create the system triggers of `c` that are missing (tables made before they existed).
pub fn ensure_triggers(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    for (_, sql) in system_triggers(c) {
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

/// Whether every system trigger of `c` exists.
pub fn has_triggers(conn: &Connection, c: &Collection) -> Result<bool, SchemaError> {
    for (name, _) in system_triggers(c) {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(false);
        }
    }
    Ok(true)
}
