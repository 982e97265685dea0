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

use serde_json::{json, Map, Value};

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

/// The JSON type named by `type`, when there is exactly one.
fn single_type(prop: &Map<String, Value>) -> Option<&str> {
    match prop.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(ts)) if ts.len() == 1 => ts[0].as_str(),
        _ => None,
    }
}

/// Map the property `name` (at JSON pointer `pointer`) to a field.
pub fn map_property(
    name: &str,
    pointer: &str,
    prop: &Value,
    required: bool,
) -> Result<Field, SchemaError> {
    let Value::Object(obj) = prop else {
        return match prop {
            // `true` accepts anything: a JSON column.
            Value::Bool(true) => Ok(Field {
                name: name.to_owned(),
                kind: FieldKind::Json,
                hidden: false,
                required,
                default: None,
                schema: prop.clone(),
            }),
            _ => Err(invalid(pointer, "a property must be a schema object")),
        };
    };
    let ty = single_type(obj);
    let hidden = match obj.get("x-hidden") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                &format!("{pointer}/x-hidden"),
                "must be true or false",
            ))
        }
    };
    let relation = obj.get("x-relation");
    let file = obj.get("x-file");
    let autodate = obj.get("x-autodate");
    let present = [relation.is_some(), file.is_some(), autodate.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if present > 1 {
        return Err(invalid(
            pointer,
            "x-relation, x-file and x-autodate exclude each other",
        ));
    }

    let kind = if let Some(rel) = relation {
        let multiple = match ty {
            Some("string") => false,
            Some("array") if items_are_strings(obj) => true,
            _ => return Err(invalid(
                &format!("{pointer}/x-relation"),
                "x-relation needs \"type\": \"string\" (single) or an array of strings (multiple)",
            )),
        };
        FieldKind::Relation(parse_relation(
            &format!("{pointer}/x-relation"),
            rel,
            multiple,
        )?)
    } else if let Some(f) = file {
        let multiple =
            match ty {
                Some("string") => false,
                Some("array") if items_are_strings(obj) => true,
                _ => return Err(invalid(
                    &format!("{pointer}/x-file"),
                    "x-file needs \"type\": \"string\" (single) or an array of strings (multiple)",
                )),
            };
        FieldKind::File(parse_file(&format!("{pointer}/x-file"), f, multiple)?)
    } else if let Some(a) = autodate {
        if ty != Some("string") {
            return Err(invalid(
                &format!("{pointer}/x-autodate"),
                "x-autodate needs \"type\": \"string\"",
            ));
        }
        match a.as_str() {
            Some("create") => FieldKind::Autodate(Autodate::Create),
            Some("update") => FieldKind::Autodate(Autodate::Update),
            _ => {
                return Err(invalid(
                    &format!("{pointer}/x-autodate"),
                    "must be \"create\" or \"update\"",
                ))
            }
        }
    } else {
        match ty {
            Some("string") if obj.get("format").and_then(Value::as_str) == Some("date-time") => {
                FieldKind::Date
            }
            Some("string") => FieldKind::Text,
            Some("integer") => FieldKind::Integer,
            Some("number") => FieldKind::Number,
            Some("boolean") => FieldKind::Bool,
            Some("array") => FieldKind::Array,
            Some("object") => FieldKind::Object,
            Some("null") => {
                return Err(invalid(
                    &format!("{pointer}/type"),
                    "a property cannot only be null",
                ))
            }
            Some(other) => {
                return Err(invalid(
                    &format!("{pointer}/type"),
                    format!("unknown type {other:?}"),
                ))
            }
            None => FieldKind::Json,
        }
    };
    Ok(Field {
        name: name.to_owned(),
        kind,
        hidden,
        required,
        default: obj.get("default").cloned(),
        schema: prop.clone(),
    })
}

fn items_are_strings(obj: &Map<String, Value>) -> bool {
    obj.get("items")
        .and_then(Value::as_object)
        .and_then(single_type)
        == Some("string")
}

fn parse_relation(pointer: &str, value: &Value, multiple: bool) -> Result<Relation, SchemaError> {
    let Value::Object(o) = value else {
        return Err(invalid(
            pointer,
            "must be an object like {\"collection\": \"users\"}",
        ));
    };
    for key in o.keys() {
        if !["collection", "cascadeDelete"].contains(&key.as_str()) {
            return Err(invalid(
                &format!("{pointer}/{key}"),
                "unknown option (known: collection, cascadeDelete)",
            ));
        }
    }
    let collection = match o.get("collection") {
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        _ => {
            return Err(invalid(
                &format!("{pointer}/collection"),
                "the target collection name is required",
            ))
        }
    };
    let cascade_delete = match o.get("cascadeDelete") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                &format!("{pointer}/cascadeDelete"),
                "must be true or false",
            ))
        }
    };
    Ok(Relation {
        collection,
        multiple,
        cascade_delete,
    })
}

