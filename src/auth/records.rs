//! Auth records of user auth collections (`users` and any other `auth` collection):
//! password login, tokens, and the token → caller lookup every request makes.
//! (`_superusers` has its own service in `superusers.rs`.)
//!
//! Tokens are HS256 with PocketBase's claims, signed with the record's `tokenKey`
//! followed by the collection's `authToken.secret` (API.md Part B §5.2): a new password
//! or email rotates `tokenKey`, a new authRule rotates the secret, and every earlier token
//! stops working at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::password::Hasher;
use super::providers::OAuth2Client;
use super::token::{self, Claims};
use super::{is_valid_email, AuthError, SUPERUSERS_ID};
use crate::db::Db;
use crate::mail::Mailer;
use crate::query::{compile_where, parse, AuthRecord, Mode, RequestInfo, Scope};
use crate::records::events::Events;
use crate::schema::field::FieldKind;
use crate::schema::value::decode;
use crate::schema::{quote_ident as q, Collection, Registry};

/// `authToken.duration` when the options carry none (PocketBase's `users` default).
const DEFAULT_AUTH_SECS: i64 = 432_000;
/// Lifetime of a file token when the collection does not say (PocketBase: 180 s).
pub const DEFAULT_FILE_SECS: i64 = 180;

/// A caller authenticated with a record of a user auth collection.
#[derive(Clone, Debug)]
pub struct RecordSession {
    pub collection: Arc<Collection>,
    /// Every column (hidden fields included) except `password` and `tokenKey`.
    pub record: Map<String, Value>,
    pub claims: Claims,
    pub token: String,
}

impl RecordSession {
    pub fn id(&self) -> &str {
        self.record.get("id").and_then(Value::as_str).unwrap_or("")
    }

    /// What `@request.auth` sees.
    pub fn auth_record(&self) -> AuthRecord {
        AuthRecord {
            collection: self.collection.clone(),
            record: self.record.clone(),
        }
    }
}

/// A stored auth record: its columns, with the secrets split off.
#[derive(Clone, Debug)]
pub struct StoredAuth {
    pub record: Map<String, Value>,
    pub password_hash: String,
    pub token_key: String,
}

impl StoredAuth {
    pub fn id(&self) -> &str {
        self.record.get("id").and_then(Value::as_str).unwrap_or("")
    }

