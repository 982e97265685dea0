//! Collections defined as JSON Schema: the model, the mapping of properties to columns,
//! the DDL that keeps tables in step, and the registry snapshot request paths read.
//!
//! Plain synchronous code over `rusqlite`: no axum, no tokio. The collections service
//! (`crate::collections`) runs it inside the writer and swaps the registry.
//!
//! Depends on `db` and `util`; must not depend on `query`, the services, `api` or axum.

pub mod auth_options;
pub mod collection;
pub mod ddl;
pub mod field;
pub mod registry;
pub mod store;
pub mod value;

pub use collection::{Collection, CollectionRef, CollectionType, IndexDef, Rules};
pub use field::{Field, FieldKind};
pub use registry::{Registry, Snapshot};

/// A collection problem, free of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The definition is invalid: the top-level key it concerns (`name`, `schema`,
    /// `indexes`, …), a validation code, and a message holding the JSON pointer.
    #[error("{message}")]
    Invalid {
        field: String,
        code: &'static str,
        message: String,
    },
    /// Existing rows would violate the change; up to 10 of their ids.
    #[error("{message}")]
    Violation { message: String, ids: Vec<String> },
    /// Other collections still relate to this one.
    #[error("collection is referenced by {0:?}")]
    Referenced(Vec<String>),
    #[error("collection not found")]
    NotFound,
    #[error("system collections cannot be changed this way")]
    System,
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored collection {name} is unreadable: {message}")]
    Corrupt { name: String, message: String },
}

impl SchemaError {
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// Quote an identifier for SQL. Identifiers reach SQL only through here, and only names
/// the registry has already checked (letters, digits, `_`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
