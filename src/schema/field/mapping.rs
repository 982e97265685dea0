//! One property → one [`Field`]: its JSON type and which of `x-relation`, `x-file`,
//! `x-autodate` it carries decide the kind; `x-hidden`, `default` and `required` are read.

use serde_json::{Map, Value};

use super::options::{parse_file, parse_relation};
use super::{invalid, Autodate, Field, FieldKind};
use crate::schema::SchemaError;

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
