//! Authentication: password hashing, tokens, and the auth flows.
//!
//! `superusers.rs` serves the `_superusers` system auth collection; `records.rs` the
//! records of user auth collections (password login, tokens), `flows.rs` their mailed
//! flows, `oauth2.rs` OAuth2 sign-in over the providers of `providers/`. No HTTP in
//! here: [`AuthError`] is mapped to statuses in `api/error.rs`.
//!
//! Depends on `db`, `schema`, `query`, `mail`, `util`, and on `records::write` for OAuth2
//! sign-up; must not depend on `api`, `state` or axum.

pub mod flows;
pub mod oauth2;
pub mod otp;
pub mod password;
pub mod providers;
pub mod records;
pub mod superusers;
pub mod token;

use crate::db::DbError;

pub use superusers::{Superusers, SUPERUSERS_ID, SUPERUSERS_NAME};

/// An authentication failure, free of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong identity or password; deliberately the same for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A field of the request is invalid: (field, code, message).
    #[error("{0}: {2}")]
    Invalid(&'static str, &'static str, String),
    #[error("the first superuser was already created")]
    AlreadyInstalled,
    #[error("the install token is invalid or expired")]
    InvalidInstallToken,
    /// An OAuth2 provider that is not configured for the collection (400,
    /// `validation_invalid_provider` with the name).
    #[error("unknown or disabled OAuth2 provider {0:?}")]
    InvalidProvider(String),
    /// A request that cannot be served as asked (400 with the message).
    #[error("{0}")]
    BadRequest(&'static str),
    /// The collection does not allow this (403 with the message).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many password hashes in progress")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Db(DbError::Sqlite(e))
    }
}

/// A syntactic email check: one `@`, a non-empty local part without spaces or control
/// characters, and a domain of dot-separated labels of letters, digits and hyphens.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;

    #[test]
    fn email_shapes() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            "admin@localhost",
            "ü@例え.jp",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b.c", "a@", "a b@c.d", "a@b..c", "a@-b.c", ".a@b.c", "a@@b.c", "a@b_c.d",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
