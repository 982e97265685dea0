//! Creating a collection: compile the definition, check its expressions, make its table
//! (or view) and store it.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::expressions::{check_expressions, index_where};
use super::views::view_schema;
use crate::schema::collection::{compile, Collection, Definition};
use crate::schema::{ddl, store, SchemaError, Snapshot};
use crate::util::now_string;

pub(super) fn create_in(
    conn: &Connection,
    snapshot: &Snapshot,
    body: &Map<String, Value>,
) -> Result<Collection, SchemaError> {
    let now = now_string();
    let resolve = |k: &str| snapshot.reference(k);
    let mut body = body.clone();
    if body.get("type").and_then(Value::as_str) == Some("view") {
        let query = body
            .get("viewQuery")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        body.insert("schema".into(), view_schema(conn, snapshot, &query, None)?);
    }
    let body = &body;
    let c = compile(
        Definition {
            body,
            existing: None,
            system: false,
            now: &now,
            trusted: false,
        },
        &resolve,
    )?;
    check_expressions(snapshot, &c)?;
    if c.is_view() {
        ddl::create_view(conn, &c)?;
    } else {
        let table_of = |k: &str| snapshot.table_of(k);
        ddl::create(conn, &c, &table_of, &index_where)?;
    }
    store::insert(conn, &c)?;
    Ok(c)
}