    pub fn email(&self) -> &str {
        self.record
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn is_verified(&self) -> bool {
        self.record.get("verified") == Some(&Value::Bool(true))
    }
}

/// Decode every column of a row of `collection`, splitting off `password` and `tokenKey`.
pub fn decode_row(
    collection: &Collection,
    names: &[String],
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<StoredAuth> {
    let mut record = Map::with_capacity(names.len() + 2);
    record.insert("collectionId".into(), Value::String(collection.id.clone()));
    record.insert(
        "collectionName".into(),
        Value::String(collection.name.clone()),
    );
    let (mut password_hash, mut token_key) = (String::new(), String::new());
    for (i, name) in names.iter().enumerate() {
        let raw = row.get_ref(i)?;
        match name.as_str() {
            "password" => password_hash = raw.as_str().unwrap_or("").to_owned(),
            "tokenKey" => token_key = raw.as_str().unwrap_or("").to_owned(),
            "emailVisibility" | "verified" => {
                record.insert(name.clone(), decode(&FieldKind::Bool, raw));
            }
            _ => {
                let kind = collection
                    .field(name)
                    .map_or(FieldKind::Text, |f| f.kind.clone());
                record.insert(name.clone(), decode(&kind, raw));
            }
        }
    }
    Ok(StoredAuth {
        record,
        password_hash,
        token_key,
    })
}

/// Load one record of `collection` matching `cond` (SQL over alias `_m`).
pub fn load(
    conn: &Connection,
    collection: &Collection,
    cond: &str,
    params: &[SqlValue],
) -> Result<Option<StoredAuth>, AuthError> {
    let sql = format!(
        "SELECT _m.* FROM {} AS _m WHERE {cond} LIMIT 1",
        q(&collection.name)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    match rows.next()? {
        Some(row) => Ok(Some(decode_row(
            collection,
            &crate::db::row_names(row),
            row,
        )?)),
        None => Ok(None),
    }
}

/// Does `token` still authenticate `stored`, a record of `collection` (superusers
/// included: they sign the same way)? Checks the signature against the record's current
/// `tokenKey` and the collection's current secret, the expiry, and that the claims name
/// this record. Realtime uses it to drop bindings that stopped being valid.
pub fn token_still_valid(collection: &Collection, stored: &StoredAuth, token: &str) -> bool {
    let Some(unverified) = token::decode_unverified(token) else {
        return false;
    };
    let names_it = unverified.claims.kind == "auth"
        && unverified.claims.collection_id == collection.id
        && unverified.claims.id == stored.id();
    if !names_it {
        return false;
    }
    let Some(key) = AuthRecords::signing_key(collection, "auth", &stored.token_key) else {
        return false;
    };
    unverified.verify(&key, token::now_unix()).is_some()
}

/// The auth record JSON its owner sees: email always, hidden fields never.
pub fn own_json(collection: &Collection, record: &Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(record.len());
    for (k, v) in record {
        let hidden = collection.field(k).is_some_and(|f| f.hidden);
        if !hidden {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The purposes of mailed tokens (their claims, secrets and mails are in `flows`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    Verification,
    PasswordReset,
    EmailChange,
}

/// (collection id, record id, purpose) → when its last mail went out.
pub(super) type SentMails = HashMap<(String, String, Purpose), Instant>;

/// The auth records service. Cheap to clone.
#[derive(Clone)]
pub struct AuthRecords {
    pub(super) db: Db,
    pub(super) hasher: Hasher,
    pub(super) registry: Arc<Registry>,
    pub(super) mailer: Mailer,
    /// Outbound calls of the OAuth2 code flow.
    pub(super) oauth2: OAuth2Client,
    /// `app_name`, `app_url` for mails.
    pub(super) app: Arc<(String, String)>,
    /// When a mail of each purpose last went to each record (resend throttle).
    pub(super) sent: Arc<Mutex<SentMails>>,
    /// Record changes made by the flows (verification, password reset, email change,
    /// OAuth2 sign-up) go to realtime subscribers as the records API's do.
    pub(super) events: Option<Events>,
}

impl AuthRecords {
    pub fn new(
        db: Db,
        hasher: Hasher,
        registry: Arc<Registry>,
        mailer: Mailer,
        oauth2: OAuth2Client,
        app_name: String,
        app_url: String,
    ) -> Self {
        Self {
            db,
            hasher,
            registry,
            mailer,
            oauth2,
            app: Arc::new((app_name, app_url)),
            sent: Arc::default(),
            events: None,
        }
    }

    /// Publish the flows' record changes to `events`.
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = Some(events);
        self
    }

    /// Hand committed changes of the flows to realtime subscribers.
    pub(super) fn publish(
        &self,
        changes: impl IntoIterator<Item = crate::records::events::Change>,
    ) {
        if let Some(events) = &self.events {
            events.publish_all(changes);
        }
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// `tokenKey` + the collection's secret for tokens of `kind` (`auth` or `file`).
    fn signing_key(collection: &Collection, kind: &str, token_key: &str) -> Option<Vec<u8>> {
        let secret = collection.token_secret(secret_name(kind)?)?;
        if token_key.is_empty() || secret.is_empty() {
            return None;
        }
        let mut key = Vec::with_capacity(token_key.len() + secret.len());
        key.extend_from_slice(token_key.as_bytes());
        key.extend_from_slice(secret.as_bytes());
        Some(key)
    }

    /// An auth token for record `id`: refreshable unless it is an impersonation token,
    /// valid for `duration` seconds (default: the collection's `authToken.duration`).
    pub fn issue_token(
        collection: &Collection,
        stored: &StoredAuth,
        duration: Option<i64>,
        refreshable: bool,
    ) -> Result<String, AuthError> {
        let default = collection
            .auth
            .as_ref()
            .and_then(|a| a.get("authToken"))
            .and_then(|t| t.get("duration"))
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_AUTH_SECS);
        let claims = Claims {
            id: stored.id().to_owned(),
            kind: "auth".into(),
            collection_id: collection.id.clone(),
            exp: token::now_unix() + duration.filter(|d| *d > 0).unwrap_or(default),
            refreshable: Some(refreshable),
            extra: Default::default(),
        };
        let key = Self::signing_key(collection, "auth", &stored.token_key).ok_or_else(|| {
            AuthError::Internal(format!(
                "auth collection {} has no token secret",
                collection.name
            ))
        })?;
        Ok(token::sign(&claims, &key))
    }

    /// A file token for record `stored` (API.md §6.4): `fileToken.duration` seconds
    /// (default 180), signed with the `fileToken` secret.
    pub fn issue_file_token(
        collection: &Collection,
        stored: &StoredAuth,
    ) -> Result<String, AuthError> {
        let duration = collection
            .auth
            .as_ref()
            .and_then(|a| a.get("fileToken"))
            .and_then(|t| t.get("duration"))
            .and_then(Value::as_i64)
            .filter(|d| *d > 0)
            .unwrap_or(DEFAULT_FILE_SECS);
        let claims = Claims {
            id: stored.id().to_owned(),
            kind: "file".into(),
            collection_id: collection.id.clone(),
            exp: token::now_unix() + duration,
            refreshable: None,
            extra: Default::default(),
        };
        let key = Self::signing_key(collection, "file", &stored.token_key).ok_or_else(|| {
            AuthError::Internal(format!(
                "auth collection {} has no file token secret",
                collection.name
            ))
        })?;
        Ok(token::sign(&claims, &key))
    }

    /// A file token for the caller of `session` (its stored token key is read again, so
    /// a token revoked since cannot mint one).
    pub async fn file_token(&self, session: &RecordSession) -> Result<String, AuthError> {
        let c = session.collection.clone();
        let id = session.id().to_owned();
        let stored = self
            .db
            .read(move |conn| load(conn, &c, "_m.\"id\" = ?1", &[SqlValue::Text(id)]))
            .await?
            .ok_or_else(|| AuthError::Internal("the authenticated record is gone".into()))?;
        Self::issue_file_token(&session.collection, &stored)
    }

    /// The record an auth token of a user auth collection belongs to; `None` when the
    /// token is not a valid, unexpired auth token of such a collection.
    pub async fn from_token(&self, token: &str) -> Result<Option<RecordSession>, AuthError> {
        self.verify_token_of_kind(token, "auth").await
    }

    /// The record a file token (`?token=` of a protected file) belongs to.
    pub async fn from_file_token(&self, token: &str) -> Result<Option<RecordSession>, AuthError> {
        self.verify_token_of_kind(token, "file").await
    }

    async fn verify_token_of_kind(
        &self,
        token: &str,
        kind: &'static str,
    ) -> Result<Option<RecordSession>, AuthError> {
        let Some(unverified) = token::decode_unverified(token) else {
            return Ok(None);
        };
        if unverified.claims.kind != kind || unverified.claims.collection_id == SUPERUSERS_ID {
            return Ok(None);
        }
        let snapshot = self.registry.snapshot();
        let Some(collection) = snapshot.get(&unverified.claims.collection_id).cloned() else {
            return Ok(None);
        };
        // The claim must name the collection by id (a name would be a forged shape).
        if !collection.is_auth() || collection.id != unverified.claims.collection_id {
            return Ok(None);
        }
        let id = unverified.claims.id.clone();
        let c = collection.clone();
        let stored = self
            .db
            .read(move |conn| load(conn, &c, "_m.\"id\" = ?1", &[SqlValue::Text(id)]))
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Some(key) = Self::signing_key(&collection, kind, &stored.token_key) else {
            return Ok(None);
        };
        Ok(unverified
            .verify(&key, token::now_unix())
            .map(|claims| RecordSession {
                collection,
                record: stored.record,
                claims,
                token: token.to_owned(),
            }))
    }

    /// Check `identity` + `password` against `collection`'s identity fields. Unknown
    /// identities and wrong passwords fail alike, in the same time.
    pub async fn auth_with_password(
        &self,
        collection: Arc<Collection>,
        identity: &str,
        password: &str,
        identity_field: Option<&str>,
    ) -> Result<StoredAuth, AuthError> {
        let options = collection.auth.clone().unwrap_or(Value::Null);
        let password_auth = &options["passwordAuth"];
        if password_auth["enabled"] != Value::Bool(true) {
            return Err(AuthError::Forbidden(
                "The collection is not configured to allow password authentication.",
            ));
        }
        let allowed: Vec<String> = password_auth["identityFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let fields: Vec<String> = match identity_field {
            Some(f) if allowed.iter().any(|a| a == f) => vec![f.to_owned()],
            Some(_) => {
                return Err(AuthError::Invalid(
                    "identityField",
                    "validation_in_invalid",
                    "Must be a valid value.".into(),
                ))
            }
            None => {
                let mut v: Vec<String> = allowed.clone();
                v.sort_by_key(|f| f != "email");
                v
            }
        };
        let identity_owned = identity.to_owned();
        let c = collection.clone();
        let stored = self
            .db
            .read(move |conn| -> Result<Option<StoredAuth>, AuthError> {
                for field in &fields {
                    if field == "email" && !is_valid_email(&identity_owned) {
                        continue;
                    }
                    // Only unique fields identify a record (checked when options are saved;
                    // checked again here so a dropped index cannot match two accounts).
                    let unique = field == "email"
                        || c.indexes.iter().any(|i| {
                            i.unique && i.where_clause.is_none() && i.fields == [field.clone()]
                        });
                    if !unique || (field != "email" && c.field(field).is_none()) {
                        continue;
                    }
                    let cond = format!("_m.{} = ?1", q(field));
                    if let Some(s) =
                        load(conn, &c, &cond, &[SqlValue::Text(identity_owned.clone())])?
                    {
                        return Ok(Some(s));
                    }
                }
                Ok(None)
            })
            .await?;
        let ok = self
            .hasher
            .verify(
                password.to_owned(),
                stored
                    .as_ref()
                    .map(|s| s.password_hash.clone())
                    .filter(|h| !h.is_empty()),
            )
            .await?;
        match stored {
            Some(stored) if ok => {
                if super::password::needs_rehash(&stored.password_hash) {
                    self.rehash_later(&collection, &stored, password.to_owned());
                }
                self.check_auth_rule(&collection, &stored).await?;
                Ok(stored)
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// The collection's authRule for this record: `null` lets nobody in, `""` everyone,
    /// anything else must match the record (with `@request.auth` = the record).
    pub async fn check_auth_rule(
        &self,
        collection: &Arc<Collection>,
        stored: &StoredAuth,
    ) -> Result<(), AuthError> {
        let refused = AuthError::Forbidden(
            "The request doesn't satisfy the collection requirements to authenticate.",
        );
        match collection.rules.auth.as_deref() {
            None => Err(refused),
            Some(r) if r.trim().is_empty() => Ok(()),
            Some(r) => {
                if self.rule_matches(collection, stored, r).await? {
                    Ok(())
                } else {
                    Err(refused)
                }
            }
        }
    }

    /// Does filter `rule` hold for this record (with `@request.auth` = the record)? A rule
    /// that does not compile never holds.
    pub(super) async fn rule_matches(
        &self,
        collection: &Arc<Collection>,
        stored: &StoredAuth,
        rule: &str,
    ) -> Result<bool, AuthError> {
        let snapshot = self.registry.snapshot();
        let request = RequestInfo {
            auth: Some(AuthRecord {
                collection: collection.clone(),
                record: stored.record.clone(),
            }),
            context: "password".into(),
            method: "POST".into(),
            ..Default::default()
        };
        let scope = Scope {
            snapshot: &snapshot,
            collection,
            mode: Mode::Rule,
            request: &request,
            alias: "_m",
        };
        let compiled = match parse(rule).and_then(|e| compile_where(&e, &scope)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(collection = %collection.name, error = %e, "an auth rule does not compile; denying");
                return Ok(false);
            }
        };
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} AS _m WHERE _m.\"id\" = ? AND ({}))",
            q(&collection.name),
            compiled.sql
        );
        let mut params = vec![SqlValue::Text(stored.id().to_owned())];
        params.extend(compiled.params);
        self.db
            .read(move |conn| -> Result<bool, AuthError> {
                Ok(
                    conn.query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
    }

    /// Replace a hash below the current argon2 policy by a fresh one, in the background
    /// (the login does not wait), only if the stored hash is still the one verified. Not a
    /// password change: `tokenKey` stays.
    fn rehash_later(&self, collection: &Arc<Collection>, stored: &StoredAuth, password: String) {
        let (db, hasher) = (self.db.clone(), self.hasher.clone());
        let sql = format!(
            "UPDATE {} SET \"password\" = ?1 WHERE \"id\" = ?2 AND \"password\" = ?3",
            q(&collection.name)
        );
        let (id, old) = (stored.id().to_owned(), stored.password_hash.clone());
        tokio::spawn(async move {
            let result = match hasher.hash(password).await {
                Ok(new) => {
                    db.write(move |conn| -> Result<usize, AuthError> {
                        Ok(conn.execute(&sql, [new, id, old])?)
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "rehashing a password failed");
            }
        });
    }

    /// Load record `id` of `collection` (for refresh and impersonation).
    pub async fn find(
        &self,
        collection: &Arc<Collection>,
        id: &str,
    ) -> Result<Option<StoredAuth>, AuthError> {
        let c = collection.clone();
        let id = id.to_owned();
        self.db
            .read(move |conn| load(conn, &c, "_m.\"id\" = ?1", &[SqlValue::Text(id)]))
            .await
    }
}

/// The collection secret that signs tokens of `kind`.
pub(crate) fn secret_name(kind: &str) -> Option<&'static str> {
    match kind {
        "auth" => Some("authToken"),
        "file" => Some("fileToken"),
        _ => None,
    }
}
