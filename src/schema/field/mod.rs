//! One top-level JSON Schema property → one column.
//!
//! | property                                   | kind         | column                      |
//! |--------------------------------------------|--------------|-----------------------------|
//! | `type: string`                             | Text         | TEXT NOT NULL DEFAULT ''    |
//! | `type: string, format: date-time`          | Date         | TEXT NOT NULL DEFAULT ''    |
//! | `type: string, x-autodate`                 | Autodate     | TEXT NOT NULL DEFAULT ''    |
//! | `type: string, x-relation`                 | Relation     | TEXT NULL, a real FOREIGN KEY (NULL = unset) |
//! | `type: string, x-file`                     | File         | TEXT NOT NULL DEFAULT ''    |
//! | `type: integer`                            | Integer      | INTEGER NOT NULL DEFAULT 0  |
//! | `type: number`                             | Number       | REAL NOT NULL DEFAULT 0     |
//! | `type: boolean`                            | Bool         | INTEGER NOT NULL DEFAULT 0 (0/1) |
//! | `type: array` (x-relation / x-file: multi) | Array, Relation, File | TEXT NOT NULL DEFAULT '[]' (JSON) |
//! | `type: object`                             | Object       | TEXT NOT NULL DEFAULT 'null' (JSON) |
//! | no `type`, or several                      | Json         | TEXT NOT NULL DEFAULT 'null' (JSON) |
//!
//! Zero values (what an unset property reads as) follow API.md Part A.
//!
//! The parts: this file holds the kinds and the mapped [`Field`]; `mapping` reads a
//! property's `type` and extension keywords into a kind, `options` parses the
//! `x-relation` and `x-file` option objects.

mod mapping;
mod options;
#[cfg(test)]
mod tests;

pub use mapping::map_property;
pub use options::{ThumbMode, ThumbSize, DEFAULT_MAX_FILE_SIZE};

use serde_json::{json, Value};

use super::SchemaError;

/// SQLite storage class of a column (tables are STRICT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Integer,
    Real,
}

impl SqlType {
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Integer => "INTEGER",
            Self::Real => "REAL",
        }
    }
}

/// When an `x-autodate` property is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autodate {
    /// On create only.
    Create,
    /// On create and on every update.
    Update,
}

/// `x-relation` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// Target collection, as written in the schema (name or id).
    pub collection: String,
    pub multiple: bool,
    pub cascade_delete: bool,
}

/// `x-file` options.
#[derive(Clone, Debug, PartialEq)]
pub struct FileOptions {
    pub multiple: bool,
    pub max_size: u64,
    pub mime_types: Vec<String>,
    pub thumbs: Vec<String>,
    pub protected: bool,
}

/// What a property is, as far as storage, filters and the API care.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    Text,
    Date,
    Autodate(Autodate),
    Integer,
    Number,
    Bool,
    Array,
    Object,
    Json,
    Relation(Relation),
    File(FileOptions),
}

impl FieldKind {
    pub fn sql_type(&self) -> SqlType {
        match self {
            Self::Integer | Self::Bool => SqlType::Integer,
            Self::Number => SqlType::Real,
            _ => SqlType::Text,
        }
    }

    /// True when the column holds JSON text.
    pub fn is_json(&self) -> bool {
        match self {
            Self::Array | Self::Object | Self::Json => true,
            Self::Relation(r) => r.multiple,
            Self::File(f) => f.multiple,
            _ => false,
        }
    }

    /// True for multi-valued kinds (JSON arrays).
    pub fn is_multiple(&self) -> bool {
        match self {
            Self::Array => true,
            Self::Relation(r) => r.multiple,
            Self::File(f) => f.multiple,
            _ => false,
        }
    }

    /// The JSON value an unset property reads as.
    pub fn zero_value(&self) -> Value {
        match self {
            Self::Integer | Self::Number => json!(0),
            Self::Bool => json!(false),
            Self::Object | Self::Json => Value::Null,
            k if k.is_multiple() => json!([]),
            _ => json!(""),
        }
    }

    /// The column's SQL DEFAULT, a constant (never user text). `None` for nullable columns.
    pub fn sql_default(&self) -> Option<&'static str> {
        match self {
            Self::Relation(r) if !r.multiple => None,
            Self::Integer | Self::Bool => Some("0"),
            Self::Number => Some("0"),
            Self::Object | Self::Json => Some("'null'"),
            k if k.is_multiple() => Some("'[]'"),
            _ => Some("''"),
        }
    }

    /// A short name for messages ("text", "integer", …).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Date => "date",
            Self::Autodate(_) => "autodate",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Bool => "boolean",
            Self::Array => "array",
            Self::Object => "object",
            Self::Json => "json",
            Self::Relation(_) => "relation",
            Self::File(_) => "file",
        }
    }
}

/// A mapped property.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    pub hidden: bool,
    pub required: bool,
    /// The JSON Schema `default`, applied on create instead of the zero value.
    pub default: Option<Value>,
    /// The property's own JSON Schema.
    pub schema: Value,
}

/// The `x-` keywords Keelbase understands; any other is an error.
pub const EXTENSIONS: &[&str] = &["x-relation", "x-file", "x-autodate", "x-hidden"];

fn invalid(pointer: &str, message: impl std::fmt::Display) -> SchemaError {
    SchemaError::invalid("schema", "invalid_schema", format!("{pointer}: {message}"))
}
