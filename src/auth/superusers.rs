//! The `_superusers` system auth collection: upsert/delete (CLI), password login, tokens,
//! and the one-time install token that creates the first superuser.
//!
//! Tokens are signed with the superuser's `tokenKey` followed by the collection's auth
//! secret, so setting a new password (which rotates `tokenKey`) ends every earlier token.

use serde_json::json;

use super::password::Hasher;
use super::token::{self, Claims};
use super::{is_valid_email, AuthError};
use crate::db::superusers::{self as repo, SuperuserRow};
use crate::db::Db;
use crate::schema::Registry;
use crate::util::{new_id, now_string, random_string};

pub const SUPERUSERS_ID: &str = "pbc_3142635823";
pub const SUPERUSERS_NAME: &str = "_superusers";
/// `authToken.duration` of `_superusers`, seconds (PocketBase's default).
pub const AUTH_TOKEN_SECS: i64 = 86_400;
/// Lifetime of the install link printed when no superuser exists, seconds.
pub const INSTALL_TOKEN_SECS: i64 = 30 * 60;
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 255;
const TOKEN_KEY_LEN: usize = 50;

/// The superusers service. Cheap to clone.
#[derive(Clone)]
pub struct Superusers {
    db: Db,
    hasher: Hasher,
    registry: std::sync::Arc<Registry>,
}

/// Result of [`Superusers::upsert`].
#[derive(Debug)]
pub struct Upserted {
    pub row: SuperuserRow,
    pub created: bool,
}

impl Superusers {
    /// The service over `db`; token secrets come from the `_superusers` collection in the
    /// registry, so rotating them there takes effect at once.
    pub fn new(db: Db, hasher: Hasher, registry: std::sync::Arc<Registry>) -> Self {
        Self {
            db,
            hasher,
            registry,
        }
    }

    /// The collection's auth token secret. `None` would mean a broken registry: every token
    /// is then refused (fail closed).
    fn secret(&self, kind: &str) -> Option<String> {
        self.registry.snapshot().get(SUPERUSERS_ID).and_then(|c| {
            c.token_secret(super::records::secret_name(kind)?)
                .map(str::to_owned)
        })
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    fn validate(email: &str, password: &str) -> Result<(), AuthError> {
        if !is_valid_email(email) {
            return Err(AuthError::Invalid(
                "email",
                "validation_is_email",
                "Must be a valid email address.".into(),
            ));
        }
        let n = password.chars().count();
        if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
            return Err(AuthError::Invalid(
                "password",
                "validation_length_out_of_range",
                format!("The length must be between {PASSWORD_MIN} and {PASSWORD_MAX}."),
            ));
        }
        Ok(())
    }

    /// Create a superuser, or set the password of the one with this email.
    pub async fn upsert(&self, email: &str, password: &str) -> Result<Upserted, AuthError> {
        let email = email.trim().to_owned();
        Self::validate(&email, password)?;
        let hash = self.hasher.hash(password.to_owned()).await?;
        self.db
            .write(move |conn| -> Result<Upserted, AuthError> {
                let now = now_string();
                if let Some(mut row) = repo::find_by_email(conn, &email)? {
                    row.password_hash = hash;
                    row.token_key = random_string(TOKEN_KEY_LEN);
                    row.updated = now;
                    repo::set_password(
                        conn,
                        &row.id,
                        &row.password_hash,
                        &row.token_key,
                        &row.updated,
                    )?;
                    return Ok(Upserted {
                        row,
                        created: false,
                    });
                }
                let row = new_row(email, hash, now);
                repo::insert(conn, &row)?;
                Ok(Upserted { row, created: true })
            })
            .await
    }

    /// Delete the superuser with this email; false when there was none.
    pub async fn delete(&self, email: &str) -> Result<bool, AuthError> {
        let email = email.trim().to_owned();
        self.db
            .write(move |conn| -> Result<bool, AuthError> {
                Ok(repo::delete_by_email(conn, &email)? > 0)
            })
            .await
    }

    pub async fn count(&self) -> Result<i64, AuthError> {
        self.db
            .read(|conn| -> Result<i64, AuthError> { Ok(repo::count(conn)?) })
            .await
    }

