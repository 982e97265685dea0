//! Sign-in with OAuth2 (API.md Part B §5.11): exchange the code, fetch the provider
//! account, choose the auth record it signs in to, and keep `_externalAuths` in step.
//!
//! The record is, in order: the one the account is linked to; the caller's own record
//! (the caller is signed in to this collection and links a provider); the record whose
//! email the provider *verified*; otherwise a new record from `createData` and the
//! collection's `mappedFields`, made through the ordinary create path (createRule, schema,
//! password policy). The choice and every change it leads to run in one write transaction.
//!
//! SECURITY (RELIABILITY.md: pre-hijacking):
//! - An email the provider does not vouch for never selects a record, and never marks one
//!   verified.
//! - When a verified provider email lands on an *unverified* record, the record is handed
//!   to the owner of the address, PocketBase's fix: it becomes verified, every other OAuth2
//!   link of it is removed (links made while nobody had proved the address, e.g. by an
//!   attacker who registered it first), and, unless the caller is already signed in as
//!   that record, its password is cleared (password login stops working) and its
//!   `tokenKey` rotated (every earlier token stops working). The mailed flows apply the
//!   same link removal when they verify an address (flows.rs).
//! - A new link on a record that stays unverified rotates its `tokenKey` (API.md §5.2).

use crate::records::events::{capture, Action, Change};
use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::providers::{Provider, ProviderUser};
use super::records::{load, AuthRecords, StoredAuth};
use super::{AuthError, SUPERUSERS_ID};
use crate::db::external_auths::{self, ExternalAuth};
use crate::db::DbError;
use crate::query::RequestInfo;
use crate::records::write::{self, WriteError};
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection};
use crate::util::{new_id, now_string, random_string};

/// Length of a generated `tokenKey` (as on create).
const TOKEN_KEY_LEN: usize = 50;

/// Why an OAuth2 sign-in failed: an auth problem, or the sign-up create was refused.
#[derive(Debug, thiserror::Error)]
pub enum OAuth2Error {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Create(#[from] WriteError),
}

impl From<DbError> for OAuth2Error {
    fn from(e: DbError) -> Self {
        Self::Auth(AuthError::Db(e))
    }
}

impl From<rusqlite::Error> for OAuth2Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Auth(e.into())
    }
}