/// Default largest upload, as PocketBase (5 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 5 << 20;

fn parse_file(pointer: &str, value: &Value, multiple: bool) -> Result<FileOptions, SchemaError> {
    let Value::Object(o) = value else {
        return Err(invalid(
            pointer,
            "must be an object, e.g. {} or {\"maxSize\": 5242880}",
        ));
    };
    let strings = |key: &str| -> Result<Vec<String>, SchemaError> {
        match o.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        invalid(&format!("{pointer}/{key}"), "must be an array of strings")
                    })
                })
                .collect(),
            Some(_) => Err(invalid(
                &format!("{pointer}/{key}"),
                "must be an array of strings",
            )),
        }
    };
    for key in o.keys() {
        if !["maxSize", "mimeTypes", "thumbs", "protected"].contains(&key.as_str()) {
            return Err(invalid(
                &format!("{pointer}/{key}"),
                "unknown option (known: maxSize, mimeTypes, thumbs, protected)",
            ));
        }
    }
    let max_size = match o.get("maxSize") {
        None => DEFAULT_MAX_FILE_SIZE,
        Some(v) => match v.as_u64() {
            Some(0) => DEFAULT_MAX_FILE_SIZE,
            Some(n) => n,
            None => {
                return Err(invalid(
                    &format!("{pointer}/maxSize"),
                    "must be a non-negative integer (bytes)",
                ))
            }
        },
    };
    let thumbs = strings("thumbs")?;
    for (i, t) in thumbs.iter().enumerate() {
        if !is_thumb_size(t) {
            return Err(invalid(
                &format!("{pointer}/thumbs/{i}"),
                format!("{t:?} is not a thumb size like 100x100, 0x100, 100x0, 100x100t, 100x100b or 100x100f"),
            ));
        }
    }
    let protected = match o.get("protected") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                &format!("{pointer}/protected"),
                "must be true or false",
            ))
        }
    };
    Ok(FileOptions {
        multiple,
        max_size,
        mime_types: strings("mimeTypes")?,
        thumbs,
        protected,
    })
}

