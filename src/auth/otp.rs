//! One-time passwords by email and multi-factor authentication (API.md Part B §5.6–5.7).
//!
//! An OTP is a short numeric code mailed to the record's address; only a salted SHA-256
//! digest is stored (in `_otps`), with an expiry, and the row is deleted when used,
//! expired, or after [`MAX_ATTEMPTS`] wrong codes. `request-otp` answers with an `otpId`
//! whether or not the email has an account.
//!
//! MFA: when the collection enables it (and its `mfa.rule` matches the record), the first
//! successful method answers `401 {"mfaId"}` and stores a pending session in `_mfas`; a
//! second, different method that presents the `mfaId` completes the login.

use std::sync::Arc;

use rand::Rng as _;
use rusqlite::types::Value as SqlValue;
use rusqlite::OptionalExtension as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::records::{AuthRecords, StoredAuth};
use super::{is_valid_email, token, AuthError};
use crate::mail::Mail;
use crate::schema::{quote_ident as q, Collection};
use crate::util::{new_id, now_string, random_string};

/// Wrong codes an OTP survives; the next one deletes it.
pub const MAX_ATTEMPTS: i64 = 5;

/// How a login ends.
#[derive(Debug)]
pub enum Completed {
    /// A token: the login is complete.
    Token(String),
    /// MFA is required: answer `401 {"mfaId"}`.
    MfaRequired(String),
}

fn option<'a>(collection: &'a Collection, path: &[&str]) -> Option<&'a Value> {
    let mut v = collection.auth.as_ref()?;
    for p in path {
        v = v.get(*p)?;
    }
    Some(v)
}

