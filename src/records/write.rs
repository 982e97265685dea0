//! Creating, updating and deleting records (API.md Part B §1.4, §1.5, §1.8).
//!
//! Each write is one job on the writer: the rule check, the relation checks and the
//! change share one transaction, so a rule is never checked against a row that changes
//! before the write lands.

use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::RecordsError;
use crate::auth::password::Hasher;
use crate::auth::{is_valid_email, AuthError};
use crate::db::{Db, DbError};
use crate::query::compile::virtual_row;
use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
use crate::schema::field::{Autodate, FieldKind};
use crate::schema::value::{encode, is_zero};
use crate::schema::{quote_ident as q, Collection, Snapshot};
use crate::util::{new_id, normalize_datetime, now_string, random_string};

/// Field errors, as `data.<field> = {code, message}`.
pub type FieldErrors = Map<String, Value>;

/// Why a write was refused (beyond [`RecordsError`]).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// Validation failed: 400 with the field errors (`message` per action).
    #[error("invalid data")]
    Invalid(FieldErrors),
    /// The createRule did not pass (400 with empty data).
    #[error("create rule failed")]
    CreateRuleFailed,
    /// A view collection, or an auth collection whose flows are not built yet.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Still referenced by a required relation.
    #[error("referenced by a required relation")]
    Referenced,
    /// Hashing or checking a password failed (busy, or an internal error).
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<DbError> for WriteError {
    fn from(e: DbError) -> Self {
        WriteError::Records(RecordsError::Db(e))
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Records(RecordsError::Db(DbError::Sqlite(e)))
    }
}

fn field_error(code: &str, message: impl Into<String>) -> Value {
    json!({"code": code, "message": message.into()})
}

/// `id`: 15 lowercase alphanumerics, as PocketBase generates them.
fn check_id(id: &Value) -> Result<String, Value> {
    match id.as_str() {
        Some(s)
            if s.len() == 15
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Ok(s.to_owned())
        }
        Some(_) => Err(field_error(
            "validation_min_text_constraint",
            "Must be 15 characters of a-z and 0-9.",
        )),
        None => Err(field_error("validation_invalid_value", "Must be a string.")),
    }
}

/// The number a `field+`/`field-` modifier adds or subtracts.
fn number_operand(v: &Value) -> Result<f64, Value> {
    v.as_f64()
        .ok_or_else(|| field_error("validation_invalid_value", "Must be a number."))
}

/// Apply PocketBase's modifiers (`field+`, `+field`, `field-`) for `name` over `current`.
fn apply_modifiers(
    kind: &FieldKind,
    name: &str,
    mut current: Value,
    body: &Map<String, Value>,
) -> Result<Value, Value> {
    let as_list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    if let Some(add) = body.get(&format!("{name}+")) {
        match kind {
            FieldKind::Integer | FieldKind::Number => {
                let (a, b) = (current.as_f64().unwrap_or(0.0), number_operand(add)?);
                current = crate::schema::value::number(a + b);
            }
            k if k.is_multiple() => {
                let mut items = as_list(&current);
                items.extend(as_list(add));
                current = Value::Array(items);
            }
            _ => {
                return Err(field_error(
                    "validation_invalid_value",
                    format!("{name}+ is not supported on this field."),
                ))
            }
        }
    }
    if let Some(prepend) = body.get(&format!("+{name}")) {
        if !kind.is_multiple() {
            return Err(field_error(
                "validation_invalid_value",
                format!("+{name} is only supported on multiple fields."),
            ));
        }
        let mut items = as_list(prepend);
        items.extend(as_list(&current));
        current = Value::Array(items);
    }
    if let Some(remove) = body.get(&format!("{name}-")) {
        match kind {
            FieldKind::Integer | FieldKind::Number => {
                let (a, b) = (current.as_f64().unwrap_or(0.0), number_operand(remove)?);
                current = crate::schema::value::number(a - b);
            }
            k if k.is_multiple() => {
                let gone = as_list(remove);
                current = Value::Array(
                    as_list(&current)
                        .into_iter()
                        .filter(|v| !gone.contains(v))
                        .collect(),
                );
            }
            _ => {
                return Err(field_error(
                    "validation_invalid_value",
                    format!("{name}- is not supported on this field."),
                ))
            }
        }
    }
    Ok(current)
}

