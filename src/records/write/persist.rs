//! Persistence: relation checks against the store, the row insert, and UNIQUE
//! violations reported as field errors.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{field_error, WriteError};
use crate::db::DbError;
use crate::schema::field::FieldKind;
use crate::schema::value::encode;
use crate::schema::{quote_ident as q, Collection, Snapshot};

/// The ids in `value` of relation `field` that do not exist in its target.
pub(super) fn missing_relations(
    conn: &Connection,
    snapshot: &Snapshot,
    kind: &FieldKind,
    value: &Value,
) -> Result<bool, WriteError> {
    let FieldKind::Relation(r) = kind else {
        return Ok(false);
    };
    let ids: Vec<String> = match value {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        return Ok(false);
    }
    if let Value::Array(a) = value {
        if a.iter().any(|v| !v.is_string()) {
            return Ok(true);
        }
    }
    let Some(target) = snapshot.get(&r.collection) else {
        return Ok(true);
    };
    let list = serde_json::to_string(&ids).unwrap_or_default();
    let found: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM {} WHERE \"id\" IN (SELECT value FROM json_each(?1))",
            q(&target.name)
        ))?
        .query_row([list], |r| r.get(0))?;
    Ok((found as usize) < ids.len())
}

/// The field named by a UNIQUE constraint error (`UNIQUE constraint failed: posts.title`).
pub(super) fn unique_field(e: &DbError) -> Option<String> {
    let DbError::Sqlite(rusqlite::Error::SqliteFailure(_, Some(message))) = e else {
        return None;
    };
    let cols = message.strip_prefix("UNIQUE constraint failed: ")?;
    let first = cols.split(',').next()?.trim();
    Some(first.rsplit('.').next().unwrap_or(first).to_owned())
}

/// A store error as a field error when it is a UNIQUE violation.
pub(super) fn not_unique(e: DbError) -> WriteError {
    match unique_field(&e) {
        Some(field) => WriteError::Invalid(
            [(
                field,
                field_error("validation_not_unique", "Value must be unique."),
            )]
            .into_iter()
            .collect(),
        ),
        None => e.into(),
    }
}

/// Insert the row for `record` (every column) into `collection`'s table.
pub(super) fn insert_row(
    conn: &Connection,
    collection: &Collection,
    record: &Map<String, Value>,
) -> Result<(), DbError> {
    let mut cols = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    for name in collection.system_fields() {
        cols.push(q(name));
        params.push(match record.get(name) {
            Some(Value::String(s)) => SqlValue::Text(s.clone()),
            Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
            _ => SqlValue::Text(String::new()),
        });
    }
    for f in &collection.fields {
        cols.push(q(&f.name));
        params.push(encode(
            &f.kind,
            record.get(&f.name).unwrap_or(&f.kind.zero_value()),
        ));
    }
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        q(&collection.name),
        cols.join(", "),
        marks.join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params.iter()))?;
    Ok(())
}

/// `SELECT <what> FROM <collection> AS _m WHERE _m."id" = ?`, narrowed by the compiled
/// `rule` when there is one.
pub(super) fn select_by_id(
    what: &str,
    collection: &Collection,
    id: &str,
    rule: &Option<(String, Vec<SqlValue>)>,
) -> (String, Vec<SqlValue>) {
    let mut sql = format!(
        "SELECT {what} FROM {} AS _m WHERE _m.\"id\" = ?",
        q(&collection.name)
    );
    let mut params = vec![SqlValue::Text(id.to_owned())];
    if let Some((cond, p)) = rule {
        sql.push_str(&format!(" AND {cond}"));
        params.extend(p.iter().cloned());
    }
    (sql, params)
}

/// Length of a generated `tokenKey`.
pub(super) const TOKEN_KEY_LEN: usize = 50;

/// Whether record `id` exists in `collection`, whatever the rules (upsert's choice).
pub fn exists(conn: &Connection, collection: &Collection, id: &str) -> Result<bool, WriteError> {
    let sql = format!("SELECT 1 FROM {} WHERE \"id\" = ?1", q(&collection.name));
    Ok(conn.prepare_cached(&sql)?.exists([id])?)
}
