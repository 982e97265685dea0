//! Updating a record: the stored row is read under the update rule, merged with the
//! body, validated and written in one write transaction.

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::files::{merge_uploads, settle, NewFile};
use super::input::field_value;
use super::persist::{missing_relations, not_unique, select_by_id, TOKEN_KEY_LEN};
use super::rules::{check_writable, is_manager, manage_rule, rule_sql, Manage};
use super::validate::{check_bool, check_email, check_password, mismatch, validate};
use super::{
    field_error, finish, new_files, secrets, stage, FieldErrors, Secrets, Stores, WriteError,
};
use crate::auth::AuthError;
use crate::db::DbError;
use crate::files::Upload;
use crate::query::RequestInfo;
use crate::records::events::{capture, Action, Change};
use crate::records::RecordsError;
use crate::schema::field::{Autodate, FieldKind};
use crate::schema::value::encode;
use crate::schema::{quote_ident as q, Collection, Snapshot};
use crate::util::{now_string, random_string};

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
    /// Uploads whose names the body holds (see [`super::files`]).
    files: Vec<NewFile>,
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
    check_writable(collection, &collection.rules.update, request)?;
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
        files: Vec::new(),
    })
}

impl Update {
    /// The record's id.
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
        let (sql, params) = select_by_id("_m.*", collection, id, &self.rule);
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let Some(row) = rows.next()? else {
            return Err(RecordsError::NotFound.into());
        };
        let names = crate::db::row_names(row);
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
                    let Some(v) = field_value(f, start, body, &mut errors) else {
                        continue;
                    };
                    v
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
        if errors.is_empty() {
            settle(
                conn,
                collection,
                id,
                &stored_auth,
                &merged,
                &self.files,
                &mut errors,
            )?;
        }
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

/// Update record `id` with `body` (partial) and `uploads` (see [`Stores`]). Returns the
/// change to publish (the row as committed); read the record back to answer.
pub async fn update(
    stores: Stores<'_>,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    mut body: Map<String, Value>,
    uploads: Vec<Upload>,
    request: RequestInfo,
) -> Result<Option<Change>, WriteError> {
    let new = new_files(&uploads);
    merge_uploads(&mut body, &new);
    let job = prepare_update(&snapshot, &collection, id.clone(), body, &request)?.with_files(new);
    let secrets = secrets(stores.db, stores.hasher, &collection, Some(&id), &job.body).await?;
    let job = job.with_secrets(secrets);
    let staged = stage(stores.files, &collection, &id, uploads).await?;
    let result = stores
        .db
        .write(move |conn: &Connection| {
            job.run(conn)?;
            Ok(capture(conn, Action::Update, &job.collection, &job.id)?)
        })
        .await;
    finish(stores.files, staged, result.is_ok()).await;
    result
}