/// PocketBase's thumb formats: `WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`.
fn is_thumb_size(t: &str) -> bool {
    let t = t.strip_suffix(['t', 'b', 'f']).unwrap_or(t);
    let Some((w, h)) = t.split_once('x') else {
        return false;
    };
    let (Ok(w), Ok(h)) = (w.parse::<u32>(), h.parse::<u32>()) else {
        return false;
    };
    (w > 0 || h > 0) && w <= 10_000 && h <= 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(prop: Value) -> Result<Field, SchemaError> {
        map_property("p", "/properties/p", &prop, false)
    }

    #[test]
    fn every_supported_property_maps_to_its_kind_and_column() {
        let rel = |multiple| Relation {
            collection: "users".into(),
            multiple,
            cascade_delete: false,
        };
        let cases: Vec<(Value, FieldKind, SqlType, Option<&str>, Value)> = vec![
            (
                json!({"type": "string"}),
                FieldKind::Text,
                SqlType::Text,
                Some("''"),
                json!(""),
            ),
            (
                json!({"type": "string", "format": "email"}),
                FieldKind::Text,
                SqlType::Text,
                Some("''"),
                json!(""),
            ),
            (
                json!({"type": "string", "format": "date-time"}),
                FieldKind::Date,
                SqlType::Text,
                Some("''"),
                json!(""),
            ),
            (
                json!({"type": "string", "x-autodate": "create"}),
                FieldKind::Autodate(Autodate::Create),
                SqlType::Text,
                Some("''"),
                json!(""),
            ),
            (
                json!({"type": "string", "x-autodate": "update"}),
                FieldKind::Autodate(Autodate::Update),
                SqlType::Text,
                Some("''"),
                json!(""),
            ),
            (
                json!({"type": "integer"}),
                FieldKind::Integer,
                SqlType::Integer,
                Some("0"),
                json!(0),
            ),
            (
                json!({"type": ["integer"]}),
                FieldKind::Integer,
                SqlType::Integer,
                Some("0"),
                json!(0),
            ),
            (
                json!({"type": "number"}),
                FieldKind::Number,
                SqlType::Real,
                Some("0"),
                json!(0),
            ),
            (
                json!({"type": "boolean"}),
                FieldKind::Bool,
                SqlType::Integer,
                Some("0"),
                json!(false),
            ),
            (
                json!({"type": "array", "items": {"type": "string"}}),
                FieldKind::Array,
                SqlType::Text,
                Some("'[]'"),
                json!([]),
            ),
            (
                json!({"type": "object"}),
                FieldKind::Object,
                SqlType::Text,
                Some("'null'"),
                Value::Null,
            ),
            (
                json!({}),
                FieldKind::Json,
                SqlType::Text,
                Some("'null'"),
                Value::Null,
            ),
            (
                json!({"type": ["string", "null"]}),
                FieldKind::Json,
                SqlType::Text,
                Some("'null'"),
                Value::Null,
            ),
            (
                json!({"type": "string", "x-relation": {"collection": "users"}}),
                FieldKind::Relation(rel(false)),
                SqlType::Text,
                None,
                json!(""),
            ),
            (
                json!({"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "users"}}),
                FieldKind::Relation(rel(true)),
                SqlType::Text,
                Some("'[]'"),
                json!([]),
            ),
        ];
        for (prop, kind, sql, default, zero) in cases {
            let f = map(prop.clone()).unwrap_or_else(|e| panic!("{prop}: {e}"));
            assert_eq!(f.kind, kind, "{prop}");
            assert_eq!(f.kind.sql_type(), sql, "{prop}");
            assert_eq!(f.kind.sql_default(), default, "{prop}");
            assert_eq!(f.kind.zero_value(), zero, "{prop}");
            assert_eq!(f.schema, prop);
        }
        assert_eq!(
            map_property("p", "/p", &json!(true), false).unwrap().kind,
            FieldKind::Json
        );
    }

    #[test]
    fn files_single_and_multiple_with_options() {
        let single = map(json!({"type": "string", "x-file": {"maxSize": 100, "mimeTypes": ["image/png"], "thumbs": ["100x100", "0x50t"], "protected": true}})).unwrap();
        let FieldKind::File(f) = single.kind else {
            panic!()
        };
        assert!(!f.multiple && f.protected);
        assert_eq!(f.max_size, 100);
        assert_eq!(f.thumbs, ["100x100", "0x50t"]);
        let multi =
            map(json!({"type": "array", "items": {"type": "string"}, "x-file": {}})).unwrap();
        assert!(multi.kind.is_json());
        let FieldKind::File(f) = multi.kind else {
            panic!()
        };
        assert!(f.multiple);
        assert_eq!(f.max_size, DEFAULT_MAX_FILE_SIZE);
    }

    #[test]
    fn hidden_default_and_cascade_are_read() {
        let f = map(json!({"type": "integer", "default": 5, "x-hidden": true})).unwrap();
        assert!(f.hidden);
        assert_eq!(f.default, Some(json!(5)));
        let r = map(
            json!({"type": "string", "x-relation": {"collection": "posts", "cascadeDelete": true}}),
        )
        .unwrap();
        assert_eq!(
            r.kind,
            FieldKind::Relation(Relation {
                collection: "posts".into(),
                multiple: false,
                cascade_delete: true
            })
        );
    }

    #[test]
    fn invalid_extensions_name_their_pointer() {
        let cases = [
            (
                json!({"type": "integer", "x-file": {}}),
                "/properties/p/x-file",
            ),
            (
                json!({"type": "array", "items": {"type": "integer"}, "x-relation": {"collection": "u"}}),
                "/properties/p/x-relation",
            ),
            (
                json!({"type": "string", "x-relation": {}}),
                "/properties/p/x-relation/collection",
            ),
            (
                json!({"type": "string", "x-relation": {"collection": "u", "onDelete": "x"}}),
                "/properties/p/x-relation/onDelete",
            ),
            (
                json!({"type": "string", "x-file": {"thumbs": ["big"]}}),
                "/properties/p/x-file/thumbs/0",
            ),
            (
                json!({"type": "string", "x-file": {"maxSize": -1}}),
                "/properties/p/x-file/maxSize",
            ),
            (
                json!({"type": "integer", "x-autodate": "create"}),
                "/properties/p/x-autodate",
            ),
            (
                json!({"type": "string", "x-autodate": "sometimes"}),
                "/properties/p/x-autodate",
            ),
            (
                json!({"type": "string", "x-hidden": "yes"}),
                "/properties/p/x-hidden",
            ),
            (
                json!({"type": "string", "x-file": {}, "x-relation": {"collection": "u"}}),
                "/properties/p",
            ),
            (json!({"type": "null"}), "/properties/p/type"),
            (json!({"type": "strng"}), "/properties/p/type"),
            (json!(false), "/properties/p"),
        ];
        for (prop, pointer) in cases {
            let err = map(prop.clone()).expect_err(&prop.to_string()).to_string();
            assert!(err.starts_with(&format!("{pointer}:")), "{prop}: {err}");
        }
    }
}
