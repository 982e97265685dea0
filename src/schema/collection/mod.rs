//! A collection definition: parsed from the API's JSON, checked, and compiled into a
//! [`Collection`] (mapped fields, JSON Schema validator, indexes, rules, auth options).
//!
//! Every rejection names the JSON pointer of the offending part in its message.

use std::sync::Arc;

use serde_json::{json, Value};

use super::field::Field;
use super::SchemaError;

mod definition;
mod indexes;
mod json_schema;
#[cfg(test)]
mod tests;

pub use definition::{compile, Definition};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionType {
    Base,
    Auth,
    View,
}

impl CollectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Auth => "auth",
            Self::View => "view",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "base" => Some(Self::Base),
            "auth" => Some(Self::Auth),
            "view" => Some(Self::View),
            _ => None,
        }
    }
}

/// A declared index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub fields: Vec<String>,
    pub unique: bool,
    /// A filter expression making this a partial index.
    pub where_clause: Option<String>,
}

/// The API rules. `None` = superusers only, `Some("")` = anyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub list: Option<String>,
    pub view: Option<String>,
    pub create: Option<String>,
    pub update: Option<String>,
    pub delete: Option<String>,
    /// Auth collections only.
    pub auth: Option<String>,
    /// Auth collections only.
    pub manage: Option<String>,
}

/// Columns every collection table has.
pub const BASE_SYSTEM_FIELDS: &[&str] = &["id", "created", "updated"];
/// Extra columns of auth collection tables.
pub const AUTH_SYSTEM_FIELDS: &[&str] = &[
    "email",
    "emailVisibility",
    "verified",
    "password",
    "tokenKey",
];
/// Names a property may not take: system fields and keys of the record JSON.
pub const RESERVED_NAMES: &[&str] = &[
    "id",
    "created",
    "updated",
    "collectionId",
    "collectionName",
    "expand",
    "email",
    "emailVisibility",
    "verified",
    "password",
    "tokenKey",
    "passwordConfirm",
    "oldPassword",
];
/// Collection names that would shadow `/api/collections/…` routes.
const RESERVED_COLLECTION_NAMES: &[&str] = &["meta", "import"];

/// A compiled collection. Immutable; shared through the registry snapshot.
#[derive(Clone, Debug)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub kind: CollectionType,
    pub system: bool,
    /// The JSON Schema as the user wrote it.
    pub schema: Value,
    /// One per top-level property, in declaration order.
    pub fields: Vec<Field>,
    pub indexes: Vec<IndexDef>,
    pub rules: Rules,
    /// Auth options (PocketBase names), defaults filled in, secrets included.
    pub auth: Option<Value>,
    pub view_query: Option<String>,
    pub created: String,
    pub updated: String,
    pub validator: Arc<jsonschema::Validator>,
}

/// What the collection resolver knows about another collection.
#[derive(Clone, Debug)]
pub struct CollectionRef {
    pub id: String,
    pub name: String,
    pub kind: CollectionType,
    pub system: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::invalid(field, "validation_invalid_value", message)
}

fn schema_error(message: impl Into<String>) -> SchemaError {
    SchemaError::invalid("schema", "invalid_schema", message)
}

/// PocketBase's collection id: `pbc_` + the decimal CRC-32 of type + name.
pub fn default_id(kind: CollectionType, name: &str) -> String {
    format!(
        "pbc_{}",
        crc32fast::hash(format!("{}{}", kind.as_str(), name).as_bytes())
    )
}

fn is_identifier(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= max
}

/// Check a user collection name.
pub fn validate_name(name: &str, system: bool) -> Result<(), SchemaError> {
    if !is_identifier(name, 100) {
        return Err(invalid(
            "name",
            "Must start with a letter or _ and contain only letters, digits and _ (at most 100 characters).",
        ));
    }
    if name.starts_with('_') && !system {
        return Err(invalid(
            "name",
            "Names starting with _ are reserved for system collections.",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sqlite_") || RESERVED_COLLECTION_NAMES.contains(&lower.as_str()) {
        return Err(invalid("name", format!("The name {name:?} is reserved.")));
    }
    Ok(())
}

impl Collection {
    pub fn is_auth(&self) -> bool {
        self.kind == CollectionType::Auth
    }

    pub fn is_view(&self) -> bool {
        self.kind == CollectionType::View
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The system columns of this collection's table.
    pub fn system_fields(&self) -> Vec<&'static str> {
        if self.is_view() {
            return vec!["id"];
        }
        let mut v = BASE_SYSTEM_FIELDS.to_vec();
        if self.is_auth() {
            v.extend_from_slice(AUTH_SYSTEM_FIELDS);
        }
        v
    }

    /// Every column: system ones first, then one per property.
    pub fn column_names(&self) -> Vec<String> {
        self.system_fields()
            .into_iter()
            .map(str::to_owned)
            .chain(self.fields.iter().map(|f| f.name.clone()))
            .collect()
    }

    /// The definition as stored in `_collections` (auth secrets included).
    pub fn stored_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind.as_str(),
            "system": self.system,
            "schema": self.schema,
            "indexes": self.indexes.iter().map(index_json).collect::<Vec<_>>(),
            "listRule": self.rules.list,
            "viewRule": self.rules.view,
            "createRule": self.rules.create,
            "updateRule": self.rules.update,
            "deleteRule": self.rules.delete,
            "created": self.created,
            "updated": self.updated,
        });
        if let Some(auth) = &self.auth {
            v["authRule"] = json!(self.rules.auth);
            v["manageRule"] = json!(self.rules.manage);
            v["auth"] = auth.clone();
        }
        if let Some(q) = &self.view_query {
            v["viewQuery"] = json!(q);
        }
        v
    }

    /// The definition as the API shows it: auth secrets removed (token secrets and the
    /// OAuth2 providers' client secrets).
    pub fn to_json(&self) -> Value {
        let mut v = self.stored_json();
        if let Some(Value::Object(auth)) = v.get_mut("auth") {
            for (_, option) in auth.iter_mut() {
                if let Value::Object(o) = option {
                    o.remove("secret");
                }
            }
            if let Some(Value::Array(providers)) =
                auth.get_mut("oauth2").and_then(|o| o.get_mut("providers"))
            {
                for provider in providers.iter_mut().filter_map(Value::as_object_mut) {
                    provider.remove("clientSecret");
                }
            }
        }
        v
    }

    /// An auth token secret (`authToken`, `fileToken`, …) of an auth collection.
    pub fn token_secret(&self, token: &str) -> Option<&str> {
        self.auth.as_ref()?.get(token)?.get("secret")?.as_str()
    }
}

fn index_json(i: &IndexDef) -> Value {
    let mut v = json!({"name": i.name, "fields": i.fields, "unique": i.unique});
    if let Some(w) = &i.where_clause {
        v["where"] = json!(w);
    }
    v
}