/// An `auth-with-oauth2` request, parsed.
#[derive(Clone, Debug, Default)]
pub struct OAuth2Request {
    pub provider: String,
    pub code: String,
    pub code_verifier: String,
    pub redirect_url: String,
    pub create_data: Map<String, Value>,
    /// The caller's record id when the caller is signed in to this collection.
    pub caller: Option<String>,
    /// What `@request.*` sees, for the createRule of a sign-up.
    pub request: RequestInfo,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct OAuth2Outcome {
    pub stored: StoredAuth,
    pub user: ProviderUser,
    pub is_new: bool,
}

/// How a record was chosen.
enum Via {
    Link(ExternalAuth),
    Caller,
    Email,
}

struct Picked {
    stored: StoredAuth,
    via: Via,
}

/// Does the provider vouch for this record's email?
fn proves_email(user: &ProviderUser, stored: &StoredAuth) -> bool {
    user.email_verified
        && !user.email.is_empty()
        && stored.email().eq_ignore_ascii_case(&user.email)
}

fn by_id(conn: &Connection, c: &Collection, id: &str) -> Result<Option<StoredAuth>, AuthError> {
    load(conn, c, "_m.\"id\" = ?1", &[SqlValue::Text(id.to_owned())])
}

/// Choose the record (see the module notes). Also returns a link whose record is gone.
fn pick(
    conn: &Connection,
    c: &Collection,
    provider: &str,
    user: &ProviderUser,
    caller: Option<&str>,
) -> Result<(Option<Picked>, Option<ExternalAuth>), AuthError> {
    let mut stale = None;
    if let Some(link) = external_auths::find_by_provider(conn, &c.id, provider, &user.id)? {
        match by_id(conn, c, &link.record_ref)? {
            Some(stored) => {
                let via = Via::Link(link);
                return Ok((Some(Picked { stored, via }), None));
            }
            None => stale = Some(link),
        }
    }
    if let Some(stored) = caller.map(|id| by_id(conn, c, id)).transpose()?.flatten() {
        return Ok((
            Some(Picked {
                stored,
                via: Via::Caller,
            }),
            stale,
        ));
    }
    // SECURITY: only an address the provider vouches for may select an existing record.
    if user.email_verified && !user.email.is_empty() {
        let cond = "_m.\"email\" = ?1";
        if let Some(stored) = load(conn, c, cond, &[SqlValue::Text(user.email.clone())])? {
            return Ok((
                Some(Picked {
                    stored,
                    via: Via::Email,
                }),
                stale,
            ));
        }
    }
    Ok((None, stale))
}

fn link(
    conn: &Connection,
    c: &Collection,
    record_id: &str,
    provider: &str,
    user: &ProviderUser,
) -> Result<(), AuthError> {
    match external_auths::insert(conn, &c.id, record_id, provider, &user.id) {
        Ok(_) => Ok(()),
        Err(e) => match DbError::Sqlite(e) {
            e if e.is_unique_violation() => Err(AuthError::BadRequest(
                "The record is already linked to another account of this provider.",
            )),
            e => Err(e.into()),
        },
    }
}

/// Update the system columns of record `id` (`sets`: column → value) and `updated`.
fn set_columns(
    conn: &Connection,
    c: &Collection,
    id: &str,
    sets: &[(&str, SqlValue)],
) -> Result<(), AuthError> {
    if sets.is_empty() {
        return Ok(());
    }
    let mut assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{} = ?{}", q(col), i + 1))
        .collect();
    assignments.push(format!("\"updated\" = ?{}", sets.len() + 1));
    let sql = format!(
        "UPDATE {} SET {} WHERE \"id\" = ?{}",
        q(&c.name),
        assignments.join(", "),
        sets.len() + 2
    );
    let mut params: Vec<SqlValue> = sets.iter().map(|(_, v)| v.clone()).collect();
    params.push(SqlValue::Text(now_string()));
    params.push(SqlValue::Text(id.to_owned()));
    conn.execute(&sql, rusqlite::params_from_iter(params.iter()))?;
    Ok(())
}

/// Apply the sign-in to an existing record, in the write transaction.
fn sign_in_existing(
    conn: &Connection,
    c: &Collection,
    provider: &str,
    user: &ProviderUser,
    picked: Picked,
) -> Result<StoredAuth, AuthError> {
    let Picked { stored, via } = picked;
    let id = stored.id().to_owned();
    let existing_link = match &via {
        Via::Link(l) => Some(l.id.clone()),
        Via::Caller | Via::Email => None,
    };
    let mut sets: Vec<(&str, SqlValue)> = Vec::new();
    let verified = stored.is_verified() || proves_email(user, &stored);
    if !stored.is_verified() && verified {
        // SECURITY: the address is proved now; links made before belong to
        // whoever held the record while nobody had proved it.
        external_auths::delete_for_record_except(conn, &c.id, &id, existing_link.as_deref())?;
        sets.push(("verified", SqlValue::Integer(1)));
        if !matches!(via, Via::Caller) {
            // SECURITY: whoever registered the address first loses password access
            // and every token.
            sets.push(("password", SqlValue::Text(String::new())));
            sets.push(("tokenKey", SqlValue::Text(random_string(TOKEN_KEY_LEN))));
        }
    }
    if existing_link.is_none() {
        link(conn, c, &id, provider, user)?;
        if !verified {
            // A new link on an unverified record rotates its tokenKey (API.md §5.2).
            sets.push(("tokenKey", SqlValue::Text(random_string(TOKEN_KEY_LEN))));
        }
    }
    set_columns(conn, c, &id, &sets)?;
    by_id(conn, c, &id)?.ok_or(AuthError::InvalidCredentials)
}

/// The password policy of a collection (`auth.password`).
fn password_length(c: &Collection) -> usize {
    let p = c.auth.as_ref().and_then(|a| a.get("password"));
    let n = |key: &str, default: u64| {
        p.and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize
    };
    30usize.clamp(n("minLength", 8), n("maxLength", 71).max(n("minLength", 8)))
}

/// The text property `mappedFields.<key>` names, if the collection has one.
fn mapped_text_field<'a>(c: &'a Collection, key: &str) -> Option<&'a str> {
    let name = c
        .auth
        .as_ref()?
        .get("oauth2")?
        .get("mappedFields")?
        .get(key)?
        .as_str()
        .filter(|n| !n.is_empty())?;
    let field = c.field(name)?;
    // File properties would need the upload: files are not stored yet, so an avatar URL
    // only goes into a text property, as text (it is never fetched).
    matches!(field.kind, FieldKind::Text).then_some(field.name.as_str())
}

