//! The record service: list and view records of a collection, with its API rules applied
//! as SQL conditions (API.md Part B §1–§4). No HTTP here: callers map [`RecordsError`].
//!
//! Rules are the security boundary: every read goes through the collection's rule for
//! the caller (superusers excepted); a rule that fails to compile denies.
//!
//! [`events`] fans committed changes out to realtime subscribers, checked per subscriber.
//!
//! Depends on `db`, `schema`, `query`, `util`, on `auth` for password hashing and token
//! checks, and on `realtime` (the broker events go through); must not depend on `api`,
//! `state` or axum types.

pub mod batch;
pub mod events;
pub mod expand;
pub mod write;

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row};
use serde_json::{Map, Value};

use crate::db::{Db, DbError};
use crate::query::{compile_sort, compile_where, parse, Mode, QueryError, RequestInfo, Scope};
use crate::schema::value::decode;
use crate::schema::{quote_ident as q, Collection, FieldKind, Snapshot};

/// Why a records call failed, free of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The rule is `null` and the caller is not a superuser (403).
    #[error("only superusers can perform this action")]
    SuperusersOnly,
    /// Missing, or hidden by the rule (404: never reveal which).
    #[error("not found")]
    NotFound,
    /// A bad `filter` or `sort` (400), or one using what the caller may not (403).
    #[error("invalid query: {0}")]
    Query(QueryError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for RecordsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(e))
    }
}

/// Paging and query parameters of a list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub page: u32,
    pub per_page: u32,
    pub skip_total: bool,
    pub sort: Option<String>,
    pub filter: Option<String>,
    pub expand: Option<String>,
}

/// One page of records; `total` is `None` when the count was skipped.
#[derive(Debug)]
pub struct Page {
    pub items: Items,
    pub total: Option<u64>,
}

/// The records of a page: as values (when expanded), or already written as the JSON text
/// of an array (the common case, without building a map per record).
#[derive(Debug)]
pub enum Items {
    Values(Vec<Value>),
    Json(String),
}

const ALIAS: &str = "_m";

/// The rule as a SQL condition for this caller: `Ok(None)` means no condition.
fn rule_condition(
    snapshot: &Snapshot,
    collection: &Collection,
    rule: &Option<String>,
    request: &RequestInfo,
) -> Result<Option<(String, Vec<SqlValue>)>, RecordsError> {
    if request.superuser {
        return Ok(None);
    }
    let Some(rule) = rule else {
        return Err(RecordsError::SuperusersOnly);
    };
    if rule.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(stored_rule_sql(snapshot, collection, rule, request)))
}

/// A stored rule (non-empty) as a SQL condition over [`ALIAS`] for this caller.
pub(crate) fn stored_rule_sql(
    snapshot: &Snapshot,
    collection: &Collection,
    rule: &str,
    request: &RequestInfo,
) -> (String, Vec<SqlValue>) {
    let scope = Scope {
        snapshot,
        collection,
        mode: Mode::Rule,
        request,
        alias: ALIAS,
    };
    match parse(rule).and_then(|e| compile_where(&e, &scope)) {
        Ok(c) => (c.sql, c.params),
        Err(e) => {
            // SECURITY: fail closed. Rules are checked when saved, so this is a bug or a
            // schema drift; deny and say why in the log.
            tracing::error!(collection = %collection.name, error = %e, "a stored rule does not compile; denying");
            ("0".into(), Vec::new())
        }
    }
}

