//! Collection migration files on the service: which are applied, replaying the pending
//! ones, and writing a snapshot file of every collection as it is now.

use std::path::PathBuf;

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::files::{self, Record};
use super::{create_in, delete_in, import_in, update_in};
use super::{Collections, CollectionsError, Origin};
use crate::schema::{store, SchemaError, Snapshot};

impl Collections {
    /// Migration files in the folder and whether each is applied to this database.
    pub async fn migration_status(
        &self,
    ) -> Result<Vec<(String, Option<String>)>, CollectionsError> {
        let Some(dir) = &self.migrations_dir else {
            return Ok(Vec::new());
        };
        let names = files::list(dir).map_err(|e| io_error(dir, e))?;
        let applied = self
            .db
            .read(|conn| -> Result<_, CollectionsError> { Ok(store::applied_migrations(conn)?) })
            .await?;
        Ok(names
            .into_iter()
            .map(|n| {
                let at = applied
                    .iter()
                    .find(|(f, _)| f == &n)
                    .map(|(_, a)| a.clone());
                (n, at)
            })
            .collect())
    }

    /// Apply every pending migration file, in order, each in its own transaction. Stops
    /// at the first failure (naming the file); returns the files applied.
    pub async fn migrate_up(&self) -> Result<Vec<String>, CollectionsError> {
        let Some(dir) = self.migrations_dir.clone() else {
            return Ok(Vec::new());
        };
        let mut applied = Vec::new();
        for (name, at) in self.migration_status().await? {
            if at.is_some() {
                continue;
            }
            let text = std::fs::read_to_string(dir.join(&name)).map_err(|e| io_error(&dir, e))?;
            let body: Value = serde_json::from_str(&text)
                .map_err(|e| file_error(&name, format!("not valid JSON: {e}")))?;
            let file = name.clone();
            self.change(Origin::Replay(name.clone()), move |conn, snapshot| {
                apply_record(conn, snapshot, &body)
                    .map_err(|e| file_error(&file, e.to_string()))?;
                Ok(((), None))
            })
            .await?;
            applied.push(name);
        }
        Ok(applied)
    }

    /// Write one file that recreates every non-system collection as it is now (an import
    /// with `deleteMissing`), recorded as applied here. Returns its path.
    pub async fn write_snapshot(&self) -> Result<Option<PathBuf>, CollectionsError> {
        let Some(dir) = self.migrations_dir.clone() else {
            return Ok(None);
        };
        let snapshot = self.snapshot();
        let collections: Vec<Value> = snapshot
            .all()
            .iter()
            .filter(|c| !c.system)
            .map(|c| c.to_json())
            .collect();
        let record = Record::new(
            "import",
            "snapshot",
            json!({"collections": collections, "deleteMissing": true}),
        );
        let name = record.file_name(snapshot.version);
        let path = files::write(&dir, &name, &record).map_err(|e| io_error(&dir, e))?;
        self.db
            .write(move |conn: &Connection| -> Result<(), CollectionsError> {
                Ok(store::record_migration(conn, &name)?)
            })
            .await?;
        Ok(Some(path))
    }
}

fn io_error(dir: &std::path::Path, e: std::io::Error) -> CollectionsError {
    CollectionsError::Schema(SchemaError::Corrupt {
        name: dir.display().to_string(),
        message: e.to_string(),
    })
}

fn file_error(file: &str, message: String) -> SchemaError {
    SchemaError::Corrupt {
        name: format!("migration file {file}"),
        message,
    }
}

fn as_object(v: Option<&Value>) -> Result<Map<String, Value>, SchemaError> {
    match v {
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(SchemaError::invalid(
            "collection",
            "validation_invalid_value",
            "expected a collection object",
        )),
    }
}

/// Replay one migration file's change.
fn apply_record(conn: &Connection, snapshot: &Snapshot, body: &Value) -> Result<(), SchemaError> {
    let str_of = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    match body.get("action").and_then(Value::as_str) {
        Some("create") => {
            create_in(conn, snapshot, &as_object(body.get("collection"))?)?;
        }
        Some("update") => {
            let mut c = as_object(body.get("collection"))?;
            if let Some(r) = body.get("rename").filter(|r| !r.is_null()) {
                c.insert("rename".into(), r.clone());
            }
            update_in(conn, snapshot, &str_of("id"), c)?;
        }
        Some("delete") => {
            delete_in(conn, snapshot, &str_of("id"))?;
        }
        Some("import") => {
            let list = match body.get("collections") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| as_object(Some(v)))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(SchemaError::invalid(
                        "collections",
                        "validation_invalid_value",
                        "expected an array",
                    ))
                }
            };
            let delete_missing = body
                .get("deleteMissing")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            import_in(conn, list, delete_missing)?;
        }
        other => {
            return Err(SchemaError::invalid(
                "action",
                "validation_invalid_value",
                format!("unknown action {other:?}"),
            ))
        }
    }
    Ok(())
}