    /// Check an email and password. Unknown email and wrong password fail alike, in the
    /// same time (a dummy hash is verified when there is no account).
    pub async fn auth_with_password(
        &self,
        identity: &str,
        password: &str,
    ) -> Result<SuperuserRow, AuthError> {
        let email = identity.to_owned();
        let row = self
            .db
            .read(move |conn| -> Result<_, AuthError> { Ok(repo::find_by_email(conn, &email)?) })
            .await?;
        let ok = self
            .hasher
            .verify(
                password.to_owned(),
                row.as_ref().map(|r| r.password_hash.clone()),
            )
            .await?;
        match row {
            Some(row) if ok => Ok(row),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    fn signing_key(&self, kind: &str, token_key: &str) -> Option<Vec<u8>> {
        let secret = self.secret(kind)?;
        let mut key = Vec::with_capacity(token_key.len() + secret.len());
        key.extend_from_slice(token_key.as_bytes());
        key.extend_from_slice(secret.as_bytes());
        Some(key)
    }

    /// A fresh, refreshable auth token for `row`.
    pub fn issue_token(&self, row: &SuperuserRow) -> Result<String, AuthError> {
        let claims = Claims {
            id: row.id.clone(),
            kind: "auth".into(),
            collection_id: SUPERUSERS_ID.into(),
            exp: token::now_unix() + AUTH_TOKEN_SECS,
            refreshable: Some(true),
            extra: Default::default(),
        };
        let key = self.signing_key("auth", &row.token_key).ok_or_else(|| {
            AuthError::Internal("the _superusers collection has no token secret".into())
        })?;
        Ok(token::sign(&claims, &key))
    }

    /// A file token for `row` (protected files, backups downloads; API.md §6.4).
    pub fn issue_file_token(&self, row: &SuperuserRow) -> Result<String, AuthError> {
        let claims = Claims {
            id: row.id.clone(),
            kind: "file".into(),
            collection_id: SUPERUSERS_ID.into(),
            exp: token::now_unix() + super::records::DEFAULT_FILE_SECS,
            refreshable: None,
            extra: Default::default(),
        };
        let key = self.signing_key("file", &row.token_key).ok_or_else(|| {
            AuthError::Internal("the _superusers collection has no file token secret".into())
        })?;
        Ok(token::sign(&claims, &key))
    }

    /// The superuser an auth token belongs to, or `None` when the token is not a valid,
    /// unexpired superuser auth token (the caller is then a guest).
    pub async fn from_token(
        &self,
        token: &str,
    ) -> Result<Option<(SuperuserRow, Claims)>, AuthError> {
        self.verify_token_of_kind(token, "auth").await
    }

    /// The superuser a file token belongs to.
    pub async fn from_file_token(
        &self,
        token: &str,
    ) -> Result<Option<(SuperuserRow, Claims)>, AuthError> {
        self.verify_token_of_kind(token, "file").await
    }

    async fn verify_token_of_kind(
        &self,
        token: &str,
        kind: &'static str,
    ) -> Result<Option<(SuperuserRow, Claims)>, AuthError> {
        let Some(unverified) = token::decode_unverified(token) else {
            return Ok(None);
        };
        if unverified.claims.kind != kind || unverified.claims.collection_id != SUPERUSERS_ID {
            return Ok(None);
        }
        let id = unverified.claims.id.clone();
        let row = self
            .db
            .read(move |conn| -> Result<_, AuthError> { Ok(repo::find_by_id(conn, &id)?) })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(key) = self.signing_key(kind, &row.token_key) else {
            return Ok(None);
        };
        Ok(unverified
            .verify(&key, token::now_unix())
            .map(|claims| (row, claims)))
    }

    /// A short-lived token that allows creating the first superuser (see [`Self::install`]).
    pub fn install_token(&self) -> Result<String, AuthError> {
        let claims = Claims {
            id: "install".into(),
            kind: "install".into(),
            collection_id: SUPERUSERS_ID.into(),
            exp: token::now_unix() + INSTALL_TOKEN_SECS,
            refreshable: None,
            extra: Default::default(),
        };
        let key = self.install_key().ok_or_else(|| {
            AuthError::Internal("the _superusers collection has no token secret".into())
        })?;
        Ok(token::sign(&claims, key.as_bytes()))
    }

    fn install_key(&self) -> Option<String> {
        self.secret("auth").map(|s| format!("install:{s}"))
    }

    /// Create the first superuser with an install token. Refused once any superuser exists,
    /// so the link works once and never again.
    pub async fn install(
        &self,
        install_token: &str,
        email: &str,
        password: &str,
    ) -> Result<SuperuserRow, AuthError> {
        let key = self.install_key().unwrap_or_default();
        let valid = !key.is_empty()
            && token::decode_unverified(install_token)
                .filter(|t| t.claims.kind == "install" && t.claims.collection_id == SUPERUSERS_ID)
                .and_then(|t| t.verify(key.as_bytes(), token::now_unix()))
                .is_some();
        if !valid {
            return Err(AuthError::InvalidInstallToken);
        }
        let email = email.trim().to_owned();
        Self::validate(&email, password)?;
        let hash = self.hasher.hash(password.to_owned()).await?;
        self.db
            .write(move |conn| -> Result<SuperuserRow, AuthError> {
                // SECURITY: checked in the same transaction as the insert, so two racing
                // install requests cannot both create a superuser.
                if repo::count(conn)? > 0 {
                    return Err(AuthError::AlreadyInstalled);
                }
                let row = new_row(email, hash, now_string());
                repo::insert(conn, &row)?;
                Ok(row)
            })
            .await
    }
}

fn new_row(email: String, password_hash: String, now: String) -> SuperuserRow {
    SuperuserRow {
        id: new_id(),
        email,
        email_visibility: false,
        verified: true,
        password_hash,
        token_key: random_string(TOKEN_KEY_LEN),
        created: now.clone(),
        updated: now,
    }
}

/// The public JSON of a superuser record. `password` and `tokenKey` are never included.
pub fn record_json(row: &SuperuserRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "collectionId": SUPERUSERS_ID,
        "collectionName": SUPERUSERS_NAME,
        "email": row.email,
        "emailVisibility": row.email_visibility,
        "verified": row.verified,
        "created": row.created,
        "updated": row.updated,
    })
}