/// List records of `collection` that pass its listRule and `query.filter`.
pub async fn list(
    db: &Db,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    query: ListQuery,
    request: RequestInfo,
) -> Result<Page, RecordsError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    if let Some((sql, p)) =
        rule_condition(&snapshot, &collection, &collection.rules.list, &request)?
    {
        conditions.push(sql);
        params.extend(p);
    }
    let scope = Scope {
        snapshot: &snapshot,
        collection: &collection,
        mode: Mode::Filter,
        request: &request,
        alias: ALIAS,
    };
    if let Some(filter) = query.filter.as_deref() {
        let compiled = parse(filter)
            .and_then(|e| compile_where(&e, &scope))
            .map_err(RecordsError::Query)?;
        conditions.push(compiled.sql);
        params.extend(compiled.params);
    }
    let order = match query.sort.as_deref() {
        Some(s) => compile_sort(s, &scope).map_err(RecordsError::Query)?,
        None => String::new(),
    };
    let table = q(&collection.name);
    let where_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let order_sql = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {order}")
    };
    let (manage_sql, manage_params) = manage_column(&snapshot, &collection, &request);
    let select = format!(
        "SELECT {ALIAS}.*{manage_sql} FROM {table} AS {ALIAS}{where_sql}{order_sql} LIMIT ? OFFSET ?"
    );
    let count =
        (!query.skip_total).then(|| format!("SELECT count(*) FROM {table} AS {ALIAS}{where_sql}"));
    let limit = i64::from(query.per_page.max(1));
    let offset = (i64::from(query.page.max(1)) - 1) * limit;
    let superuser = request.superuser;
    let auth_id = auth_id(&request);
    let expand_param = query.expand.clone();
    db.read_counting(
        move |conn: &Connection, counter| -> Result<Page, RecordsError> {
            let mut select_params = manage_params.clone();
            select_params.extend(params.iter().cloned());
            select_params.push(SqlValue::Integer(limit));
            select_params.push(SqlValue::Integer(offset));
            let mut stmt = conn.prepare_cached(&select)?;
            let mut names: Vec<String> = Vec::new();
            let mut rows = stmt.query(rusqlite::params_from_iter(select_params.iter()))?;
            let items = match expand_param.as_deref() {
                None => {
                    let mut out = String::with_capacity(256 * limit as usize);
                    out.push('[');
                    while let Some(row) = rows.next()? {
                        if names.is_empty() {
                            names = crate::db::row_names(row);
                        }
                        if out.len() > 1 {
                            out.push(',');
                        }
                        let mut columns = Vec::with_capacity(names.len());
                        for (i, name) in names.iter().enumerate() {
                            columns.push((name.as_str(), row.get_ref(i)?));
                        }
                        write_columns_json(
                            &mut out,
                            &collection,
                            &columns,
                            superuser,
                            auth_id.as_deref(),
                        );
                    }
                    out.push(']');
                    drop(rows);
                    Items::Json(out)
                }
                Some(e) => {
                    let mut items = Vec::new();
                    while let Some(row) = rows.next()? {
                        if names.is_empty() {
                            names = crate::db::row_names(row);
                        }
                        items.push(record_json(
                            &collection,
                            &names,
                            row,
                            superuser,
                            auth_id.as_deref(),
                        )?);
                    }
                    drop(rows);
                    expand::expand(conn, &snapshot, &collection, &mut items, e, &request)?;
                    Items::Values(items)
                }
            };
            drop(stmt);
            let total = match &count {
                Some(sql) => Some(counter.count(conn, sql, &params)? as u64),
                None => None,
            };
            Ok(Page { items, total })
        },
    )
    .await
}

/// One record of `collection`, if it passes the viewRule.
pub async fn view(
    db: &Db,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    expand_param: Option<String>,
    request: RequestInfo,
) -> Result<Value, RecordsError> {
    let rule = rule_condition(&snapshot, &collection, &collection.rules.view, &request)?;
    db.read(move |conn: &Connection| {
        view_with(
            conn,
            &snapshot,
            &collection,
            &id,
            rule,
            expand_param.as_deref(),
            &request,
        )
    })
    .await
}

/// The file property of record `id` that names the stored file `name`, read without
/// rules: who may download it is the caller's decision (API.md Part B §6.3).
pub async fn file_field(
    db: &Db,
    collection: Arc<Collection>,
    id: String,
    name: String,
) -> Result<Option<String>, RecordsError> {
    let files: Vec<&crate::schema::field::Field> = collection
        .fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::File(_)))
        .collect();
    if files.is_empty() || collection.is_view() {
        return Ok(None);
    }
    let cols: Vec<String> = files.iter().map(|f| q(&f.name)).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE \"id\" = ?1",
        cols.join(", "),
        q(&collection.name)
    );
    let c = collection.clone();
    db.read(
        move |conn: &Connection| -> Result<Option<String>, RecordsError> {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query([&id])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            for (i, f) in c
                .fields
                .iter()
                .filter(|f| matches!(f.kind, FieldKind::File(_)))
                .enumerate()
            {
                let v = decode(&f.kind, row.get_ref(i)?);
                if write::files::names(&v).contains(&name) {
                    return Ok(Some(f.name.clone()));
                }
            }
            Ok(None)
        },
    )
    .await
}

