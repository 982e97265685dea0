//! Moving values between JSON and columns: decode a stored value, encode a JSON value for
//! storage, and convert a value when a property changes kind.

use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{json, Value};

use super::field::FieldKind;

/// A stored column value as the API's JSON.
pub fn decode(kind: &FieldKind, v: ValueRef<'_>) -> Value {
    match (kind, v) {
        (_, ValueRef::Null) => kind.zero_value(),
        (FieldKind::Bool, ValueRef::Integer(i)) => json!(i != 0),
        (FieldKind::Integer, ValueRef::Integer(i)) => json!(i),
        (FieldKind::Number, ValueRef::Real(f)) => number(f),
        (FieldKind::Number, ValueRef::Integer(i)) => json!(i),
        (k, ValueRef::Text(t)) if k.is_json() => serde_json::from_slice(t)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(t).into_owned())),
        (_, ValueRef::Text(t)) => Value::String(String::from_utf8_lossy(t).into_owned()),
        (_, ValueRef::Integer(i)) => json!(i),
        (_, ValueRef::Real(f)) => number(f),
        (_, ValueRef::Blob(_)) => kind.zero_value(),
    }
}

/// A float as JSON; integral values print without a fraction, as Go's float64 does.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// A JSON value (already of the right shape for `kind`) as the column value to store.
pub fn encode(kind: &FieldKind, v: &Value) -> SqlValue {
    match kind {
        FieldKind::Bool => SqlValue::Integer(i64::from(v.as_bool().unwrap_or(false))),
        FieldKind::Integer => SqlValue::Integer(
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .unwrap_or(0),
        ),
        FieldKind::Number => SqlValue::Real(v.as_f64().unwrap_or(0.0)),
        FieldKind::Relation(r) if !r.multiple => match v.as_str() {
            Some("") | None => SqlValue::Null,
            Some(s) => SqlValue::Text(s.to_owned()),
        },
        k if k.is_json() => SqlValue::Text(v.to_string()),
        _ => SqlValue::Text(match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }),
    }
}

/// The non-empty strings a single (`"a"`) or multiple (`["a", "b"]`) relation or file
/// value holds.
pub fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Convert `v` to the shape of `kind`, as a schema change does to existing rows. `None`
/// when there is no faithful conversion (the change is then refused for that row).
pub fn convert(v: &Value, kind: &FieldKind) -> Option<Value> {
    match kind {
        FieldKind::Json => Some(v.clone()),
        FieldKind::Text | FieldKind::File(_) | FieldKind::Relation(_) if !kind.is_multiple() => {
            match v {
                Value::String(_) => Some(v.clone()),
                Value::Null => Some(json!("")),
                Value::Number(n) => Some(json!(n.to_string())),
                Value::Bool(b) => Some(json!(b.to_string())),
                Value::Array(items)
                    if matches!(kind, FieldKind::Relation(_) | FieldKind::File(_)) =>
                {
                    match items.last() {
                        None => Some(json!("")),
                        Some(Value::String(s)) => Some(json!(s)),
                        Some(_) => None,
                    }
                }
                _ => None,
            }
        }
        FieldKind::Date | FieldKind::Autodate(_) => match v {
            Value::Null => Some(json!("")),
            Value::String(s) if s.is_empty() => Some(json!("")),
            Value::String(s) => crate::util::normalize_datetime(s).map(Value::String),
            _ => None,
        },
        FieldKind::Integer => match v {
            Value::Null => Some(json!(0)),
            Value::Bool(b) => Some(json!(i64::from(*b))),
            Value::Number(n) => n.as_i64().map(|i| json!(i)).or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| json!(f as i64))
            }),
            Value::String(s) if s.trim().is_empty() => Some(json!(0)),
            Value::String(s) => s.trim().parse::<i64>().ok().map(|i| json!(i)),
            _ => None,
        },
        FieldKind::Number => match v {
            Value::Null => Some(json!(0)),
            Value::Bool(b) => Some(json!(i64::from(*b))),
            Value::Number(_) => Some(v.clone()),
            Value::String(s) if s.trim().is_empty() => Some(json!(0)),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(number),
            _ => None,
        },
        FieldKind::Bool => match v {
            Value::Null => Some(json!(false)),
            Value::Bool(_) => Some(v.clone()),
            Value::Number(n) if n.as_f64() == Some(0.0) => Some(json!(false)),
            Value::Number(n) if n.as_f64() == Some(1.0) => Some(json!(true)),
            Value::String(s) => match s.as_str() {
                "" | "false" => Some(json!(false)),
                "true" => Some(json!(true)),
                _ => None,
            },
            _ => None,
        },
        FieldKind::Object => match v {
            Value::Null | Value::Object(_) => Some(v.clone()),
            _ => None,
        },
        // Multi-valued: arrays (of strings for relations and files).
        _ => {
            let strings_only = matches!(kind, FieldKind::Relation(_) | FieldKind::File(_));
            let items = match v {
                Value::Null => Vec::new(),
                Value::String(s) if s.is_empty() => Vec::new(),
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            if strings_only && !items.iter().all(Value::is_string) {
                return None;
            }
            Some(Value::Array(items))
        }
    }
}

