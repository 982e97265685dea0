//! Deleting a collection: refused for system collections and for those others relate to;
//! drops the table (or view), its OAuth2 links and its definition.

use std::sync::Arc;

use rusqlite::Connection;

use crate::schema::collection::Collection;
use crate::schema::{ddl, store, SchemaError, Snapshot};

pub(super) fn delete_in(
    conn: &Connection,
    snapshot: &Snapshot,
    key: &str,
) -> Result<Arc<Collection>, SchemaError> {
    let c = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if c.system {
        return Err(SchemaError::System);
    }
    let referencing = snapshot.referencing(&c);
    if !referencing.is_empty() {
        return Err(SchemaError::Referenced(referencing));
    }
    if c.is_view() {
        ddl::drop_view(conn, &c.name)?;
    } else {
        // DROP TABLE fires no delete trigger: the OAuth2 links go here.
        crate::db::external_auths::delete_for_collection(conn, &c.id)?;
        ddl::drop_table(conn, &c)?;
    }
    store::delete(conn, &c.id)?;
    Ok(c)
}
