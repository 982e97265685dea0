//! Tables: the column definitions of a collection, and creating, dropping and emptying
//! its table.

use rusqlite::Connection;

use super::indexes::create_indexes;
use super::{IndexWhere, TargetTable};
use crate::schema::collection::Collection;
use crate::schema::field::{Field, FieldKind};
use crate::schema::{quote_ident as q, SchemaError};

pub(super) fn system_column_defs(c: &Collection) -> Vec<String> {
    let mut cols = vec![
        "\"id\" TEXT PRIMARY KEY NOT NULL CHECK (\"id\" != '')".to_owned(),
        "\"created\" TEXT NOT NULL DEFAULT ''".to_owned(),
        "\"updated\" TEXT NOT NULL DEFAULT ''".to_owned(),
    ];
    if c.is_auth() {
        cols.extend([
            "\"email\" TEXT NOT NULL DEFAULT '' COLLATE NOCASE".to_owned(),
            "\"emailVisibility\" INTEGER NOT NULL DEFAULT 0".to_owned(),
            "\"verified\" INTEGER NOT NULL DEFAULT 0".to_owned(),
            "\"password\" TEXT NOT NULL DEFAULT ''".to_owned(),
            "\"tokenKey\" TEXT NOT NULL DEFAULT ''".to_owned(),
        ]);
    }
    cols
}

/// The column definition of one field.
pub(super) fn column_def(
    f: &Field,
    target_table: TargetTable<'_>,
    self_table: &str,
    self_refs: &[&str],
) -> Result<String, SchemaError> {
    let mut def = format!("{} {}", q(&f.name), f.kind.sql_type().as_sql());
    match (&f.kind, f.kind.sql_default()) {
        (FieldKind::Relation(r), None) => {
            let table = if self_refs.contains(&r.collection.as_str()) {
                self_table.to_owned()
            } else {
                target_table(&r.collection).ok_or_else(|| {
                    SchemaError::invalid(
                        "schema",
                        "invalid_schema",
                        format!(
                            "/properties/{}/x-relation/collection: unknown collection {:?}",
                            f.name, r.collection
                        ),
                    )
                })?
            };
            let on_delete = if r.cascade_delete {
                "CASCADE"
            } else if f.required {
                "RESTRICT"
            } else {
                "SET NULL"
            };
            def.push_str(&format!(
                " DEFAULT NULL REFERENCES {}(\"id\") ON DELETE {on_delete}",
                q(&table)
            ));
        }
        (_, Some(default)) => def.push_str(&format!(" NOT NULL DEFAULT {default}")),
        (_, None) => {}
    }
    Ok(def)
}

pub(super) fn table_sql(
    c: &Collection,
    table: &str,
    target_table: TargetTable<'_>,
) -> Result<String, SchemaError> {
    let self_refs = [c.name.as_str(), c.id.as_str()];
    let mut cols = system_column_defs(c);
    for f in &c.fields {
        cols.push(column_def(f, target_table, &c.name, &self_refs)?);
    }
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) STRICT",
        q(table),
        cols.join(",\n  ")
    ))
}

/// Create the table of a new collection.
pub fn create(
    conn: &Connection,
    c: &Collection,
    target_table: TargetTable<'_>,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    conn.execute_batch(&table_sql(c, &c.name, target_table)?)?;
    create_indexes(conn, c, index_where)
}

/// Drop the table of a deleted collection (its indexes go with it).
/// Its stored files are queued for removal in the same transaction (see `files`).
pub fn drop_table(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", q(&c.name)))?;
    conn.execute(
        "INSERT INTO _files_queue (key, kind, created) \
         VALUES (?1, 'delete', strftime('%Y-%m-%d %H:%M:%fZ', 'now')) \
         ON CONFLICT (key) DO UPDATE SET kind = 'delete'",
        [format!("{}/", c.id)],
    )?;
    Ok(())
}

/// Delete every record; returns how many. Runs with foreign keys on (a normal write), so
/// cascades and RESTRICT apply.
pub fn truncate(conn: &Connection, c: &Collection) -> Result<usize, SchemaError> {
    Ok(conn.execute(&format!("DELETE FROM {}", q(&c.name)), [])?)
}