/// True when `v` is the zero value of `kind` (an unset property).
pub fn is_zero(kind: &FieldKind, v: &Value) -> bool {
    v == &kind.zero_value() || (v.is_null() && kind.zero_value() == json!(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::field::{FieldKind as K, Relation};

    #[test]
    fn round_trips_through_columns() {
        let single = K::Relation(Relation {
            collection: "u".into(),
            multiple: false,
            cascade_delete: false,
        });
        let cases: Vec<(K, Value)> = vec![
            (K::Text, json!("hi")),
            (K::Integer, json!(42)),
            (K::Number, json!(1.5)),
            (K::Number, json!(2)),
            (K::Bool, json!(true)),
            (K::Array, json!(["a", 1])),
            (K::Object, json!({"k": [1, 2]})),
            (K::Json, json!("a string")),
            (K::Json, Value::Null),
            (single.clone(), json!("abc")),
            (single, json!("")),
        ];
        for (kind, v) in cases {
            let stored = encode(&kind, &v);
            let back = decode(&kind, ValueRef::from(&stored));
            assert_eq!(back, v, "{kind:?}");
        }
    }

    #[test]
    fn conversions_between_kinds() {
        assert_eq!(convert(&json!("12"), &K::Integer), Some(json!(12)));
        assert_eq!(convert(&json!("12.5"), &K::Integer), None);
        assert_eq!(convert(&json!(3.0), &K::Integer), Some(json!(3)));
        assert_eq!(convert(&json!("abc"), &K::Number), None);
        assert_eq!(convert(&json!(""), &K::Number), Some(json!(0)));
        assert_eq!(convert(&json!(7), &K::Text), Some(json!("7")));
        assert_eq!(convert(&json!(true), &K::Text), Some(json!("true")));
        assert_eq!(convert(&json!({"a": 1}), &K::Text), None);
        assert_eq!(convert(&json!("x"), &K::Array), Some(json!(["x"])));
        assert_eq!(convert(&json!(1), &K::Bool), Some(json!(true)));
        assert_eq!(convert(&json!(2), &K::Bool), None);
        assert_eq!(
            convert(&json!("2024-01-02T03:04:05Z"), &K::Date),
            Some(json!("2024-01-02 03:04:05.000Z"))
        );
        assert_eq!(convert(&json!("tomorrow"), &K::Date), None);
        let multi = K::Relation(Relation {
            collection: "u".into(),
            multiple: true,
            cascade_delete: false,
        });
        assert_eq!(convert(&json!("abc"), &multi), Some(json!(["abc"])));
        assert_eq!(convert(&json!([1]), &multi), None);
        let single = K::Relation(Relation {
            collection: "u".into(),
            multiple: false,
            cascade_delete: false,
        });
        assert_eq!(
            convert(&json!(["a", "b"]), &single),
            Some(json!("b")),
            "PocketBase keeps the last id"
        );
    }
}
