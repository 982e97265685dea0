//! The mailed flows of auth collections (API.md Part B §5.8): email verification,
//! password reset and email change, each with a single-purpose token.
//!
//! Each token type has its own collection secret and `type` claim, and is signed with
//! the record's `tokenKey`: a reset sets a new password, which rotates `tokenKey`, so a
//! reset token works once; an email change does the same. Every write re-checks that
//! `tokenKey` did not change since the token was verified.
//!
//! The request endpoints answer alike whether or not an account exists, and the mail is
//! sent in the background so the answer's timing does not tell either.
//!
//! SECURITY (RELIABILITY.md A-2): a flow that verifies a so far unverified record also
//! removes its OAuth2 links: they were made while nobody had proved the address, possibly
//! by someone who registered it first (PocketBase does the same since v0.37.4).

use crate::records::events::{capture, Action, Change};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use serde_json::{json, Map, Value};

use super::records::{load, AuthRecords, Purpose, StoredAuth};
use super::token::{self, Claims};
use super::{is_valid_email, AuthError, SUPERUSERS_ID};
use crate::db::external_auths;
use crate::mail::Mail;
use crate::schema::{quote_ident as q, Collection};
use crate::util::random_string;

/// A repeated request for the same record and purpose within this time sends no mail.
const RESEND_AFTER: Duration = Duration::from_secs(120);

/// What each purpose means to the mailed flows (the type itself is [`Purpose`], owned by
/// `records`, which keys its sent-mail throttle by it).
impl Purpose {
    /// The `type` claim.
    fn claim(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::PasswordReset => "passwordReset",
            Self::EmailChange => "emailChange",
        }
    }

    /// The key of the collection's auth options holding the secret and duration.
    fn option(self) -> &'static str {
        match self {
            Self::Verification => "verificationToken",
            Self::PasswordReset => "passwordResetToken",
            Self::EmailChange => "emailChangeToken",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Self::Verification => "verificationTemplate",
            Self::PasswordReset => "resetPasswordTemplate",
            Self::EmailChange => "confirmEmailChangeTemplate",
        }
    }
}

fn invalid_token(code: &'static str, message: &str) -> AuthError {
    AuthError::Invalid("token", code, message.to_owned())
}

fn check_email_field(field: &'static str, email: &str) -> Result<(), AuthError> {
    if email.is_empty() {
        return Err(AuthError::Invalid(
            field,
            "validation_required",
            "Cannot be blank.".into(),
        ));
    }
    if !is_valid_email(email) {
        return Err(AuthError::Invalid(
            field,
            "validation_is_email",
            "Must be a valid email address.".into(),
        ));
    }
    Ok(())
}

impl AuthRecords {
    fn purpose_key(collection: &Collection, purpose: Purpose, token_key: &str) -> Option<Vec<u8>> {
        let secret = collection.token_secret(purpose.option())?;
        if token_key.is_empty() || secret.is_empty() {
            return None;
        }
        Some([token_key.as_bytes(), secret.as_bytes()].concat())
    }

    fn purpose_token(
        collection: &Collection,
        stored: &StoredAuth,
        purpose: Purpose,
        extra: Map<String, Value>,
    ) -> Result<String, AuthError> {
        let duration = collection
            .auth
            .as_ref()
            .and_then(|a| a.get(purpose.option()))
            .and_then(|t| t.get("duration"))
            .and_then(Value::as_i64)
            .unwrap_or(1800);
        let claims = Claims {
            id: stored.id().to_owned(),
            kind: purpose.claim().into(),
            collection_id: collection.id.clone(),
            exp: token::now_unix() + duration,
            refreshable: None,
            extra,
        };
        let key = Self::purpose_key(collection, purpose, &stored.token_key).ok_or_else(|| {
            AuthError::Internal(format!(
                "{} has no {} secret",
                collection.name,
                purpose.option()
            ))
        })?;
        Ok(token::sign(&claims, &key))
    }

    /// Verify a mailed token of `purpose` for `collection`: the record it names, as
    /// stored now, and its claims.
    async fn verify_purpose(
        &self,
        collection: &Arc<Collection>,
        token_text: &str,
        purpose: Purpose,
    ) -> Result<(StoredAuth, Claims), AuthError> {
        let invalid = || invalid_token("validation_invalid_token", "Invalid or expired token.");
        let unverified = token::decode_unverified(token_text).ok_or_else(invalid)?;
        if unverified.claims.kind != purpose.claim() {
            return Err(invalid_token(
                "validation_invalid_token_claims",
                "Invalid token claims.",
            ));
        }
        if unverified.claims.collection_id != collection.id {
            return Err(invalid_token(
                "validation_token_collection_mismatch",
                "The token collection doesn't match.",
            ));
        }
        let stored = self
            .find(collection, &unverified.claims.id)
            .await?
            .ok_or_else(invalid)?;
        let key = Self::purpose_key(collection, purpose, &stored.token_key).ok_or_else(invalid)?;
        let claims = unverified
            .verify(&key, token::now_unix())
            .ok_or_else(invalid)?;
        // The token was issued for the email the record had then.
        if claims.extra.get("email").and_then(Value::as_str) != Some(stored.email()) {
            return Err(invalid());
        }
        Ok((stored, claims))
    }

