//! Validation of written values: the collection's JSON Schema, and the auth system
//! fields (`email`, `password`, `emailVisibility`, `verified`) checked by hand.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::JsonType;
use serde_json::{json, Map, Value};

use super::{field_error, FieldErrors};
use crate::auth::is_valid_email;
use crate::schema::field::FieldKind;
use crate::schema::value::is_zero;
use crate::schema::Collection;

/// A JSON Schema error as PocketBase's `{code, message, params}`: the code and message
/// PocketBase 0.40.6 gives for the field option the keyword stands for (observed on the
/// real binary). Keywords PocketBase has no option for keep a Keelbase code (README,
/// "Validation error codes"): `exclusiveMinimum`/`exclusiveMaximum` answer PocketBase's
/// number codes, `uniqueItems` `validation_not_unique_items`, a wrong JSON type
/// `validation_invalid_type` (PocketBase coerces instead), a bad date
/// `validation_invalid_date`, anything else (`multipleOf`, `const`, …)
/// `validation_invalid_value` with the validator's message.
pub(super) fn schema_error(kind: &ValidationErrorKind, instance: &Value, message: String) -> Value {
    let with = |code: &str, message: String, params: Value| json!({"code": code, "message": message, "params": params});
    let limit = |v: &Value| match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => json!(f as i64),
        _ => v.clone(),
    };
    match kind {
        ValidationErrorKind::Required { .. } => {
            field_error("validation_required", "Cannot be blank.")
        }
        ValidationErrorKind::MinLength { limit } => with(
            "validation_min_text_constraint",
            format!("Must be at least {limit} character(s)."),
            json!({ "min": limit }),
        ),
        ValidationErrorKind::MaxLength { limit } => with(
            "validation_max_text_constraint",
            format!("Must be no more than {limit} character(s)."),
            json!({ "max": limit }),
        ),
        ValidationErrorKind::Minimum { limit: l }
        | ValidationErrorKind::ExclusiveMinimum { limit: l } => {
            let l = limit(l);
            with(
                "validation_min_number_constraint",
                format!("Must be greater or equal than {l}."),
                json!({ "min": l }),
            )
        }
        ValidationErrorKind::Maximum { limit: l }
        | ValidationErrorKind::ExclusiveMaximum { limit: l } => {
            let l = limit(l);
            with(
                "validation_max_number_constraint",
                format!("Must be less or equal than {l}."),
                json!({ "max": l }),
            )
        }
        ValidationErrorKind::MinItems { limit } => with(
            "validation_not_enough_values",
            format!("Select at least {limit}."),
            json!({ "minSelect": limit }),
        ),
        ValidationErrorKind::MaxItems { limit } => with(
            "validation_too_many_values",
            format!("Select no more than {limit}."),
            json!({ "maxSelect": limit }),
        ),
        ValidationErrorKind::Format { format } => match format.as_str() {
            "email" | "idn-email" => {
                field_error("validation_is_email", "Must be a valid email address.")
            }
            "uri" | "iri" | "uri-reference" => {
                field_error("validation_invalid_url", "Must be a valid url.")
            }
            "date-time" | "date" => field_error("validation_invalid_date", message),
            _ => field_error("validation_invalid_format", "Invalid value format."),
        },
        ValidationErrorKind::Pattern { .. } => {
            field_error("validation_invalid_format", "Invalid value format.")
        }
        ValidationErrorKind::Enum { .. } => {
            let shown = match instance {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            with(
                "validation_invalid_value",
                format!("Invalid value {shown}."),
                json!({ "value": instance }),
            )
        }
        ValidationErrorKind::Type { kind } if instance.is_number() && wants_integer(kind) => {
            field_error(
                "validation_only_int_constraint",
                "Decimal numbers are not allowed.",
            )
        }
        ValidationErrorKind::Type { .. } => field_error("validation_invalid_type", message),
        ValidationErrorKind::UniqueItems => field_error("validation_not_unique_items", message),
        _ => field_error("validation_invalid_value", message),
    }
}

/// Whether a `type` keyword asks for an integer (and a number is not also allowed).
fn wants_integer(kind: &TypeKind) -> bool {
    match kind {
        TypeKind::Single(t) => *t == JsonType::Integer,
        TypeKind::Multiple(set) => {
            set.contains(JsonType::Integer) && !set.contains(JsonType::Number)
        }
    }
}

