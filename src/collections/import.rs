//! Importing a list of collections in one transaction: created or updated in passes (so
//! they may relate to each other in any order), optionally deleting the ones left out.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::create::create_in;
use super::delete::delete_in;
use super::update::update_in;
use crate::schema::{SchemaError, Snapshot};

pub(super) fn import_in(
    conn: &Connection,
    list: Vec<Map<String, Value>>,
    delete_missing: bool,
) -> Result<(), SchemaError> {
    // Collections of one import may relate to each other in any order: apply in passes,
    // retrying those that failed validation, until a pass makes no progress.
    let mut imported_ids: Vec<String> = Vec::new();
    let mut pending: Vec<(usize, Map<String, Value>)> = list.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = Vec::new();
        let mut first_error = None;
        for (i, body) in pending {
            let snapshot = Snapshot::load(conn)?;
            let existing = body
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| snapshot.get(id))
                .or_else(|| {
                    body.get("name")
                        .and_then(Value::as_str)
                        .and_then(|n| snapshot.get(n))
                })
                .map(|c| c.id.clone());
            let result = match existing {
                Some(id) => update_in(conn, &snapshot, &id, body.clone()),
                None => create_in(conn, &snapshot, &body),
            };
            match result {
                Ok(c) => imported_ids.push(c.id),
                Err(e @ SchemaError::Invalid { .. }) => {
                    first_error.get_or_insert((i, e));
                    failed.push((i, body));
                }
                Err(e) => return Err(prefix(i, e)),
            }
        }
        if failed.len() == before {
            let (i, e) = first_error.expect("a pass without progress recorded an error");
            return Err(prefix(i, e));
        }
        pending = failed;
    }
    if delete_missing {
        loop {
            let snapshot = Snapshot::load(conn)?;
            let missing: Vec<_> = snapshot
                .all()
                .iter()
                .filter(|c| !c.system && !imported_ids.contains(&c.id))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            // Delete first what nothing else (still present) relates to.
            let Some(c) = missing.iter().find(|c| snapshot.referencing(c).is_empty()) else {
                return Err(SchemaError::Referenced(snapshot.referencing(&missing[0])));
            };
            delete_in(conn, &snapshot, &c.id)?;
        }
    }
    Ok(())
}

fn prefix(i: usize, e: SchemaError) -> SchemaError {
    match e {
        SchemaError::Invalid {
            field,
            code,
            message,
        } => SchemaError::Invalid {
            field: format!("collections.{i}.{field}"),
            code,
            message,
        },
        other => other,
    }
}
