//! File properties in a write: the names of new uploads merged into the body as
//! PocketBase's multipart does, the check that a record names only files it has or is
//! given, and the `_files_queue` rows the write's transaction writes (see `files`).

use std::collections::HashSet;

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::FieldErrors;
use crate::files::{name, queue};
use crate::schema::field::FieldKind;
use crate::schema::Collection;

/// A new upload of a write: its property, whether it is appended (`field+`), its stored
/// name.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub field: String,
    pub append: bool,
    pub name: String,
}

/// The file names a stored or written value holds.
pub use crate::schema::value::string_list as names;

/// Put the names of `uploads` into `body`: a part named `f` sets the property to the names
/// the body gives for `f` (if any) plus its uploads; `f+` appends its uploads to the
/// names the body appends.
pub fn merge_uploads(body: &mut Map<String, Value>, uploads: &[NewFile]) {
    for u in uploads {
        let key = if u.append {
            format!("{}+", u.field)
        } else {
            u.field.clone()
        };
        let mut list = match body.remove(&key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => vec![other],
        };
        list.push(json!(u.name));
        body.insert(key, Value::Array(list));
    }
}

/// For each file property of `collection`: names in `after` that are neither in
/// `before` nor new are an error (PocketBase's `validation_invalid_file`); the rest is
/// the queue's business: new names kept are claimed, new names dropped and old names
/// gone are queued for removal. Call inside the write's transaction, after every other
/// check passed.
pub fn settle(
    conn: &Connection,
    collection: &Collection,
    record_id: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    new: &[NewFile],
    errors: &mut FieldErrors,
) -> rusqlite::Result<()> {
    let mut plan: Vec<(String, bool)> = Vec::new();
    for f in &collection.fields {
        if !matches!(f.kind, FieldKind::File(_)) {
            continue;
        }
        let old: HashSet<String> = before
            .get(&f.name)
            .map(names)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let now: Vec<String> = after.get(&f.name).map(names).unwrap_or_default();
        let added: HashSet<&str> = new
            .iter()
            .filter(|n| n.field == f.name)
            .map(|n| n.name.as_str())
            .collect();
        let invalid: Vec<&String> = now
            .iter()
            .filter(|n| !old.contains(*n) && !added.contains(n.as_str()))
            .collect();
        if !invalid.is_empty() {
            let list: Vec<&str> = invalid.iter().map(|s| s.as_str()).collect();
            errors.insert(
                f.name.clone(),
                json!({
                    "code": "validation_invalid_file",
                    "message": format!("Invalid new files: [{}].", list.join(" ")),
                    "params": {"invalidFiles": list},
                }),
            );
            continue;
        }
        let now: HashSet<&str> = now.iter().map(String::as_str).collect();
        for n in &added {
            plan.push((name::key(&collection.id, record_id, n), now.contains(n)));
        }
        for n in old.iter().filter(|n| !now.contains(n.as_str())) {
            if name::is_stored_name(n) {
                plan.push((name::key(&collection.id, record_id, n), false));
            }
        }
    }
    if !errors.is_empty() {
        return Ok(());
    }
    for (key, keep) in plan {
        if keep {
            queue::claim(conn, &key)?;
        } else {
            queue::add_delete(conn, &key)?;
        }
    }
    Ok(())
}
