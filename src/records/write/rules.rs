//! API rules as SQL conditions for a write: the create/update/delete rule, and the
//! manageRule that decides who may change an auth record's protected fields.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::WriteError;
use crate::query::RequestInfo;
use crate::records::RecordsError;
use crate::schema::{Collection, Snapshot};

/// Refuse a write to a view collection, and one whose rule is `null` (superusers only)
/// by anyone but a superuser.
pub(super) fn check_writable(
    collection: &Collection,
    rule: &Option<String>,
    request: &RequestInfo,
) -> Result<(), WriteError> {
    if collection.is_view() {
        return Err(WriteError::Unsupported("Unsupported collection type."));
    }
    if !request.superuser && rule.is_none() {
        return Err(RecordsError::SuperusersOnly.into());
    }
    Ok(())
}

/// The SQL condition of a non-empty rule for a caller who is not a superuser; `None`
/// when no condition applies (superuser, or `""`). A `null` rule is refused earlier.
pub(super) fn rule_sql(
    snapshot: &Snapshot,
    collection: &Collection,
    rule: &Option<String>,
    request: &RequestInfo,
) -> Result<Option<(String, Vec<SqlValue>)>, WriteError> {
    match rule.as_deref() {
        Some(r) if !request.superuser && !r.trim().is_empty() => {
            check_rule_sql(snapshot, collection, r, request).map(Some)
        }
        _ => Ok(None),
    }
}

pub(super) fn check_rule_sql(
    snapshot: &Snapshot,
    collection: &Collection,
    rule: &str,
    request: &RequestInfo,
) -> Result<(String, Vec<SqlValue>), WriteError> {
    Ok(crate::records::stored_rule_sql(
        snapshot, collection, rule, request,
    ))
}

/// Does `rule` (compiled) hold for the row `from_sql` selects (alias `_m`)?
pub(super) fn holds(
    conn: &Connection,
    from_sql: &str,
    from_params: &[SqlValue],
    rule: &(String, Vec<SqlValue>),
) -> Result<bool, WriteError> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {from_sql} WHERE {})", rule.0);
    let all: Vec<SqlValue> = from_params.iter().chain(rule.1.iter()).cloned().collect();
    Ok(conn.query_row(&sql, rusqlite::params_from_iter(all.iter()), |r| r.get(0))?)
}

/// The manageRule for this caller: `None` = superuser (always a manager),
/// `Some(None)` = nobody else, `Some(Some(cond))` = who matches.
pub(super) type Manage = Option<Option<(String, Vec<SqlValue>)>>;

pub(super) fn manage_rule(
    snapshot: &Snapshot,
    collection: &Collection,
    request: &RequestInfo,
) -> Result<Manage, WriteError> {
    if request.superuser {
        return Ok(None);
    }
    Ok(Some(match collection.rules.manage.as_deref() {
        None => None,
        Some(r) if r.trim().is_empty() => Some(("1".to_owned(), Vec::new())),
        Some(r) => Some(check_rule_sql(snapshot, collection, r, request)?),
    }))
}

pub(super) fn is_manager(
    conn: &Connection,
    manage: &Manage,
    from_sql: &str,
    from_params: &[SqlValue],
) -> Result<bool, WriteError> {
    match manage {
        None => Ok(true),
        Some(None) => Ok(false),
        Some(Some(rule)) => holds(conn, from_sql, from_params, rule),
    }
}
