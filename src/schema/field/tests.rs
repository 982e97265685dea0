//! Property mapping, table-driven: every supported property's kind and column, the
//! extension options, and the pointer each invalid one names.

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
    let multi = map(json!({"type": "array", "items": {"type": "string"}, "x-file": {}})).unwrap();
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