fn digest(salt: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(code.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn invalid_otp() -> AuthError {
    AuthError::BadRequest("Invalid or expired OTP.")
}

impl AuthRecords {
    /// `request-otp`: mail a code to the record with this email. Always an `otpId`.
    pub async fn request_otp(
        &self,
        collection: &Arc<Collection>,
        email: &str,
    ) -> Result<String, AuthError> {
        if option(collection, &["otp", "enabled"]) != Some(&Value::Bool(true)) {
            return Err(AuthError::Forbidden(
                "The collection is not configured to allow OTP authentication.",
            ));
        }
        if !is_valid_email(email) {
            return Err(AuthError::Invalid(
                "email",
                "validation_is_email",
                "Must be a valid email address.".into(),
            ));
        }
        let otp_id = new_id();
        let c = collection.clone();
        let address = email.to_owned();
        let stored = self
            .db
            .read(move |conn| {
                super::records::load(conn, &c, "_m.\"email\" = ?1", &[SqlValue::Text(address)])
            })
            .await?;
        let Some(stored) = stored else {
            // Same answer, same shape: nothing tells the caller the email is unknown.
            return Ok(otp_id);
        };
        let length = option(collection, &["otp", "length"])
            .and_then(Value::as_u64)
            .unwrap_or(8)
            .clamp(4, 20) as usize;
        let duration = option(collection, &["otp", "duration"])
            .and_then(Value::as_i64)
            .unwrap_or(180);
        let code: String = {
            let mut rng = rand::rng();
            (0..length)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        let salt = random_string(16);
        let row = (
            otp_id.clone(),
            collection.id.clone(),
            stored.id().to_owned(),
            salt.clone(),
            digest(&salt, &code),
            stored
                .record
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            token::now_unix() + duration,
        );
        let to = row.5.clone();
        let template = option(collection, &["otp", "emailTemplate"]);
        let extra = [
            ("OTP", code.as_str()),
            ("OTP_ID", otp_id.as_str()),
            ("RECORD:email", to.as_str()),
        ];
        let app = (self.app.0.as_str(), self.app.1.as_str());
        let mail = Mail::from_template(to.clone(), template, app, &extra);
        // SECURITY: store and mail in the background. Waiting for the write (a commit)
        // made known emails answer measurably slower than unknown ones.
        let (db, mailer) = (self.db.clone(), self.mailer.clone());
        tokio::spawn(async move {
            let stored = db
                .write(move |conn| -> Result<(), AuthError> {
                    let now = token::now_unix();
                    conn.prepare_cached("DELETE FROM _otps WHERE expires < ?1")?
                        .execute([now])?;
                    conn.prepare_cached(
                        "INSERT INTO _otps (id, collectionRef, recordRef, salt, digest, sentTo, attempts, expires, created) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8)",
                    )?
                    .execute(rusqlite::params![row.0, row.1, row.2, row.3, row.4, row.5, row.6, now_string()])?;
                    Ok(())
                })
                .await;
            match stored {
                // The code is usable before the mail goes out.
                Ok(()) => mailer.send_later(mail),
                Err(e) => tracing::error!(error = %e, "storing a one-time password failed"),
            }
        });
        Ok(otp_id)
    }

    /// `auth-with-otp`: check the code, consume the OTP, and return the record (marked
    /// verified when the code went to its own email).
    pub async fn auth_with_otp(
        &self,
        collection: &Arc<Collection>,
        otp_id: &str,
        code: &str,
    ) -> Result<StoredAuth, AuthError> {
        if option(collection, &["otp", "enabled"]) != Some(&Value::Bool(true)) {
            return Err(AuthError::Forbidden(
                "The collection is not configured to allow OTP authentication.",
            ));
        }
        let (c, id, code) = (collection.clone(), otp_id.to_owned(), code.to_owned());
        // One write job: read, compare and count (or consume) atomically, so parallel
        // guesses cannot share an attempt.
        let record_id = self
            .db
            .write(
                move |conn| -> Result<Result<(String, String), ()>, AuthError> {
                    let row: Option<(String, String, String, String, i64)> = conn
                        .prepare_cached(
                            "SELECT recordRef, salt, digest, sentTo, attempts FROM _otps \
                         WHERE id = ?1 AND collectionRef = ?2 AND expires >= ?3",
                        )?
                        .query_row(rusqlite::params![id, c.id, token::now_unix()], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .optional()?;
                    let Some((record, salt, stored_digest, sent_to, attempts)) = row else {
                        return Ok(Err(()));
                    };
                    let ok: bool = digest(&salt, &code)
                        .as_bytes()
                        .ct_eq(stored_digest.as_bytes())
                        .into();
                    if !ok {
                        if attempts + 1 >= MAX_ATTEMPTS {
                            conn.prepare_cached("DELETE FROM _otps WHERE id = ?1")?
                                .execute([&id])?;
                        } else {
                            conn.prepare_cached(
                                "UPDATE _otps SET attempts = attempts + 1 WHERE id = ?1",
                            )?
                            .execute([&id])?;
                        }
                        return Ok(Err(()));
                    }
                    conn.prepare_cached("DELETE FROM _otps WHERE id = ?1")?
                        .execute([&id])?;
                    // The code reached this address: if it is the record's, it is verified.
                    conn.execute(
                        &format!(
                            "UPDATE {} SET \"verified\" = 1 WHERE \"id\" = ?1 AND \"email\" = ?2",
                            q(&c.name)
                        ),
                        [&record, &sent_to],
                    )?;
                    Ok(Ok((record, sent_to)))
                },
            )
            .await?
            .map_err(|()| invalid_otp())?;
        let stored = self
            .find(collection, &record_id.0)
            .await?
            .ok_or_else(invalid_otp)?;
        self.check_auth_rule(collection, &stored).await?;
        Ok(stored)
    }

    /// Finish a successful login by `method`: a token, or an MFA challenge when the
    /// collection requires a second method (and `mfa_id` does not complete one).
    pub async fn complete(
        &self,
        collection: &Arc<Collection>,
        stored: &StoredAuth,
        method: &'static str,
        mfa_id: Option<&str>,
    ) -> Result<Completed, AuthError> {
        let token =
            || AuthRecords::issue_token(collection, stored, None, true).map(Completed::Token);
        if option(collection, &["mfa", "enabled"]) != Some(&Value::Bool(true)) {
            return token();
        }
        let rule = option(collection, &["mfa", "rule"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !rule.trim().is_empty() && !self.rule_matches(collection, stored, &rule).await? {
            return token();
        }
        let record_id = stored.id().to_owned();
        let collection_id = collection.id.clone();
        match mfa_id.filter(|m| !m.is_empty()) {
            None => {
                let duration = option(collection, &["mfa", "duration"])
                    .and_then(Value::as_i64)
                    .unwrap_or(600);
                let id = new_id();
                let row = (
                    id.clone(),
                    collection_id,
                    record_id,
                    method,
                    token::now_unix() + duration,
                );
                self.db
                    .write(move |conn| -> Result<(), AuthError> {
                        conn.prepare_cached("DELETE FROM _mfas WHERE expires < ?1")?
                            .execute([token::now_unix()])?;
                        conn.prepare_cached(
                            "INSERT INTO _mfas (id, collectionRef, recordRef, method, expires, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(rusqlite::params![row.0, row.1, row.2, row.3, row.4, now_string()])?;
                        Ok(())
                    })
                    .await?;
                Ok(Completed::MfaRequired(id))
            }
            Some(mfa_id) => {
                let mfa_id = mfa_id.to_owned();
                let outcome = self
                    .db
                    .write(move |conn| -> Result<Result<(), &'static str>, AuthError> {
                        let row: Option<String> = conn
                            .prepare_cached(
                                "SELECT method FROM _mfas WHERE id = ?1 AND collectionRef = ?2 AND recordRef = ?3 AND expires >= ?4",
                            )?
                            .query_row(
                                rusqlite::params![mfa_id, collection_id, record_id, token::now_unix()],
                                |r| r.get(0),
                            )
                            .optional()?;
                        match row {
                            None => Ok(Err("Invalid or expired MFA session.")),
                            Some(first) if first == method => {
                                Ok(Err("A different authentication method is required."))
                            }
                            Some(_) => {
                                conn.prepare_cached("DELETE FROM _mfas WHERE id = ?1")?.execute([&mfa_id])?;
                                Ok(Ok(()))
                            }
                        }
                    })
                    .await?;
                outcome.map_err(AuthError::BadRequest)?;
                token()
            }
        }
    }
}
