//! Creating a record: checked off the writer, then run in one write transaction.

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::files::{merge_uploads, settle, NewFile};
use super::input::{check_id, field_value};
use super::persist::{insert_row, missing_relations, not_unique, TOKEN_KEY_LEN};
use super::rules::{check_writable, is_manager, manage_rule, rule_sql, Manage};
use super::validate::{check_bool, check_email, check_password, mismatch, validate};
use super::{
    field_error, finish, new_files, secrets, stage, FieldErrors, Secrets, Stores, WriteError,
};
use crate::auth::AuthError;
use crate::files::Upload;
use crate::query::compile::virtual_row;
use crate::query::RequestInfo;
use crate::records::events::{capture, Action, Change};
use crate::schema::field::FieldKind;
use crate::schema::{Collection, Snapshot};
use crate::util::{new_id, now_string, random_string};

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
    /// Uploads whose names the body holds (see [`super::files`]).
    files: Vec<NewFile>,
}

/// Check a create of `body` (no store access): rules that need no row, value
/// normalisation and JSON Schema validation.
pub fn prepare_create(
    snapshot: &Arc<Snapshot>,
    collection: &Arc<Collection>,
    body: &Map<String, Value>,
    request: &RequestInfo,
) -> Result<Create, WriteError> {
    check_writable(collection, &collection.rules.create, request)?;
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
                let Some(v) = field_value(f, start, body, &mut errors) else {
                    continue;
                };
                v
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
        files: Vec::new(),
    })
}

impl Create {
    /// The new record's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Give the job what [`secrets`](super::secrets) computed (auth collections).
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The uploads whose names the body holds.
    pub fn with_files(mut self, files: Vec<NewFile>) -> Self {
        self.files = files;
        self
    }

    /// The answer for `request` once written, without reading it back, when the viewRule
    /// allows that (see [`crate::records::written_json`]).
    pub fn answer(&self, request: &RequestInfo) -> Option<Value> {
        crate::records::written_json(&self.collection, &self.record, request)
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
        settle(
            conn,
            collection,
            &self.id,
            &Map::new(),
            record,
            &self.files,
            &mut errors,
        )?;
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

/// A created record: its id, its answer when known without a read, and the change to
/// publish (the row as committed).
pub struct Created {
    pub id: String,
    pub record: Option<Value>,
    pub change: Option<Change>,
}

/// Create a record from `body` and `uploads` (see [`Stores`]).
pub async fn create(
    stores: Stores<'_>,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    mut body: Map<String, Value>,
    uploads: Vec<Upload>,
    request: RequestInfo,
) -> Result<Created, WriteError> {
    let new = new_files(&uploads);
    merge_uploads(&mut body, &new);
    let job = prepare_create(&snapshot, &collection, &body, &request)?.with_files(new);
    let secrets = secrets(stores.db, stores.hasher, &collection, None, &body).await?;
    let job = job.with_secrets(secrets);
    let record = job.answer(&request);
    let staged = stage(stores.files, &collection, job.id(), uploads).await?;
    let result = stores
        .db
        .write(move |conn: &Connection| {
            job.run(conn)?;
            let change = capture(conn, Action::Create, &job.collection, &job.id)?;
            Ok((job.id, change))
        })
        .await
        .map(|(id, change)| Created { id, record, change });
    finish(stores.files, staged, result.is_ok()).await;
    result
}