/// Is OAuth2 sign-in on for this collection? (Never for superusers: their collection cannot
/// enable it.)
pub fn check_enabled(collection: &Collection) -> Result<(), AuthError> {
    let enabled = collection
        .auth
        .as_ref()
        .and_then(|a| a.get("oauth2"))
        .and_then(|o| o.get("enabled"))
        == Some(&Value::Bool(true));
    if collection.id == SUPERUSERS_ID || !enabled {
        return Err(AuthError::Forbidden(
            "The collection is not configured to allow OAuth2 authentication.",
        ));
    }
    Ok(())
}

/// What `auth-methods` offers for OAuth2 (API.md §5.5): per configured provider a fresh
/// `state` and PKCE pair and the authorization URL ending in `redirect_uri=`. Empty when
/// OAuth2 is off.
pub fn offers(collection: &Collection) -> Vec<Value> {
    if check_enabled(collection).is_err() {
        return Vec::new();
    }
    let options = collection.auth.clone().unwrap_or(Value::Null);
    Provider::all(&options)
        .iter()
        .map(|p| {
            let state = random_string(30);
            let (verifier, challenge) = if p.pkce {
                let verifier = random_string(43);
                let challenge = super::providers::code_challenge(&verifier);
                (verifier, challenge)
            } else {
                (String::new(), String::new())
            };
            let url = p.authorization_url(&state, p.pkce.then_some(challenge.as_str()));
            json!({
                "name": p.name,
                "displayName": p.display_name,
                "state": state,
                "authURL": url,
                "authUrl": url,
                "codeVerifier": verifier,
                "codeChallenge": challenge,
                "codeChallengeMethod": if p.pkce { "S256" } else { "" },
            })
        })
        .collect()
}

