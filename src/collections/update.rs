//! Updating a collection: property renames, the system collections' limits, the table
//! migration, and the relations of other collections that named a renamed one.

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::expressions::{check_expressions, index_where};
use super::views::view_schema;
use crate::schema::collection::{compile, Collection, Definition};
use crate::schema::field::FieldKind;
use crate::schema::{ddl, store, SchemaError, Snapshot};
use crate::util::now_string;

/// Parse `rename: {old: new}` out of an update body.
fn take_renames(body: &mut Map<String, Value>) -> Result<Vec<(String, String)>, SchemaError> {
    match body.remove("rename") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(from, to)| match to {
                Value::String(to) => Ok((from, to)),
                _ => Err(SchemaError::invalid(
                    "rename",
                    "validation_invalid_value",
                    format!("/rename/{from}: must be the new property name"),
                )),
            })
            .collect(),
        Some(_) => Err(SchemaError::invalid(
            "rename",
            "validation_invalid_value",
            "Must be an object {\"oldName\": \"newName\"}.",
        )),
    }
}

pub(super) fn update_in(
    conn: &Connection,
    snapshot: &Snapshot,
    key: &str,
    mut body: Map<String, Value>,
) -> Result<Collection, SchemaError> {
    let old = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if old.system {
        // Of a system auth collection (`_superusers`) only the auth options may change
        // (OTP, MFA, token durations): the rest of its definition stays as shipped.
        // Other keys are accepted only unchanged (a migration file repeats the whole
        // definition).
        let Value::Object(mut full) = old.to_json() else {
            return Err(SchemaError::System);
        };
        let changes_more = body.iter().any(|(k, v)| {
            !matches!(k.as_str(), "auth" | "created" | "updated") && full.get(k) != Some(v)
        });
        if !old.is_auth() || !body.contains_key("auth") || changes_more {
            return Err(SchemaError::System);
        }
        full.insert("auth".into(), body.remove("auth").unwrap_or(Value::Null));
        body = full;
    }
    let renames = take_renames(&mut body)?;
    for (from, to) in &renames {
        if old.field(from).is_none() {
            return Err(SchemaError::invalid(
                "rename",
                "validation_invalid_value",
                format!("/rename/{from}: no such property"),
            ));
        }
        let declared = body
            .get("schema")
            .and_then(|s| s.get("properties"))
            .is_some_and(|p| p.get(to).is_some());
        if !declared {
            return Err(SchemaError::invalid(
                "rename",
                "validation_invalid_value",
                format!("/rename/{from}: the new schema must declare the property {to:?}"),
            ));
        }
    }
    let now = now_string();
    let resolve = |k: &str| snapshot.reference(k);
    if old.is_view() {
        let query = match body.get("viewQuery") {
            Some(Value::String(q)) => q.clone(),
            Some(_) => String::new(),
            None => old.view_query.clone().unwrap_or_default(),
        };
        body.insert(
            "schema".into(),
            view_schema(conn, snapshot, &query, Some(&old.id))?,
        );
    }
    let mut new = compile(
        Definition {
            body: &body,
            existing: Some(&old),
            system: old.system,
            now: &now,
            trusted: false,
        },
        &resolve,
    )?;
    // SECURITY: a new authRule logs out every record of the collection (PocketBase does the
    // same), so sessions granted under the old rule do not outlive it.
    if new.is_auth() && new.rules.auth != old.rules.auth {
        if let Some(auth) = new
            .auth
            .as_mut()
            .and_then(|a| a.get_mut("authToken"))
            .and_then(Value::as_object_mut)
        {
            auth.insert("secret".into(), json!(crate::util::random_string(50)));
        }
    }
    check_expressions(snapshot, &new)?;
    if !new.is_view() {
        let table_of = |k: &str| snapshot.table_of(k);
        ddl::update(conn, &old, &new, &renames, &table_of, &index_where)?;
    }
    store::update(conn, &new)?;
    if old.name != new.name {
        rename_references(conn, snapshot, &old, &new)?;
    }
    Ok(new)
}

/// After a collection rename, rewrite `x-relation.collection` in the schemas that named it.
fn rename_references(
    conn: &Connection,
    snapshot: &Snapshot,
    old: &Collection,
    new: &Collection,
) -> Result<(), SchemaError> {
    for other in snapshot.all().iter().filter(|c| c.id != old.id) {
        let mut changed = false;
        let mut schema = other.schema.clone();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for f in &other.fields {
                let FieldKind::Relation(r) = &f.kind else {
                    continue;
                };
                if r.collection.eq_ignore_ascii_case(&old.name) {
                    if let Some(rel) = props
                        .get_mut(&f.name)
                        .and_then(|p| p.get_mut("x-relation"))
                        .and_then(Value::as_object_mut)
                    {
                        rel.insert("collection".into(), json!(new.name));
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let mut updated = (**other).clone();
            updated.schema = schema;
            updated.updated = new.updated.clone();
            store::update(conn, &updated)?;
        }
    }
    Ok(())
}
