//! Index definitions: `CREATE [UNIQUE] INDEX` statements parsed and checked against the
//! collection's columns.

use serde_json::Value;

use super::definition::has_column;
use super::*;
use crate::schema::field::Field;
use crate::schema::SchemaError;

pub(super) fn parse_indexes(
    v: &Value,
    collection: &str,
    kind: CollectionType,
    fields: &[Field],
) -> Result<Vec<IndexDef>, SchemaError> {
    let Value::Array(items) = v else {
        return Err(invalid(
            "indexes",
            "Must be an array of {fields, unique?, name?, where?} objects.",
        ));
    };
    let mut out: Vec<IndexDef> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |msg: String| {
            SchemaError::invalid("indexes", "invalid_index", format!("/indexes/{i}: {msg}"))
        };
        let Value::Object(o) = item else {
            return Err(at(
                "must be an object like {\"fields\": [\"title\"], \"unique\": true}".into(),
            ));
        };
        if let Some(k) = o
            .keys()
            .find(|k| !["name", "fields", "unique", "where"].contains(&k.as_str()))
        {
            return Err(at(format!(
                "unknown key {k:?} (known: name, fields, unique, where)"
            )));
        }
        let cols: Vec<String> = match o.get("fields") {
            Some(Value::Array(f)) if !f.is_empty() && f.len() <= 16 => f
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| at("fields must be column names".into()))?,
            _ => {
                return Err(at(
                    "fields must be a non-empty array of up to 16 column names".into(),
                ))
            }
        };
        for c in &cols {
            if !has_column(kind, fields, c) {
                return Err(at(format!("unknown column {c:?}")));
            }
        }
        let unique = match o.get("unique") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(at("unique must be true or false".into())),
        };
        let where_clause = match o.get("where") {
            None | Some(Value::Null) => None,
            Some(Value::String(w)) if w.trim().is_empty() => None,
            Some(Value::String(w)) => Some(w.trim().to_owned()),
            Some(_) => return Err(at("where must be a filter expression string".into())),
        };
        let name = match o.get("name") {
            None | Some(Value::Null) => format!("idx_{collection}_{}", cols.join("_")),
            Some(Value::String(n)) if is_identifier(n, 120) => n.clone(),
            Some(_) => return Err(at("name must be an identifier (letters, digits, _)".into())),
        };
        if out.iter().any(|x| x.name.eq_ignore_ascii_case(&name)) {
            return Err(at(format!("another index is named {name:?}")));
        }
        out.push(IndexDef {
            name,
            fields: cols,
            unique,
            where_clause,
        });
    }
    Ok(out)
}
