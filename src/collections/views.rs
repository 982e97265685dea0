//! View collections during a change: inferring a view's schema from its query and
//! recreating every view after the tables under them changed.

use rusqlite::Connection;
use serde_json::Value;

use crate::schema::collection::Collection;
use crate::schema::{ddl, SchemaError, Snapshot};

/// Infer a view's schema; the other views are recreated first so a view may read one.
pub(super) fn view_schema(
    conn: &Connection,
    snapshot: &Snapshot,
    query: &str,
    except: Option<&str>,
) -> Result<Value, SchemaError> {
    for v in snapshot
        .all()
        .iter()
        .filter(|c| c.is_view() && Some(c.id.as_str()) != except)
    {
        ddl::drop_view(conn, &v.name)?;
        ddl::create_view(conn, v)?;
    }
    let lookup = |table: &str| snapshot.get(table).cloned();
    let schema = ddl::infer_view_schema(conn, query, &lookup);
    for v in snapshot.all().iter().filter(|c| c.is_view()) {
        ddl::drop_view(conn, &v.name)?;
    }
    schema
}

/// (Re)create the SQL view of every view collection and check each one runs.
pub(super) fn recreate_views(conn: &Connection, snapshot: &Snapshot) -> Result<(), SchemaError> {
    let views: Vec<&Collection> = snapshot
        .all()
        .iter()
        .filter(|c| c.is_view())
        .map(|c| &**c)
        .collect();
    for v in &views {
        ddl::drop_view(conn, &v.name)?;
    }
    for v in &views {
        ddl::create_view(conn, v).map_err(|e| {
            SchemaError::invalid(
                "name",
                "validation_view_dependency",
                format!("The view collection {:?} would break: {e}.", v.name),
            )
        })?;
    }
    ddl::check_views(conn, &views)
}
