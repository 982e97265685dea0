//! View collections: checking a view query (read-only, collection tables only) and
//! inferring its schema; creating, dropping and checking the SQL views.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::schema::collection::Collection;
use crate::schema::{quote_ident as q, SchemaError};

fn view_error(message: impl Into<String>) -> SchemaError {
    SchemaError::invalid("viewQuery", "validation_invalid_value", message)
}

/// Check a view query and infer its JSON Schema.
///
/// The query must be one read-only `SELECT` (or `WITH … SELECT`) with an `id` column and
/// a plain name for every column. It may read collection tables only: a query that
/// touches a system table (`_superusers`, `_params`, …) or selects `password`/`tokenKey`
/// is refused, since whatever a view returns can be exposed through the records API.
/// A column taken straight from a collection keeps that property's schema; other
/// columns get a type from their declared type, or none (a JSON value).
pub fn infer_view_schema(
    conn: &Connection,
    query: &str,
    collection_of_table: &dyn Fn(&str) -> Option<std::sync::Arc<Collection>>,
) -> Result<Value, SchemaError> {
    let query = query.trim().trim_end_matches(';').trim();
    if query.is_empty() {
        return Err(view_error("Cannot be blank."));
    }
    if query.len() > 20_000 {
        return Err(view_error("At most 20000 characters."));
    }
    let first = query
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if first != "SELECT" && first != "WITH" {
        return Err(view_error("Must be a single SELECT statement."));
    }
    let stmt = conn
        .prepare(query)
        .map_err(|e| view_error(format!("Invalid query: {e}.")))?;
    if !stmt.readonly() {
        return Err(view_error("Must be a read-only SELECT statement."));
    }
    // SECURITY: find every table the query reads (the b-trees it opens), whatever the
    // SQL text looks like, and refuse system tables.
    let mut explain = conn
        .prepare(&format!("EXPLAIN {query}"))
        .map_err(|e| view_error(format!("Invalid query: {e}.")))?;
    // EXPLAIN rows: addr, opcode, p1, p2, p3, …; OpenRead's p2 is a root page, p3 the
    // database (0 = main).
    let roots: Vec<i64> = explain
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .filter_map(Result::ok)
        .filter(|(op, _, db)| (op == "OpenRead" || op == "ReopenIdx") && *db == 0)
        .map(|(_, root, _)| root)
        .collect();
    for root in roots {
        if root == 1 {
            return Err(view_error(
                "Views cannot read the system table \"sqlite_master\".",
            ));
        }
        let table: Option<String> = conn
            .query_row(
                "SELECT tbl_name FROM sqlite_master WHERE rootpage = ?1",
                [root],
                |r| r.get(0),
            )
            .ok();
        if let Some(t) = table {
            if t.starts_with('_') || t.to_ascii_lowercase().starts_with("sqlite_") {
                return Err(view_error(format!(
                    "Views cannot read the system table {t:?}."
                )));
            }
        }
    }

    let decl: Vec<Option<String>> = stmt
        .columns()
        .iter()
        .map(|c| c.decl_type().map(str::to_owned))
        .collect();
    let mut properties = Map::new();
    let mut seen = std::collections::HashSet::new();
    let mut has_id = false;
    for (i, col) in stmt.columns_with_metadata().iter().enumerate() {
        let name = col.name();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 64;
        if !valid {
            return Err(view_error(format!(
                "Column {} ({name:?}) needs a plain name: add `AS some_name`.",
                i + 1
            )));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(view_error(format!("Two columns are named {name:?}.")));
        }
        let origin = col.table_name().zip(col.origin_name());
        if let Some((_, origin_col)) = origin {
            if origin_col == "password" || origin_col == "tokenKey" {
                return Err(view_error(format!(
                    "Column {name:?}: views cannot expose {origin_col}."
                )));
            }
        }
        if name == "id" {
            has_id = true;
            continue;
        }
        if ["collectionId", "collectionName", "expand"].contains(&name) {
            return Err(view_error(format!("Column {name:?} is a reserved name.")));
        }
        let from_collection = origin.and_then(|(table, column)| {
            let c = collection_of_table(table)?;
            if let Some(f) = c.field(column) {
                return Some(f.schema.clone());
            }
            match column {
                "created" | "updated" => {
                    Some(serde_json::json!({"type": "string", "format": "date-time"}))
                }
                "email" => Some(serde_json::json!({"type": "string"})),
                "emailVisibility" | "verified" => Some(serde_json::json!({"type": "boolean"})),
                "id" => Some(serde_json::json!({"type": "string"})),
                _ => None,
            }
        });
        let schema = from_collection.unwrap_or_else(|| {
            let t = decl[i].as_deref().unwrap_or("").to_ascii_uppercase();
            if t.contains("INT") {
                serde_json::json!({"type": "integer"})
            } else if t.contains("REAL")
                || t.contains("FLOA")
                || t.contains("DOUB")
                || t.contains("NUM")
            {
                serde_json::json!({"type": "number"})
            } else if t.contains("TEXT") || t.contains("CHAR") || t.contains("CLOB") {
                serde_json::json!({"type": "string"})
            } else {
                serde_json::json!({})
            }
        });
        properties.insert(name.to_owned(), schema);
    }
    if !has_id {
        return Err(view_error(
            "The query must return an \"id\" column (e.g. `SELECT id, …` or `… AS id`).",
        ));
    }
    Ok(serde_json::json!({"type": "object", "properties": properties}))
}

/// Create the SQL view of a view collection.
pub fn create_view(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    let query = c
        .view_query
        .as_deref()
        .unwrap_or("")
        .trim()
        .trim_end_matches(';');
    conn.execute_batch(&format!("CREATE VIEW {} AS {query}", q(&c.name)))?;
    Ok(())
}

pub fn drop_view(conn: &Connection, name: &str) -> Result<(), SchemaError> {
    conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", q(name)))?;
    Ok(())
}

/// After a change, check that every view still runs; `Err` names the first broken one.
pub fn check_views(conn: &Connection, views: &[&Collection]) -> Result<(), SchemaError> {
    for v in views {
        if let Err(e) = conn.prepare(&format!("SELECT * FROM {} LIMIT 0", q(&v.name))) {
            return Err(SchemaError::invalid(
                "name",
                "validation_view_dependency",
                format!("The view collection {:?} depends on this change's target and would break: {e}.", v.name),
            ));
        }
    }
    Ok(())
}