    /// True when a mail of `purpose` for this record went out less than
    /// [`RESEND_AFTER`] ago; otherwise records this one.
    fn throttled(&self, collection: &Collection, id: &str, purpose: Purpose) -> bool {
        let mut sent = match self.sent.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        sent.retain(|_, at| now.duration_since(*at) < RESEND_AFTER);
        let key = (collection.id.clone(), id.to_owned(), purpose);
        if sent.contains_key(&key) {
            return true;
        }
        sent.insert(key, now);
        false
    }

    fn mail(
        &self,
        collection: &Collection,
        purpose: Purpose,
        to: &str,
        token: &str,
        stored: &StoredAuth,
    ) {
        let template = collection
            .auth
            .as_ref()
            .and_then(|a| a.get(purpose.template()));
        let email = stored.email().to_owned();
        let extra = [
            ("TOKEN", token),
            ("RECORD:email", email.as_str()),
            ("RECORD:id", stored.id()),
        ];
        let app = (self.app.0.as_str(), self.app.1.as_str());
        self.mailer
            .send_later(Mail::from_template(to.to_owned(), template, app, &extra));
    }

    async fn find_by_email(
        &self,
        collection: &Arc<Collection>,
        email: &str,
    ) -> Result<Option<StoredAuth>, AuthError> {
        let c = collection.clone();
        let email = email.to_owned();
        self.db
            .read(move |conn| load(conn, &c, "_m.\"email\" = ?1", &[SqlValue::Text(email)]))
            .await
    }

    /// `request-verification`: mail a verification link to an unverified record.
    pub async fn request_verification(
        &self,
        collection: &Arc<Collection>,
        email: &str,
    ) -> Result<(), AuthError> {
        if collection.id == SUPERUSERS_ID {
            return Err(AuthError::BadRequest(
                "All superusers are verified by default.",
            ));
        }
        check_email_field("email", email)?;
        let Some(stored) = self.find_by_email(collection, email).await? else {
            return Ok(());
        };
        if stored.record.get("verified") == Some(&Value::Bool(true))
            || self.throttled(collection, stored.id(), Purpose::Verification)
        {
            return Ok(());
        }
        let mut extra = Map::new();
        extra.insert("email".into(), json!(stored.email()));
        let token = Self::purpose_token(collection, &stored, Purpose::Verification, extra)?;
        self.mail(
            collection,
            Purpose::Verification,
            stored.email(),
            &token,
            &stored,
        );
        Ok(())
    }

    /// `confirm-verification`: mark the record verified.
    pub async fn confirm_verification(
        &self,
        collection: &Arc<Collection>,
        token_text: &str,
    ) -> Result<(), AuthError> {
        if collection.id == SUPERUSERS_ID {
            return Err(AuthError::BadRequest(
                "All superusers are verified by default.",
            ));
        }
        let (stored, _) = self
            .verify_purpose(collection, token_text, Purpose::Verification)
            .await?;
        let sql = format!(
            "UPDATE {} SET \"verified\" = 1 WHERE \"id\" = ?1 AND \"tokenKey\" = ?2",
            q(&collection.name)
        );
        let (id, key) = (stored.id().to_owned(), stored.token_key.clone());
        let (c, unverified) = (collection.clone(), !stored.is_verified());
        let change = self
            .db
            .write(move |conn| -> Result<Option<Change>, AuthError> {
                let changed = conn.execute(&sql, [&id, &key])?;
                if changed > 0 && unverified {
                    external_auths::delete_for_record_except(conn, &c.id, &id, None)?;
                    return Ok(capture(conn, Action::Update, &c, &id)?);
                }
                Ok(None)
            })
            .await?;
        self.publish(change);
        Ok(())
    }

    /// `request-password-reset`: mail a reset link.
    pub async fn request_password_reset(
        &self,
        collection: &Arc<Collection>,
        email: &str,
    ) -> Result<(), AuthError> {
        check_email_field("email", email)?;
        let Some(stored) = self.find_by_email(collection, email).await? else {
            return Ok(());
        };
        if self.throttled(collection, stored.id(), Purpose::PasswordReset) {
            return Ok(());
        }
        let mut extra = Map::new();
        extra.insert("email".into(), json!(stored.email()));
        let token = Self::purpose_token(collection, &stored, Purpose::PasswordReset, extra)?;
        self.mail(
            collection,
            Purpose::PasswordReset,
            stored.email(),
            &token,
            &stored,
        );
        Ok(())
    }