impl AuthRecords {
    /// `auth-with-oauth2`: sign in (or up) with a provider's authorization code.
    pub async fn auth_with_oauth2(
        &self,
        collection: &Arc<Collection>,
        req: OAuth2Request,
    ) -> Result<OAuth2Outcome, OAuth2Error> {
        check_enabled(collection)?;
        let options = collection.auth.clone().unwrap_or(Value::Null);
        let provider = Provider::find(&options, &req.provider)
            .ok_or_else(|| AuthError::InvalidProvider(req.provider.clone()))?;
        let user = self
            .oauth2
            .authenticate(&provider, &req.code, &req.code_verifier, &req.redirect_url)
            .await
            .map_err(|e| {
                tracing::warn!(collection = %collection.name, provider = %provider.name, error = %e, "OAuth2 sign-in failed");
                AuthError::InvalidCredentials
            })?;

        // What would be chosen now; a sign-up is prepared (and its password hashed) off
        // the writer, then everything is decided again inside the write.
        let (c, name, u, caller) = (
            collection.clone(),
            provider.name.clone(),
            user.clone(),
            req.caller.clone(),
        );
        let (picked, _) = self
            .db
            .read(move |conn| pick(conn, &c, &name, &u, caller.as_deref()))
            .await?;
        let signup = match picked {
            Some(_) => None,
            None => Some(self.prepare_signup(collection, &req, &user).await?),
        };

        let (c, name, u, caller) = (
            collection.clone(),
            provider.name.clone(),
            user.clone(),
            req.caller.clone(),
        );
        let (stored, is_new, change) = self
            .db
            .write(
                move |conn| -> Result<(StoredAuth, bool, Option<Change>), OAuth2Error> {
                    let (picked, stale) = pick(conn, &c, &name, &u, caller.as_deref())?;
                    if let Some(stale) = stale {
                        external_auths::delete(conn, &stale.id)?;
                    }
                    if let Some(picked) = picked {
                        return Ok((sign_in_existing(conn, &c, &name, &u, picked)?, false, None));
                    }
                    // Chosen a moment ago, gone now: a race with a delete; the client retries.
                    let job = signup.ok_or(AuthError::InvalidCredentials)?;
                    job.run(conn)?;
                    let id = job.id().to_owned();
                    let stored = by_id(conn, &c, &id)?.ok_or(AuthError::InvalidCredentials)?;
                    link(conn, &c, &id, &name, &u)?;
                    if !stored.is_verified() && proves_email(&u, &stored) {
                        set_columns(conn, &c, &id, &[("verified", SqlValue::Integer(1))])?;
                    }
                    let change = capture(conn, Action::Create, &c, &id)?;
                    Ok((
                        by_id(conn, &c, &id)?.ok_or(AuthError::InvalidCredentials)?,
                        true,
                        change,
                    ))
                },
            )
            .await?;
        self.publish(change);
        self.check_auth_rule(collection, &stored).await?;
        Ok(OAuth2Outcome {
            stored,
            user,
            is_new,
        })
    }

    /// The create of a sign-up: `createData`, the provider email when none is given, a
    /// random password when none is given, and the mapped fields not given explicitly.
    async fn prepare_signup(
        &self,
        collection: &Arc<Collection>,
        req: &OAuth2Request,
        user: &ProviderUser,
    ) -> Result<write::Create, OAuth2Error> {
        let mut body = req.create_data.clone();
        let blank = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if blank(body.get("email")) && !user.email.is_empty() {
            body.insert("email".into(), json!(user.email));
        }
        if blank(body.get("password")) {
            let password = random_string(password_length(collection));
            body.insert("passwordConfirm".into(), json!(password));
            body.insert("password".into(), json!(password));
        }
        for (key, value) in [
            ("id", &user.id),
            ("name", &user.name),
            ("avatarURL", &user.avatar_url),
        ] {
            if let Some(field) = mapped_text_field(collection, key) {
                if !body.contains_key(field) {
                    body.insert(field.to_owned(), json!(value));
                }
            }
        }
        if let Some(field) = mapped_text_field(collection, "username") {
            if !body.contains_key(field) && !user.username.is_empty() {
                let username = self
                    .free_username(collection, field, &user.username)
                    .await?;
                body.insert(field.to_owned(), json!(username));
            }
        }
        let snapshot = self.registry.snapshot();
        let mut request = req.request.clone();
        request.context = "oauth2".into();
        request.body = body.clone();
        let job = write::prepare_create(&snapshot, collection, &body, &request)?;
        let secrets = write::secrets(&self.db, &self.hasher, collection, None, &body).await?;
        Ok(job.with_secrets(secrets))
    }

    /// `username`, or with a random suffix when another record has it already.
    async fn free_username(
        &self,
        collection: &Arc<Collection>,
        field: &str,
        username: &str,
    ) -> Result<String, AuthError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ?1)",
            q(&collection.name),
            q(field)
        );
        let wanted = username.to_owned();
        let taken = self
            .db
            .read(move |conn| -> Result<bool, AuthError> {
                Ok(conn.query_row(&sql, [wanted], |r| r.get(0))?)
            })
            .await?;
        Ok(if taken {
            format!("{username}{}", &new_id()[..4])
        } else {
            username.to_owned()
        })
    }
}
