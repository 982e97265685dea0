//! Input decoding: PocketBase's `field+` / `+field` / `field-` modifiers and the value
//! normalisations a write applies before validation.

use serde_json::{json, Map, Value};

use super::{field_error, FieldErrors};
use crate::schema::field::{Field, FieldKind};
use crate::util::normalize_datetime;

/// `id`: 15 lowercase alphanumerics, as PocketBase generates them.
pub(super) fn check_id(id: &Value) -> Result<String, Value> {
    match id.as_str() {
        Some(s)
            if s.len() == 15
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Ok(s.to_owned())
        }
        Some(_) => Err(field_error(
            "validation_min_text_constraint",
            "Must be 15 characters of a-z and 0-9.",
        )),
        None => Err(field_error("validation_invalid_value", "Must be a string.")),
    }
}

/// The number a `field+`/`field-` modifier adds or subtracts.
pub(super) fn number_operand(v: &Value) -> Result<f64, Value> {
    v.as_f64()
        .ok_or_else(|| field_error("validation_invalid_value", "Must be a number."))
}

/// Apply PocketBase's modifiers (`field+`, `+field`, `field-`) for `name` over `current`.
pub(super) fn apply_modifiers(
    kind: &FieldKind,
    name: &str,
    mut current: Value,
    body: &Map<String, Value>,
) -> Result<Value, Value> {
    let as_list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    if let Some(add) = body.get(&format!("{name}+")) {
        match kind {
            FieldKind::Integer | FieldKind::Number => {
                let (a, b) = (current.as_f64().unwrap_or(0.0), number_operand(add)?);
                current = crate::schema::value::number(a + b);
            }
            k if k.is_multiple() => {
                let mut items = as_list(&current);
                items.extend(as_list(add));
                current = Value::Array(items);
            }
            // A single file property holds one file: appending to it replaces it.
            FieldKind::File(_) => {
                current = as_list(add).pop().unwrap_or(current);
            }
            _ => {
                return Err(field_error(
                    "validation_invalid_value",
                    format!("{name}+ is not supported on this field."),
                ))
            }
        }
    }
    if let Some(prepend) = body.get(&format!("+{name}")) {
        if !kind.is_multiple() {
            return Err(field_error(
                "validation_invalid_value",
                format!("+{name} is only supported on multiple fields."),
            ));
        }
        let mut items = as_list(prepend);
        items.extend(as_list(&current));
        current = Value::Array(items);
    }
    if let Some(remove) = body.get(&format!("{name}-")) {
        match kind {
            FieldKind::Integer | FieldKind::Number => {
                let (a, b) = (current.as_f64().unwrap_or(0.0), number_operand(remove)?);
                current = crate::schema::value::number(a - b);
            }
            k if k.is_multiple() => {
                let gone = as_list(remove);
                current = Value::Array(
                    as_list(&current)
                        .into_iter()
                        .filter(|v| !gone.contains(v))
                        .collect(),
                );
            }
            FieldKind::File(_) => {
                if as_list(remove).contains(&current) {
                    current = Value::String(String::new());
                }
            }
            _ => {
                return Err(field_error(
                    "validation_invalid_value",
                    format!("{name}- is not supported on this field."),
                ))
            }
        }
    }
    Ok(current)
}

/// `start` with the modifiers of `body` applied, normalised; `None` when that fails, with
/// the field's error recorded.
pub(super) fn field_value(
    f: &Field,
    start: Value,
    body: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Value> {
    match apply_modifiers(&f.kind, &f.name, start, body).and_then(|v| normalize(&f.kind, v)) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.insert(f.name.clone(), e);
            None
        }
    }
}

/// PocketBase's normalisations: a single relation or file given as an array keeps its
/// last value, dates are stored in the storage format, multi-relations and multi-files
/// are de-duplicated.
pub(super) fn normalize(kind: &FieldKind, v: Value) -> Result<Value, Value> {
    match kind {
        FieldKind::Relation(_) | FieldKind::File(_) if !kind.is_multiple() => match v {
            Value::Array(items) => Ok(items.last().cloned().unwrap_or_else(|| json!(""))),
            Value::Null => Ok(json!("")),
            other => Ok(other),
        },
        FieldKind::Relation(_) | FieldKind::File(_) => match v {
            Value::Array(items) => {
                let mut out: Vec<Value> = Vec::new();
                for i in items {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Null => Ok(json!([])),
            Value::String(s) if s.is_empty() => Ok(json!([])),
            other => Ok(Value::Array(vec![other])),
        },
        FieldKind::Date => match &v {
            Value::String(s) if s.is_empty() => Ok(v),
            Value::Null => Ok(json!("")),
            Value::String(s) => normalize_datetime(s).map(Value::String).ok_or_else(|| {
                field_error(
                    "validation_invalid_date",
                    "Must be a valid date (RFC 3339 or YYYY-MM-DD HH:MM:SS.mmmZ).",
                )
            }),
            _ => Err(field_error(
                "validation_invalid_date",
                "Must be a date string.",
            )),
        },
        _ => Ok(v),
    }
}