/// PocketBase's normalisations: a single relation given as an array keeps its last id,
/// dates are stored in the storage format, multi-relations are de-duplicated.
fn normalize(kind: &FieldKind, v: Value) -> Result<Value, Value> {
    match kind {
        FieldKind::Relation(r) if !r.multiple => match v {
            Value::Array(items) => Ok(items.last().cloned().unwrap_or_else(|| json!(""))),
            Value::Null => Ok(json!("")),
            other => Ok(other),
        },
        FieldKind::Relation(_) => match v {
            Value::Array(items) => {
                let mut out: Vec<Value> = Vec::new();
                for i in items {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Null => Ok(json!([])),
            Value::String(s) if s.is_empty() => Ok(json!([])),
            other => Ok(Value::Array(vec![other])),
        },
        FieldKind::Date => match &v {
            Value::String(s) if s.is_empty() => Ok(v),
            Value::Null => Ok(json!("")),
            Value::String(s) => normalize_datetime(s).map(Value::String).ok_or_else(|| {
                field_error(
                    "validation_invalid_date",
                    "Must be a valid date (RFC 3339 or YYYY-MM-DD HH:MM:SS.mmmZ).",
                )
            }),
            _ => Err(field_error(
                "validation_invalid_date",
                "Must be a date string.",
            )),
        },
        _ => Ok(v),
    }
}

/// A JSON Schema error as PocketBase's `{code, message}`.
fn schema_error(kind: &ValidationErrorKind, message: String) -> Value {
    let code = match kind {
        ValidationErrorKind::Required { .. } => {
            return field_error("validation_required", "Cannot be blank.")
        }
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => {
            "validation_length_out_of_range"
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::ExclusiveMinimum { .. } => {
            "validation_min_number_constraint"
        }
        ValidationErrorKind::Maximum { .. } | ValidationErrorKind::ExclusiveMaximum { .. } => {
            "validation_max_number_constraint"
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
            "validation_length_out_of_range"
        }
        ValidationErrorKind::Format { format } => match format.as_str() {
            "email" | "idn-email" => {
                return field_error("validation_is_email", "Must be a valid email address.")
            }
            "uri" | "iri" | "uri-reference" => {
                return field_error("validation_invalid_url", "Must be a valid url.")
            }
            "date-time" | "date" => "validation_invalid_date",
            _ => "validation_invalid_format",
        },
        ValidationErrorKind::Pattern { .. } => "validation_invalid_format",
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            "validation_invalid_value"
        }
        ValidationErrorKind::Type { .. } => "validation_invalid_type",
        ValidationErrorKind::UniqueItems => "validation_not_unique_items",
        _ => "validation_invalid_value",
    };
    field_error(code, message)
}

/// Validate the values of `record` with the collection's JSON Schema. Zero values of
/// properties that are not required are "unset" (API.md Part A) and not checked.
fn validate(collection: &Collection, record: &Map<String, Value>, errors: &mut FieldErrors) {
    let mut instance = Map::new();
    for f in &collection.fields {
        if let Some(v) = record.get(&f.name) {
            if f.required || !is_zero(&f.kind, v) {
                // Dates are stored as `YYYY-MM-DD HH:MM:SS.mmmZ`; the schema's
                // `format: date-time` is RFC 3339, which wants the `T`.
                let v = match (&f.kind, v) {
                    (FieldKind::Date, Value::String(s))
                        if s.len() > 10 && s.as_bytes()[10] == b' ' =>
                    {
                        Value::String(format!("{}T{}", &s[..10], &s[11..]))
                    }
                    _ => v.clone(),
                };
                instance.insert(f.name.clone(), v);
            }
        }
    }
    let instance = Value::Object(instance);
    for e in collection.validator.iter_errors(&instance) {
        let field = match e.kind() {
            ValidationErrorKind::Required { property } => {
                property.as_str().unwrap_or("").to_owned()
            }
            _ => e
                .instance_path()
                .as_str()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
                .replace("~1", "/")
                .replace("~0", "~"),
        };
        let key = if field.is_empty() {
            "data".to_owned()
        } else {
            field
        };
        if !errors.contains_key(&key) {
            errors.insert(key, schema_error(e.kind(), e.to_string()));
        }
    }
}

/// The ids in `value` of relation `field` that do not exist in its target.
fn missing_relations(
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
fn unique_field(e: &DbError) -> Option<String> {
    let DbError::Sqlite(rusqlite::Error::SqliteFailure(_, Some(message))) = e else {
        return None;
    };
    let cols = message.strip_prefix("UNIQUE constraint failed: ")?;
    let first = cols.split(',').next()?.trim();
    Some(first.rsplit('.').next().unwrap_or(first).to_owned())
}

/// The SQL condition of a non-empty rule for a caller who is not a superuser; `None`
/// when no condition applies (superuser, or `""`). A `null` rule is refused earlier.
fn rule_sql(
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

/// A store error as a field error when it is a UNIQUE violation.
fn not_unique(e: DbError) -> WriteError {
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

fn check_rule_sql(
    snapshot: &Snapshot,
    collection: &Collection,
    rule: &str,
    request: &RequestInfo,
) -> Result<(String, Vec<SqlValue>), WriteError> {
    let scope = Scope {
        snapshot,
        collection,
        mode: Mode::Rule,
        request,
        alias: "_m",
    };
    match parse(rule).and_then(|e| compile_where(&e, &scope)) {
        Ok(c) => Ok((c.sql, c.params)),
        Err(e) => {
            tracing::error!(collection = %collection.name, error = %e, "a stored rule does not compile; denying");
            Ok(("0".into(), Vec::new()))
        }
    }
}

/// Insert the row for `record` (every column) into `collection`'s table.
fn insert_row(
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

/// Length of a generated `tokenKey`.
const TOKEN_KEY_LEN: usize = 50;

/// The collection's password length policy (`auth.password`), in characters.
fn password_policy(collection: &Collection) -> (usize, usize) {
    let p = collection.auth.as_ref().and_then(|a| a.get("password"));
    let n = |key: &str, default: u64| {
        p.and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize
    };
    (n("minLength", 8), n("maxLength", 71))
}

/// Check `password` and `passwordConfirm` in `body`; the password when both are fine.
pub fn check_password(
    collection: &Collection,
    body: &Map<String, Value>,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.insert(
                "password".into(),
                field_error("validation_invalid_value", "Must be a string."),
            );
            return None;
        }
    };
    let Some(password) = password else {
        if required {
            errors.insert(
                "password".into(),
                field_error("validation_required", "Cannot be blank."),
            );
        }
        return None;
    };
    let (min, max) = password_policy(collection);
    let n = password.chars().count();
    if n < min {
        errors.insert(
            "password".into(),
            field_error(
                "validation_min_text_constraint",
                format!("Must be at least {min} character(s)."),
            ),
        );
        return None;
    }
    if n > max {
        errors.insert(
            "password".into(),
            field_error(
                "validation_max_text_constraint",
                format!("Must be less than {max} character(s)."),
            ),
        );
        return None;
    }
    if body.get("passwordConfirm").and_then(Value::as_str) != Some(password.as_str()) {
        errors.insert(
            "passwordConfirm".into(),
            field_error("validation_values_mismatch", "Values don't match."),
        );
        return None;
    }
    Some(password)
}

/// `email` from `body`, trimmed and checked.
fn check_email(
    body: &Map<String, Value>,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    match body.get("email") {
        None | Some(Value::Null) => {
            if required {
                errors.insert(
                    "email".into(),
                    field_error("validation_required", "Cannot be blank."),
                );
            }
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            if required {
                errors.insert(
                    "email".into(),
                    field_error("validation_required", "Cannot be blank."),
                );
            }
            None
        }
        Some(Value::String(s)) if is_valid_email(s.trim()) => Some(s.trim().to_owned()),
        Some(_) => {
            errors.insert(
                "email".into(),
                field_error("validation_is_email", "Must be a valid email address."),
            );
            None
        }
    }
}

/// A boolean system field (`emailVisibility`, `verified`) from `body`.
fn check_bool(body: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<bool> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.insert(
                key.into(),
                field_error("validation_invalid_value", "Must be a boolean."),
            );
            None
        }
    }
}

/// What an auth-record write computes off the writer thread: the new password's hash,
/// and the stored hash `oldPassword` was checked against, if it matched.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    new_hash: Option<String>,
    old_matched: Option<String>,
}

/// Hash the new password in `body` and check `oldPassword` against record `id`'s
/// stored hash. Nothing to do outside auth collections.
pub async fn secrets(
    db: &Db,
    hasher: &Hasher,
    collection: &Arc<Collection>,
    id: Option<&str>,
    body: &Map<String, Value>,
) -> Result<Secrets, WriteError> {
    let mut out = Secrets::default();
    if !collection.is_auth() {
        return Ok(out);
    }
    let mut ignored = FieldErrors::new();
    if let Some(password) = check_password(collection, body, false, &mut ignored) {
        out.new_hash = Some(hasher.hash(password).await?);
    }
    if let (Some(id), Some(old)) = (id, body.get("oldPassword").and_then(Value::as_str)) {
        let sql = format!(
            "SELECT \"password\" FROM {} WHERE \"id\" = ?1",
            q(&collection.name)
        );
        let id = id.to_owned();
        let stored: Option<String> = db
            .read(
                move |conn: &Connection| -> Result<Option<String>, WriteError> {
                    use rusqlite::OptionalExtension as _;
                    Ok(conn
                        .prepare_cached(&sql)?
                        .query_row([id], |r| r.get(0))
                        .optional()?)
                },
            )
            .await?;
        let ok = hasher
            .verify(old.to_owned(), stored.clone().filter(|h| !h.is_empty()))
            .await?;
        if ok {
            out.old_matched = stored;
        }
    }
    Ok(out)
}

/// Does `rule` (compiled) hold for the row `from_sql` selects (alias `_m`)?
fn holds(
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
type Manage = Option<Option<(String, Vec<SqlValue>)>>;

fn manage_rule(
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

fn is_manager(
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

fn mismatch(errors: &mut FieldErrors, key: &str) {
    errors.insert(
        key.into(),
        field_error("validation_values_mismatch", "Values don't match."),
    );
}

/// A create, checked and ready to run in a write transaction.
pub struct Create {
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    record: Map<String, Value>,
    rule: Option<(String, Vec<SqlValue>)>,
    id: String,
    /// Auth collections: who may set `verified`, when the request sets it.
    manage: Option<Manage>,
    secrets: Secrets,
}

/// Check a create of `body` (no store access): rules that need no row, value
/// normalisation and JSON Schema validation.
pub fn prepare_create(
    snapshot: &Arc<Snapshot>,
    collection: &Arc<Collection>,
    body: &Map<String, Value>,
    request: &RequestInfo,
) -> Result<Create, WriteError> {
    if collection.is_view() {
        return Err(WriteError::Unsupported("Unsupported collection type."));
    }
    if !request.superuser && collection.rules.create.is_none() {
        return Err(RecordsError::SuperusersOnly.into());
    }
    let mut errors = FieldErrors::new();
    let now = now_string();
    let mut record = Map::new();
    let id = match body.get("id") {
        None | Some(Value::Null) => new_id(),
        Some(Value::String(s)) if s.is_empty() => new_id(),
        Some(v) => match check_id(v) {
            Ok(id) => id,
            Err(e) => {
                errors.insert("id".into(), e);
                String::new()
            }
        },
    };
    record.insert("id".into(), json!(id));
    record.insert("created".into(), json!(now));
    record.insert("updated".into(), json!(now));
    for f in &collection.fields {
        let given = if f.hidden && !request.superuser {
            None
        } else {
            body.get(&f.name).cloned()
        };
        let value = match &f.kind {
            FieldKind::Autodate(_) => json!(now),
            _ => {
                let start = given
                    .unwrap_or_else(|| f.default.clone().unwrap_or_else(|| f.kind.zero_value()));
                match apply_modifiers(&f.kind, &f.name, start, body)
                    .and_then(|v| normalize(&f.kind, v))
                {
                    Ok(v) => v,
                    Err(e) => {
                        errors.insert(f.name.clone(), e);
                        continue;
                    }
                }
            }
        };
        record.insert(f.name.clone(), value);
    }
    // A required property with no value and no default is missing, not zero.
    for f in collection.fields.iter().filter(|f| f.required) {
        if !body.contains_key(&f.name)
            && f.default.is_none()
            && !matches!(f.kind, FieldKind::Autodate(_))
        {
            record.remove(&f.name);
        }
    }
    validate(collection, &record, &mut errors);
    for f in &collection.fields {
        record
            .entry(f.name.clone())
            .or_insert_with(|| f.kind.zero_value());
    }
    let mut manage = None;
    if collection.is_auth() {
        let email = check_email(body, true, &mut errors);
        check_password(collection, body, true, &mut errors);
        let visible = check_bool(body, "emailVisibility", &mut errors).unwrap_or(false);
        let verified = check_bool(body, "verified", &mut errors).unwrap_or(false);
        if verified {
            manage = Some(manage_rule(snapshot, collection, request)?);
        }
        record.insert("email".into(), json!(email.unwrap_or_default()));
        record.insert("emailVisibility".into(), json!(visible));
        record.insert("verified".into(), json!(verified));
        record.insert("password".into(), json!(""));
        record.insert("tokenKey".into(), json!(random_string(TOKEN_KEY_LEN)));
    }
    if !errors.is_empty() {
        return Err(WriteError::Invalid(errors));
    }
    Ok(Create {
        rule: rule_sql(snapshot, collection, &collection.rules.create, request)?,
        snapshot: snapshot.clone(),
        collection: collection.clone(),
        record,
        id,
        manage,
        secrets: Secrets::default(),
    })
}

impl Create {
    /// The new record's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Give the job what [`secrets`] computed (auth collections).
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The answer for `request` once written, without reading it back, when the viewRule
    /// allows that (see [`super::written_json`]).
    pub fn answer(&self, request: &RequestInfo) -> Option<Value> {
        super::written_json(&self.collection, &self.record, request)
    }

    /// Check relations and the create rule on the virtual row, then insert.
    pub fn run(&self, conn: &Connection) -> Result<(), WriteError> {
        let collection = &self.collection;
        let mut record = std::borrow::Cow::Borrowed(&self.record);
        if collection.is_auth() {
            let hash = self.secrets.new_hash.clone().ok_or_else(|| {
                WriteError::Auth(AuthError::Internal(
                    "auth record created without a password hash".into(),
                ))
            })?;
            record.to_mut().insert("password".into(), json!(hash));
            if let Some(manage) = &self.manage {
                let row = virtual_row(collection, &record);
                if !is_manager(conn, manage, &format!("({}) AS _m", row.sql), &row.params)? {
                    let mut errors = FieldErrors::new();
                    mismatch(&mut errors, "verified");
                    return Err(WriteError::Invalid(errors));
                }
            }
        }
        let record = &*record;
        let mut errors = FieldErrors::new();
        for f in &collection.fields {
            if missing_relations(conn, &self.snapshot, &f.kind, &record[&f.name])? {
                errors.insert(
                    f.name.clone(),
                    field_error(
                        "validation_missing_rel_records",
                        "Failed to find all relation records with the provided ids.",
                    ),
                );
            }
        }
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
        if let Some((cond, params)) = &self.rule {
            let row = virtual_row(collection, record);
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM ({}) AS _m WHERE {cond})",
                row.sql
            );
            let all: Vec<SqlValue> = row
                .params
                .into_iter()
                .chain(params.iter().cloned())
                .collect();
            let ok: bool =
                conn.query_row(&sql, rusqlite::params_from_iter(all.iter()), |r| r.get(0))?;
            if !ok {
                return Err(WriteError::CreateRuleFailed);
            }
        }
        insert_row(conn, collection, record).map_err(not_unique)
    }
}

/// A created record: its id, and its answer when known without a read.
pub struct Created {
    pub id: String,
    pub record: Option<Value>,
}

/// Create a record from `body`.
pub async fn create(
    db: &Db,
    hasher: &Hasher,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    body: Map<String, Value>,
    request: RequestInfo,
) -> Result<Created, WriteError> {
    let job = prepare_create(&snapshot, &collection, &body, &request)?;
    let secrets = secrets(db, hasher, &collection, None, &body).await?;
    let job = job.with_secrets(secrets);
    let record = job.answer(&request);
    db.write(move |conn: &Connection| job.run(conn).map(|()| job.id))
        .await
        .map(|id| Created { id, record })
}

/// An update, checked as far as it can be without the stored row.
pub struct Update {
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    body: Map<String, Value>,
    rule: Option<(String, Vec<SqlValue>)>,
    superuser: bool,
    auth: Option<AuthUpdate>,
    secrets: Secrets,
}

/// The auth system fields an update sets.
struct AuthUpdate {
    email: Option<String>,
    visible: Option<bool>,
    verified: Option<bool>,
    password: bool,
    manage: Manage,
}

/// Check an update of record `id` with `body` (partial) before it runs.
pub fn prepare_update(
    snapshot: &Arc<Snapshot>,
    collection: &Arc<Collection>,
    id: String,
    body: Map<String, Value>,
    request: &RequestInfo,
) -> Result<Update, WriteError> {
    if collection.is_view() {
        return Err(WriteError::Unsupported("Unsupported collection type."));
    }
    if !request.superuser && collection.rules.update.is_none() {
        return Err(RecordsError::SuperusersOnly.into());
    }
    let mut auth = None;
    if collection.is_auth() {
        let mut errors = FieldErrors::new();
        let email = check_email(&body, false, &mut errors);
        let password = check_password(collection, &body, false, &mut errors).is_some();
        let visible = check_bool(&body, "emailVisibility", &mut errors);
        let verified = check_bool(&body, "verified", &mut errors);
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
        auth = Some(AuthUpdate {
            manage: manage_rule(snapshot, collection, request)?,
            email,
            visible,
            verified,
            password,
        });
    }
    Ok(Update {
        rule: rule_sql(snapshot, collection, &collection.rules.update, request)?,
        snapshot: snapshot.clone(),
        collection: collection.clone(),
        id,
        body,
        superuser: request.superuser,
        auth,
        secrets: Secrets::default(),
    })
}

impl Update {
    /// The record's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Give the job what [`secrets`] computed (auth collections).
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The `SET` values of the auth system fields, after checking who may change them.
    fn auth_sets(
        &self,
        conn: &Connection,
        stored: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> Result<Vec<(&'static str, SqlValue)>, WriteError> {
        let Some(a) = &self.auth else {
            return Ok(Vec::new());
        };
        let mut sets: Vec<(&'static str, SqlValue)> = Vec::new();
        if let Some(v) = a.visible {
            sets.push(("emailVisibility", SqlValue::Integer(i64::from(v))));
        }
        let stored_email = stored.get("email").and_then(Value::as_str).unwrap_or("");
        let email = a.email.as_deref().filter(|e| *e != stored_email);
        let verified = a
            .verified
            .filter(|v| stored.get("verified") != Some(&Value::Bool(*v)));
        if email.is_none() && verified.is_none() && !a.password {
            return Ok(sets);
        }
        let from = format!(
            "(SELECT * FROM {} WHERE \"id\" = ?) AS _m",
            q(&self.collection.name)
        );
        let manager = is_manager(conn, &a.manage, &from, &[SqlValue::Text(self.id.clone())])?;
        if !manager {
            if email.is_some() {
                mismatch(errors, "email");
            }
            if verified.is_some() {
                mismatch(errors, "verified");
            }
            if a.password {
                let stored_hash = stored.get("password").and_then(Value::as_str);
                match self.body.get("oldPassword") {
                    None | Some(Value::Null) => {
                        errors.insert(
                            "oldPassword".into(),
                            field_error("validation_required", "Cannot be blank."),
                        );
                    }
                    Some(_)
                        if self.secrets.old_matched.as_deref() != stored_hash
                            || stored_hash.is_none() =>
                    {
                        errors.insert(
                            "oldPassword".into(),
                            field_error(
                                "validation_invalid_old_password",
                                "Missing or invalid old password.",
                            ),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(e) = email {
            sets.push(("email", SqlValue::Text(e.to_owned())));
        }
        if let Some(v) = verified {
            sets.push(("verified", SqlValue::Integer(i64::from(v))));
        }
        if a.password {
            let hash = self.secrets.new_hash.clone().ok_or_else(|| {
                WriteError::Auth(AuthError::Internal("password change without a hash".into()))
            })?;
            sets.push(("password", SqlValue::Text(hash)));
        }
        // SECURITY: a new password or email ends every earlier token of the record.
        if a.password || email.is_some() {
            sets.push(("tokenKey", SqlValue::Text(random_string(TOKEN_KEY_LEN))));
        }
        Ok(sets)
    }

    /// Load the stored row (only if the rule lets this caller update it), merge, validate
    /// and write the changed columns.
    pub fn run(&self, conn: &Connection) -> Result<(), WriteError> {
        let (collection, body, id) = (&self.collection, &self.body, &self.id);
        let mut sql = format!(
            "SELECT _m.* FROM {} AS _m WHERE _m.\"id\" = ?",
            q(&collection.name)
        );
        let mut params = vec![SqlValue::Text(id.clone())];
        if let Some((cond, p)) = &self.rule {
            sql.push_str(&format!(" AND {cond}"));
            params.extend(p.iter().cloned());
        }
        let mut stmt = conn.prepare_cached(&sql)?;
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let Some(row) = rows.next()? else {
            return Err(RecordsError::NotFound.into());
        };
        let mut stored = Map::new();
        for (i, name) in names.iter().enumerate() {
            let kind = match collection.field(name) {
                Some(f) => f.kind.clone(),
                None if matches!(name.as_str(), "emailVisibility" | "verified") => FieldKind::Bool,
                None => FieldKind::Text,
            };
            stored.insert(
                name.clone(),
                crate::schema::value::decode(&kind, row.get_ref(i)?),
            );
        }
        drop(rows);
        drop(stmt);

        let now = now_string();
        let mut errors = FieldErrors::new();
        let mut changed: Vec<(String, Value)> = Vec::new();
        for f in &collection.fields {
            if f.hidden && !self.superuser {
                continue;
            }
            let touched = body.contains_key(&f.name)
                || body.contains_key(&format!("{}+", f.name))
                || body.contains_key(&format!("+{}", f.name))
                || body.contains_key(&format!("{}-", f.name));
            let value = match &f.kind {
                FieldKind::Autodate(Autodate::Update) => json!(now),
                FieldKind::Autodate(Autodate::Create) => continue,
                _ if !touched => continue,
                _ => {
                    let start = body
                        .get(&f.name)
                        .cloned()
                        .unwrap_or_else(|| stored.get(&f.name).cloned().unwrap_or(Value::Null));
                    match apply_modifiers(&f.kind, &f.name, start, body)
                        .and_then(|v| normalize(&f.kind, v))
                    {
                        Ok(v) => v,
                        Err(e) => {
                            errors.insert(f.name.clone(), e);
                            continue;
                        }
                    }
                }
            };
            changed.push((f.name.clone(), value));
        }
        let stored_auth = stored.clone();
        let mut merged = stored;
        for (k, v) in &changed {
            merged.insert(k.clone(), v.clone());
        }
        validate(collection, &merged, &mut errors);
        // Only report errors about what this request changed (stored data was valid).
        errors.retain(|k, _| changed.iter().any(|(c, _)| c == k) || k == "data");
        for (name, value) in &changed {
            if let Some(f) = collection.field(name) {
                if missing_relations(conn, &self.snapshot, &f.kind, value)? {
                    errors.insert(
                        name.clone(),
                        field_error(
                            "validation_missing_rel_records",
                            "Failed to find all relation records with the provided ids.",
                        ),
                    );
                }
            }
        }
        let auth_sets = self.auth_sets(conn, &stored_auth, &mut errors)?;
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
        let mut sets = vec!["\"updated\" = ?1".to_owned()];
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(now)];
        for (name, value) in &changed {
            let f = collection.field(name).expect("changed fields are fields");
            params.push(encode(&f.kind, value));
            sets.push(format!("{} = ?{}", q(name), params.len()));
        }
        for (name, value) in auth_sets {
            params.push(value);
            sets.push(format!("{} = ?{}", q(name), params.len()));
        }
        params.push(SqlValue::Text(id.clone()));
        let sql = format!(
            "UPDATE {} SET {} WHERE \"id\" = ?{}",
            q(&collection.name),
            sets.join(", "),
            params.len()
        );
        conn.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| not_unique(DbError::Sqlite(e)))?;
        Ok(())
    }
}

/// Update record `id` with `body` (partial). Returns nothing; read it back to answer.
pub async fn update(
    db: &Db,
    hasher: &Hasher,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    body: Map<String, Value>,
    request: RequestInfo,
) -> Result<(), WriteError> {
    let job = prepare_update(&snapshot, &collection, id.clone(), body, &request)?;
    let secrets = secrets(db, hasher, &collection, Some(&id), &job.body).await?;
    let job = job.with_secrets(secrets);
    db.write(move |conn: &Connection| job.run(conn)).await
}

/// Whether record `id` exists in `collection`, whatever the rules (upsert's choice).
pub fn exists(conn: &Connection, collection: &Collection, id: &str) -> Result<bool, WriteError> {
    let sql = format!("SELECT 1 FROM {} WHERE \"id\" = ?1", q(&collection.name));
    Ok(conn.prepare_cached(&sql)?.exists([id])?)
}

/// A delete, checked as far as it can be without the stored row.
pub struct Delete {
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    rule: Option<(String, Vec<SqlValue>)>,
}

/// Check a delete of record `id` before it runs.
pub fn prepare_delete(
    snapshot: &Arc<Snapshot>,
    collection: &Arc<Collection>,
    id: String,
    request: &RequestInfo,
) -> Result<Delete, WriteError> {
    if collection.is_view() {
        return Err(WriteError::Unsupported("Unsupported collection type."));
    }
    if !request.superuser && collection.rules.delete.is_none() {
        return Err(RecordsError::SuperusersOnly.into());
    }
    Ok(Delete {
        rule: rule_sql(snapshot, collection, &collection.rules.delete, request)?,
        snapshot: snapshot.clone(),
        collection: collection.clone(),
        id,
    })
}

impl Delete {
    /// Delete the record: single relations follow their foreign keys (cascade, set
    /// empty, or refuse); multi-relations elsewhere drop the id, or lose their record
    /// when they cascade.
    pub fn run(&self, conn: &Connection) -> Result<(), WriteError> {
        let (snapshot, collection, id) = (&self.snapshot, &self.collection, &self.id);
        let mut sql = format!(
            "SELECT 1 FROM {} AS _m WHERE _m.\"id\" = ?",
            q(&collection.name)
        );
        let mut params = vec![SqlValue::Text(id.clone())];
        if let Some((cond, p)) = &self.rule {
            sql.push_str(&format!(" AND {cond}"));
            params.extend(p.iter().cloned());
        }
        let exists = conn
            .prepare_cached(&sql)?
            .exists(rusqlite::params_from_iter(params.iter()))?;
        if !exists {
            return Err(RecordsError::NotFound.into());
        }
        // Multi-relations pointing here.
        for other in snapshot.all() {
            for f in &other.fields {
                let FieldKind::Relation(r) = &f.kind else {
                    continue;
                };
                let points_here = r.multiple
                    && snapshot
                        .get(&r.collection)
                        .is_some_and(|t| t.id == collection.id);
                if !points_here {
                    continue;
                }
                let (t, c) = (q(&other.name), q(&f.name));
                let holds = format!("EXISTS (SELECT 1 FROM json_each({c}) WHERE value = ?1)");
                if r.cascade_delete {
                    conn.execute(&format!("DELETE FROM {t} WHERE {holds}"), [id])?;
                } else {
                    conn.execute(
                        &format!(
                            "UPDATE {t} SET {c} = (SELECT json_group_array(value) FROM json_each({c}) WHERE value != ?1) WHERE {holds}"
                        ),
                        [id],
                    )?;
                }
            }
        }
        match conn.execute(
            &format!("DELETE FROM {} WHERE \"id\" = ?1", q(&collection.name)),
            [id],
        ) {
            Ok(_) => Ok(()),
            // RESTRICT reports as a trigger constraint.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER =>
            {
                Err(WriteError::Referenced)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Delete record `id` (see [`Delete::run`]).
pub async fn delete(
    db: &Db,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    request: RequestInfo,
) -> Result<(), WriteError> {
    let job = prepare_delete(&snapshot, &collection, id, &request)?;
    db.write(move |conn: &Connection| job.run(conn)).await
}