/// [`view`] on a connection the caller holds (a batch's write transaction).
pub fn view_on(
    conn: &Connection,
    snapshot: &Snapshot,
    collection: &Collection,
    id: &str,
    expand_param: Option<&str>,
    request: &RequestInfo,
) -> Result<Value, RecordsError> {
    let rule = rule_condition(snapshot, collection, &collection.rules.view, request)?;
    view_with(conn, snapshot, collection, id, rule, expand_param, request)
}

fn view_with(
    conn: &Connection,
    snapshot: &Snapshot,
    collection: &Collection,
    id: &str,
    rule: Option<(String, Vec<SqlValue>)>,
    expand_param: Option<&str>,
    request: &RequestInfo,
) -> Result<Value, RecordsError> {
    let (manage_sql, mut params) = manage_column(snapshot, collection, request);
    let mut sql = format!(
        "SELECT {ALIAS}.*{manage_sql} FROM {} AS {ALIAS} WHERE {ALIAS}.\"id\" = ?",
        q(&collection.name)
    );
    params.push(SqlValue::Text(id.to_owned()));
    if let Some((cond, p)) = rule {
        sql.push_str(&format!(" AND {cond}"));
        params.extend(p);
    }
    let auth_id = auth_id(request);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut record = match rows.next()? {
        Some(row) => record_json(
            collection,
            &crate::db::row_names(row),
            row,
            request.superuser,
            auth_id.as_deref(),
        )?,
        None => return Err(RecordsError::NotFound),
    };
    drop(rows);
    drop(stmt);
    if let Some(e) = expand_param {
        expand::expand(
            conn,
            snapshot,
            collection,
            std::slice::from_mut(&mut record),
            e,
            request,
        )?;
    }
    Ok(record)
}

/// Column name of the per-row "the caller passes the manageRule" flag.
const MANAGE_COLUMN: &str = "_kb_manage";

/// For auth collections and callers who are not superusers: an extra SELECT column
/// telling, per row, whether the caller passes the manageRule (managers see emails).
/// Its parameters come before the query's others.
pub(crate) fn manage_column(
    snapshot: &Snapshot,
    collection: &Collection,
    request: &RequestInfo,
) -> (String, Vec<SqlValue>) {
    if !collection.is_auth() || request.superuser {
        return (String::new(), Vec::new());
    }
    match collection.rules.manage.as_deref() {
        None => (String::new(), Vec::new()),
        Some(r) if r.trim().is_empty() => (format!(", 1 AS \"{MANAGE_COLUMN}\""), Vec::new()),
        // Not [`stored_rule_sql`]: a manageRule that does not compile adds no column (the
        // caller is no manager), rather than a denying condition in a column.
        Some(r) => {
            let scope = Scope {
                snapshot,
                collection,
                mode: Mode::Rule,
                request,
                alias: ALIAS,
            };
            match parse(r).and_then(|e| compile_where(&e, &scope)) {
                Ok(c) => (
                    format!(
                        ", CASE WHEN {} THEN 1 ELSE 0 END AS \"{MANAGE_COLUMN}\"",
                        c.sql
                    ),
                    c.params,
                ),
                Err(_) => (String::new(), Vec::new()),
            }
        }
    }
}

/// What a write answers when the viewRule hides the record from its writer: the keys the
/// writer already knows, nothing read from the row.
pub fn id_only(collection: &Collection, id: &str) -> Value {
    serde_json::json!({"collectionId": collection.id, "collectionName": collection.name, "id": id})
}

