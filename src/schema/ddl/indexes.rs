//! Indexes: the ones Keelbase adds to every table (created, auth email/tokenKey, one per
//! single-relation column) and the declared ones, with the error naming duplicate rows.

use rusqlite::Connection;

use super::triggers::ensure_triggers;
use super::{IndexWhere, MAX_IDS};
use crate::schema::collection::{Collection, IndexDef};
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, SchemaError};

/// Indexes Keelbase adds to every table of this collection, by name.
pub(super) fn system_indexes(c: &Collection) -> Vec<(String, String)> {
    let t = q(&c.name);
    let mut v = vec![(
        format!("_idx_{}_created", c.id),
        format!(
            "CREATE INDEX {} ON {t} (\"created\")",
            q(&format!("_idx_{}_created", c.id))
        ),
    )];
    if c.is_auth() {
        let token = format!("_idx_{}_tokenKey", c.id);
        let email = format!("_idx_{}_email", c.id);
        v.push((
            token.clone(),
            format!(
                "CREATE UNIQUE INDEX {} ON {t} (\"tokenKey\") WHERE \"tokenKey\" != ''",
                q(&token)
            ),
        ));
        v.push((
            email.clone(),
            format!(
                "CREATE UNIQUE INDEX {} ON {t} (\"email\") WHERE \"email\" != ''",
                q(&email)
            ),
        ));
    }
    for f in &c.fields {
        if matches!(&f.kind, FieldKind::Relation(r) if !r.multiple) {
            let name = format!("_idx_{}_{}", c.id, f.name);
            v.push((
                name.clone(),
                format!("CREATE INDEX {} ON {t} ({})", q(&name), q(&f.name)),
            ));
        }
    }
    v
}

pub(super) fn index_sql(c: &Collection, i: &IndexDef, where_sql: Option<&str>) -> String {
    let cols: Vec<String> = i.fields.iter().map(|f| q(f)).collect();
    let condition = where_sql.map_or_else(String::new, |w| format!(" WHERE {w}"));
    format!(
        "CREATE {}INDEX {} ON {} ({}){condition}",
        if i.unique { "UNIQUE " } else { "" },
        q(&i.name),
        q(&c.name),
        cols.join(", ")
    )
}

/// Ids of up to [`MAX_IDS`] rows that share their values of `fields` with another row.
pub(super) fn duplicate_ids(
    conn: &Connection,
    c: &Collection,
    fields: &[String],
) -> Result<Vec<String>, SchemaError> {
    let cols: Vec<String> = fields.iter().map(|f| q(f)).collect();
    let cols = cols.join(", ");
    let sql = format!(
        "SELECT \"id\" FROM {t} WHERE ({cols}) IN (SELECT {cols} FROM {t} GROUP BY {cols} HAVING count(*) > 1) ORDER BY \"id\" LIMIT {MAX_IDS}",
        t = q(&c.name)
    );
    let mut stmt = conn.prepare(&sql)?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

pub(super) fn create_user_index(
    conn: &Connection,
    c: &Collection,
    i: &IndexDef,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    let where_sql = index_where(c, i)?;
    match conn.execute_batch(&index_sql(c, i, where_sql.as_deref())) {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            if text.contains("already exists") {
                return Err(SchemaError::invalid(
                    "indexes",
                    "invalid_index",
                    format!(
                        "index name {:?} is already used by another collection",
                        i.name
                    ),
                ));
            }
            if i.unique && text.contains("UNIQUE") {
                let ids = duplicate_ids(conn, c, &i.fields)?;
                return Err(SchemaError::Violation {
                    message: format!(
                        "unique index {:?} on ({}): existing records share values",
                        i.name,
                        i.fields.join(", ")
                    ),
                    ids,
                });
            }
            Err(e.into())
        }
    }
}

pub(super) fn create_indexes(
    conn: &Connection,
    c: &Collection,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    for (_, sql) in system_indexes(c) {
        conn.execute_batch(&sql)?;
    }
    for i in &c.indexes {
        create_user_index(conn, c, i, index_where)?;
    }
    ensure_triggers(conn, c)
}
