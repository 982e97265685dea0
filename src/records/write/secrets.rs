//! Password hashing and checking for auth-record writes, done off the writer thread.

use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::validate::check_password;
use super::{FieldErrors, WriteError};
use crate::auth::password::Hasher;
use crate::db::Db;
use crate::schema::{quote_ident as q, Collection};

/// What an auth-record write computes off the writer thread: the new password's hash,
/// and the stored hash `oldPassword` was checked against, if it matched.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub(super) new_hash: Option<String>,
    pub(super) old_matched: Option<String>,
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