fn auth_id(request: &RequestInfo) -> Option<String> {
    request
        .auth
        .as_ref()
        .and_then(|a| a.record.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A row as the API's record JSON: every visible field, `collectionId` and
/// `collectionName`; never `password` or `tokenKey`; hidden fields for superusers only;
/// `email` only when visible, the caller's own, for superusers, or for callers who pass
/// the manageRule (the [`MANAGE_COLUMN`] of the row).
fn record_json(
    collection: &Collection,
    names: &[String],
    row: &Row<'_>,
    superuser: bool,
    auth_id: Option<&str>,
) -> Result<Value, RecordsError> {
    let mut columns = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        columns.push((name.as_str(), row.get_ref(i)?));
    }
    Ok(columns_json(collection, &columns, superuser, auth_id))
}

/// A record just written, as its writer may see it, built from the values written (each
/// through the same encode → decode round trip a read would do), or `None` when only a
/// read can tell: the viewRule is neither `""` nor waived for a superuser.
pub fn written_json(
    collection: &Collection,
    record: &Map<String, Value>,
    request: &RequestInfo,
) -> Option<Value> {
    let open = request.superuser
        || collection
            .rules
            .view
            .as_deref()
            .is_some_and(|r| r.trim().is_empty());
    if !open {
        return None;
    }
    Some(record_view(
        collection,
        record,
        request.superuser,
        auth_id(request).as_deref(),
        false,
    ))
}

/// A record held as values (decoded as a read decodes them) as the API shows it to a
/// caller: `superuser`, whose auth record is `auth_id`, and who passes the manageRule
/// when `manager` (see [`visible_columns`]).
pub fn record_view(
    collection: &Collection,
    record: &Map<String, Value>,
    superuser: bool,
    auth_id: Option<&str>,
    manager: bool,
) -> Value {
    let mut values: Vec<(&str, SqlValue)> = Vec::with_capacity(collection.fields.len() + 9);
    for name in collection.system_fields() {
        let v = record.get(name).unwrap_or(&Value::Null);
        values.push((
            name,
            match v {
                Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
                Value::String(s) => SqlValue::Text(s.clone()),
                _ => SqlValue::Text(String::new()),
            },
        ));
    }
    for f in &collection.fields {
        let v = record
            .get(&f.name)
            .cloned()
            .unwrap_or_else(|| f.kind.zero_value());
        values.push((f.name.as_str(), crate::schema::value::encode(&f.kind, &v)));
    }
    if manager {
        values.push((MANAGE_COLUMN, SqlValue::Integer(1)));
    }
    let columns: Vec<(&str, rusqlite::types::ValueRef<'_>)> =
        values.iter().map(|(n, v)| (*n, v.into())).collect();
    columns_json(collection, &columns, superuser, auth_id)
}

/// Every column of record `id` of `collection` as stored, decoded (secrets included:
/// for rule checks, never to be sent as is). `None` when there is no such record.
pub fn stored_row(
    conn: &Connection,
    collection: &Collection,
    id: &str,
) -> Result<Option<Map<String, Value>>, rusqlite::Error> {
    let sql = format!("SELECT * FROM {} WHERE \"id\" = ?1", q(&collection.name));
    let mut stmt = conn.prepare_cached(&sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut out = Map::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let kind = match collection.field(name) {
            Some(f) => f.kind.clone(),
            None if collection.is_auth()
                && matches!(name.as_str(), "emailVisibility" | "verified") =>
            {
                FieldKind::Bool
            }
            None => FieldKind::Text,
        };
        out.insert(name.clone(), decode(&kind, row.get_ref(i)?));
    }
    Ok(Some(out))
}

/// Walk a row's columns as the API shows them to this caller, calling `emit` with each
/// visible column's name, the kind it decodes as, and its value: never `password` or
/// `tokenKey`; hidden fields for superusers only; `email` last, and only when visible,
/// the caller's own, for superusers, or for callers who pass the manageRule (the
/// [`MANAGE_COLUMN`] of the row).
fn visible_columns<'a>(
    collection: &Collection,
    columns: &[(&'a str, rusqlite::types::ValueRef<'a>)],
    superuser: bool,
    auth_id: Option<&str>,
    mut emit: impl FnMut(&'a str, &FieldKind, rusqlite::types::ValueRef<'a>),
) {
    use rusqlite::types::ValueRef;
    let mut email: Option<ValueRef<'a>> = None;
    let (mut email_visible, mut manager, mut own) = (false, false, false);
    for &(name, raw) in columns {
        match name {
            // SECURITY: never serialised, whoever asks.
            "password" | "tokenKey" => {}
            MANAGE_COLUMN => manager = raw.as_i64().unwrap_or(0) == 1,
            "email" if collection.is_auth() => email = Some(raw),
            "emailVisibility" | "verified" if collection.is_auth() => {
                if name == "emailVisibility" {
                    email_visible = matches!(raw, ValueRef::Integer(i) if i != 0);
                }
                emit(name, &FieldKind::Bool, raw);
            }
            "id" | "created" | "updated" => {
                if name == "id" {
                    own = auth_id.is_some_and(|a| raw.as_str().ok() == Some(a));
                }
                emit(name, &FieldKind::Text, raw);
            }
            _ => match collection.field(name) {
                Some(f) if f.hidden && !superuser => {}
                Some(f) => emit(name, &f.kind, raw),
                // View collections: columns without a property (only `id`) or unknown ones.
                None => emit(name, &FieldKind::Json, raw),
            },
        }
    }
    if let Some(email) = email {
        if superuser || email_visible || own || manager {
            emit("email", &FieldKind::Text, email);
        }
    }
}

fn columns_json(
    collection: &Collection,
    columns: &[(&str, rusqlite::types::ValueRef<'_>)],
    superuser: bool,
    auth_id: Option<&str>,
) -> Value {
    let mut out = Map::with_capacity(columns.len() + 2);
    out.insert("collectionId".into(), Value::String(collection.id.clone()));
    out.insert(
        "collectionName".into(),
        Value::String(collection.name.clone()),
    );
    visible_columns(
        collection,
        columns,
        superuser,
        auth_id,
        |name, kind, raw| {
            out.insert(name.to_owned(), decode(kind, raw));
        },
    );
    Value::Object(out)
}

/// `s` as a JSON string, escaped exactly as serde_json escapes (`"`, `\\`, and control
/// characters; nothing else).
fn json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// [`columns_json`] written straight into `out` as JSON text: the same keys, order and
/// values (a test holds the two equal), without building a map.
fn write_columns_json(
    out: &mut String,
    collection: &Collection,
    columns: &[(&str, rusqlite::types::ValueRef<'_>)],
    superuser: bool,
    auth_id: Option<&str>,
) {
    use rusqlite::types::ValueRef;
    fn key(out: &mut String, k: &str) {
        out.push(',');
        string(out, k);
        out.push(':');
    }
    fn string(out: &mut String, s: &str) {
        json_string(out, s);
    }
    fn value(out: &mut String, kind: &FieldKind, raw: ValueRef<'_>) {
        match (kind, raw) {
            (k, ValueRef::Text(t)) if !k.is_json() => match std::str::from_utf8(t) {
                Ok(text) => string(out, text),
                Err(_) => string(out, &String::from_utf8_lossy(t)),
            },
            (FieldKind::Bool, ValueRef::Integer(i)) => {
                out.push_str(if i != 0 { "true" } else { "false" })
            }
            (FieldKind::Integer | FieldKind::Number | FieldKind::Text, ValueRef::Integer(i)) => {
                out.push_str(itoa::Buffer::new().format(i))
            }
            _ => out.push_str(&decode(kind, raw).to_string()),
        }
    }
    out.push_str("{\"collectionId\":");
    string(out, &collection.id);
    key(out, "collectionName");
    string(out, &collection.name);
    visible_columns(
        collection,
        columns,
        superuser,
        auth_id,
        |name, kind, raw| {
            key(out, name);
            value(out, kind, raw);
        },
    );
    out.push('}');
}

#[cfg(test)]
mod json_tests {
    use super::json_string;

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            all.push(char::from_u32(c).unwrap());
        }
        for s in [
            "",
            "plain",
            "quote \" and \\ slash /",
            "tab\tnew\nline\r",
            all.as_str(),
        ] {
            let mut out = String::new();
            json_string(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}
