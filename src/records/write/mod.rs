//! Creating, updating and deleting records (API.md Part B §1.4, §1.5, §1.8).
//!
//! Each write is one job on the writer: the rule check, the relation checks and the
//! change share one transaction, so a rule is never checked against a row that changes
//! before the write lands.
//!
//! Layout: [`input`] decodes modifiers and normalises values, [`validate`] checks them,
//! [`rules`] turns API rules into SQL, [`persist`] checks relations and writes rows,
//! [`secrets`] hashes passwords off the writer, [`files`] settles file properties with
//! the files queue; [`create`], [`update`] and [`delete`] are the three jobs built from
//! them.

mod create;
mod delete;
pub mod files;
mod input;
mod persist;
mod rules;
mod secrets;
mod update;
mod validate;

use serde_json::{json, Map, Value};

use super::RecordsError;
use crate::auth::password::Hasher;
use crate::auth::AuthError;
use crate::db::{Db, DbError};
use crate::files::{Files, StageError, Upload};
use crate::schema::Collection;

pub use create::{create, prepare_create, Create, Created};
pub use delete::{delete, prepare_delete, Delete};
pub use persist::exists;
pub use secrets::{secrets, Secrets};
pub use update::{prepare_update, update, Update};
pub use validate::check_password;

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
    /// Storing an upload failed (the backend, not the request).
    #[error(transparent)]
    Storage(#[from] StageError),
}

/// What a write reaches beyond the rows: the store, the password hasher, the files.
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    pub db: &'a Db,
    pub hasher: &'a Hasher,
    pub files: &'a Files,
}

/// The names `uploads` will be stored under.
fn new_files(uploads: &[Upload]) -> Vec<files::NewFile> {
    uploads
        .iter()
        .map(|u| files::NewFile {
            field: u.field.clone(),
            append: u.append,
            name: u.name.clone(),
        })
        .collect()
}

/// Store `uploads` of record `id` before its write runs; returns their keys.
async fn stage(
    files: &Files,
    collection: &Collection,
    id: &str,
    uploads: Vec<Upload>,
) -> Result<Vec<String>, WriteError> {
    let staged: Vec<(String, Upload)> = uploads
        .into_iter()
        .map(|u| (crate::files::name::key(&collection.id, id, &u.name), u))
        .collect();
    let keys = staged.iter().map(|(k, _)| k.clone()).collect();
    files.stage(staged).await?;
    Ok(keys)
}

/// After the write: on success, the queue holds what to remove now; on failure, the
/// staged files go.
async fn finish(files: &Files, staged: Vec<String>, committed: bool) {
    if committed {
        files.kick();
    } else {
        files.abandon(staged).await;
    }
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