    /// `confirm-password-reset`: set the new password (rotating `tokenKey`, so the token
    /// cannot be used again) and mark the record verified (the mail reached its owner).
    pub async fn confirm_password_reset(
        &self,
        collection: &Arc<Collection>,
        token_text: &str,
        password: String,
    ) -> Result<(), AuthError> {
        let (stored, _) = self
            .verify_purpose(collection, token_text, Purpose::PasswordReset)
            .await?;
        // Hashed only once the token is known good.
        let password_hash = self.hasher().hash(password).await?;
        self.rotate_with(collection, &stored, "password", password_hash)
            .await
    }

    /// `request-email-change` by the record itself: mail a link to the new address.
    pub async fn request_email_change(
        &self,
        collection: &Arc<Collection>,
        id: &str,
        new_email: &str,
    ) -> Result<(), AuthError> {
        check_email_field("newEmail", new_email)?;
        let stored = self
            .find(collection, id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let taken = self.find_by_email(collection, new_email).await?.is_some();
        if taken || stored.email().eq_ignore_ascii_case(new_email) {
            return Err(AuthError::Invalid(
                "newEmail",
                "validation_invalid_new_email",
                "Invalid new email address.".into(),
            ));
        }
        let mut extra = Map::new();
        extra.insert("email".into(), json!(stored.email()));
        extra.insert("newEmail".into(), json!(new_email));
        let token = Self::purpose_token(collection, &stored, Purpose::EmailChange, extra)?;
        self.mail(collection, Purpose::EmailChange, new_email, &token, &stored);
        Ok(())
    }

    /// `confirm-email-change`: with the current password, set the new email, mark it
    /// verified and rotate `tokenKey` (every earlier token ends).
    pub async fn confirm_email_change(
        &self,
        collection: &Arc<Collection>,
        token_text: &str,
        password: &str,
    ) -> Result<(), AuthError> {
        let (stored, claims) = self
            .verify_purpose(collection, token_text, Purpose::EmailChange)
            .await?;
        let ok = self
            .hasher()
            .verify(
                password.to_owned(),
                Some(stored.password_hash.clone()).filter(|h| !h.is_empty()),
            )
            .await?;
        if !ok {
            return Err(AuthError::Invalid(
                "password",
                "validation_invalid_password",
                "Missing or invalid auth record password.".into(),
            ));
        }
        let new_email = claims
            .extra
            .get("newEmail")
            .and_then(Value::as_str)
            .filter(|e| is_valid_email(e))
            .ok_or_else(|| {
                invalid_token("validation_invalid_token_claims", "Invalid token claims.")
            })?
            .to_owned();
        self.rotate_with(collection, &stored, "email", new_email)
            .await
    }

    /// Set `column` (the password hash or the email) of a record whose mailed token was
    /// just verified, mark it verified, rotate its `tokenKey` (every earlier token ends,
    /// this one included) and drop OAuth2 links made while it was unverified.
    /// Refused when `tokenKey` changed since the token was verified.
    async fn rotate_with(
        &self,
        collection: &Arc<Collection>,
        stored: &StoredAuth,
        column: &'static str,
        value: String,
    ) -> Result<(), AuthError> {
        let sql = format!(
            "UPDATE {} SET {} = ?1, \"verified\" = 1, \"tokenKey\" = ?2, \"updated\" = ?3 WHERE \"id\" = ?4 AND \"tokenKey\" = ?5",
            q(&collection.name),
            q(column)
        );
        let params = [
            value,
            random_string(50),
            crate::util::now_string(),
            stored.id().to_owned(),
            stored.token_key.clone(),
        ];
        let (c, unverified) = (collection.clone(), !stored.is_verified());
        let (changed, change) = self
            .db
            .write(move |conn| -> Result<(usize, Option<Change>), AuthError> {
                let n = conn
                    .execute(&sql, rusqlite::params_from_iter(params.iter()))
                    .map_err(|e| match crate::db::DbError::Sqlite(e) {
                        // Only the email is unique: taken meanwhile.
                        e if e.is_unique_violation() => AuthError::Invalid(
                            "token",
                            "validation_invalid_new_email",
                            "The new email address is already in use.".into(),
                        ),
                        e => e.into(),
                    })?;
                if n > 0 && unverified {
                    external_auths::delete_for_record_except(conn, &c.id, &params[3], None)?;
                }
                let change = if n > 0 {
                    capture(conn, Action::Update, &c, &params[3])?
                } else {
                    None
                };
                Ok((n, change))
            })
            .await?;
        if changed == 0 {
            return Err(invalid_token(
                "validation_invalid_token",
                "Invalid or expired token.",
            ));
        }
        self.publish(change);
        Ok(())
    }
}