/// Validate the values of `record` with the collection's JSON Schema. Zero values of
/// properties that are not required are "unset" (API.md Part A) and not checked.
pub(super) fn validate(
    collection: &Collection,
    record: &Map<String, Value>,
    errors: &mut FieldErrors,
) {
    let mut instance = Map::new();
    for f in &collection.fields {
        if let Some(v) = record.get(&f.name) {
            if f.required || !is_zero(&f.kind, v) {
                // Dates are stored as `YYYY-MM-DD HH:MM:SS.mmmZ`; the schema's
                // `format: date-time` is RFC 3339, which wants the `T`.
                let v = match (&f.kind, v) {
                    (FieldKind::Date, Value::String(s))
                        if s.len() > 10 && s.as_bytes()[10] == b' ' =>
                    {
                        Value::String(format!("{}T{}", &s[..10], &s[11..]))
                    }
                    _ => v.clone(),
                };
                instance.insert(f.name.clone(), v);
            }
        }
    }
    let instance = Value::Object(instance);
    for e in collection.validator.iter_errors(&instance) {
        let field = match e.kind() {
            ValidationErrorKind::Required { property } => {
                property.as_str().unwrap_or("").to_owned()
            }
            _ => e
                .instance_path()
                .as_str()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
                .replace("~1", "/")
                .replace("~0", "~"),
        };
        let key = if field.is_empty() {
            "data".to_owned()
        } else {
            field
        };
        if !errors.contains_key(&key) {
            let mut error = schema_error(e.kind(), e.instance(), e.to_string());
            // `maxItems` of a file property is PocketBase's `maxSelect` of files.
            let is_file = collection
                .field(&key)
                .is_some_and(|f| matches!(f.kind, FieldKind::File(_)));
            if let (true, ValidationErrorKind::MaxItems { limit }) = (is_file, e.kind()) {
                error = json!({"code": "validation_too_many_files",
                               "message": format!("The maximum allowed files is {limit}."),
                               "params": {"maxSelect": limit}});
            }
            errors.insert(key, error);
        }
    }
}

/// The collection's password length policy (`auth.password`), in characters.
pub(super) fn password_policy(collection: &Collection) -> (usize, usize) {
    let p = collection.auth.as_ref().and_then(|a| a.get("password"));
    let n = |key: &str, default: u64| {
        p.and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize
    };
    (n("minLength", 8), n("maxLength", 71))
}

/// Check `password` and `passwordConfirm` in `body`; the password when both are fine.
pub fn check_password(
    collection: &Collection,
    body: &Map<String, Value>,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.insert(
                "password".into(),
                field_error("validation_invalid_value", "Must be a string."),
            );
            return None;
        }
    };
    let Some(password) = password else {
        if required {
            errors.insert(
                "password".into(),
                field_error("validation_required", "Cannot be blank."),
            );
        }
        return None;
    };
    let (min, max) = password_policy(collection);
    let n = password.chars().count();
    if n < min {
        errors.insert(
            "password".into(),
            field_error(
                "validation_min_text_constraint",
                format!("Must be at least {min} character(s)."),
            ),
        );
        return None;
    }
    if n > max {
        errors.insert(
            "password".into(),
            field_error(
                "validation_max_text_constraint",
                format!("Must be less than {max} character(s)."),
            ),
        );
        return None;
    }
    if body.get("passwordConfirm").and_then(Value::as_str) != Some(password.as_str()) {
        errors.insert(
            "passwordConfirm".into(),
            field_error("validation_values_mismatch", "Values don't match."),
        );
        return None;
    }
    Some(password)
}

/// `email` from `body`, trimmed and checked.
pub(super) fn check_email(
    body: &Map<String, Value>,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    match body.get("email") {
        None | Some(Value::Null) => {
            if required {
                errors.insert(
                    "email".into(),
                    field_error("validation_required", "Cannot be blank."),
                );
            }
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            if required {
                errors.insert(
                    "email".into(),
                    field_error("validation_required", "Cannot be blank."),
                );
            }
            None
        }
        Some(Value::String(s)) if is_valid_email(s.trim()) => Some(s.trim().to_owned()),
        Some(_) => {
            errors.insert(
                "email".into(),
                field_error("validation_is_email", "Must be a valid email address."),
            );
            None
        }
    }
}

/// A boolean system field (`emailVisibility`, `verified`) from `body`.
pub(super) fn check_bool(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut FieldErrors,
) -> Option<bool> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.insert(
                key.into(),
                field_error("validation_invalid_value", "Must be a boolean."),
            );
            None
        }
    }
}

pub(super) fn mismatch(errors: &mut FieldErrors, key: &str) {
    errors.insert(
        key.into(),
        field_error("validation_values_mismatch", "Values don't match."),
    );
}
