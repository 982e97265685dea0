use super::*;
use crate::schema::field::FieldKind;

fn users() -> CollectionRef {
    CollectionRef {
        id: "_pb_users_auth_".into(),
        name: "users".into(),
        kind: CollectionType::Auth,
        system: false,
    }
}

fn resolve(n: &str) -> Option<CollectionRef> {
    match n.to_ascii_lowercase().as_str() {
        "users" | "_pb_users_auth_" => Some(users()),
        "_superusers" => Some(CollectionRef {
            id: "pbc_3142635823".into(),
            name: "_superusers".into(),
            kind: CollectionType::Auth,
            system: true,
        }),
        _ => None,
    }
}

fn create(body: Value) -> Result<Collection, SchemaError> {
    let map = body.as_object().unwrap().clone();
    compile(
        Definition {
            body: &map,
            existing: None,
            system: false,
            now: "2026-01-01 00:00:00.000Z",
            trusted: false,
        },
        &resolve,
    )
}

fn err(body: Value) -> String {
    match create(body.clone()) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_full_definition_compiles() {
    let c = create(json!({
        "name": "posts",
        "schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "views": {"type": "integer", "minimum": 0, "default": 0},
                "author": {"type": "string", "x-relation": {"collection": "users"}},
                "parent": {"type": "string", "x-relation": {"collection": "posts"}},
                "due": {"type": "string", "format": "date-time"},
                "meta": {"$ref": "#/$defs/meta"}
            },
            "$defs": {"meta": {"type": "object"}},
            "required": ["title"],
            "additionalProperties": false
        },
        "indexes": [{"fields": ["title"], "unique": true}],
        "listRule": ""
    }))
    .unwrap();
    assert_eq!(c.id, "pbc_1125843985", "PocketBase's id for base+posts");
    assert_eq!(c.fields.len(), 6);
    assert!(c.field("title").unwrap().required);
    assert_eq!(c.indexes[0].name, "idx_posts_title");
    assert_eq!(c.rules.list.as_deref(), Some(""));
    assert_eq!(
        c.rules.view, None,
        "omitted rules default to superusers only"
    );
    assert!(c.validator.is_valid(&json!({"title": "x"})));
    assert!(!c.validator.is_valid(&json!({"title": ""})));
    assert!(!c.validator.is_valid(&json!({"title": "x", "extra": 1})));
}

#[test]
fn every_invalid_definition_class_is_rejected_with_a_pointer() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-color": 1}}}}),
            "/properties/a/x-color",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string", "x-hidden": true}}}}}}),
            "/properties/a/properties/b/x-hidden",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "patternProperties": {"^a": {}}}}),
            "/patternProperties",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "additionalProperties": true}}),
            "/additionalProperties",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "additionalProperties": {"type": "string"}}}),
            "/additionalProperties",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}}),
            "/properties/a/$ref",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"id": {"type": "string"}}}}),
            "/properties/id",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"Created": {"type": "string"}}}}),
            "/properties/Created",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"expand": {"type": "string"}}}}),
            "/properties/expand",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-relation": {"collection": "nope"}}}}}),
            "/properties/a/x-relation/collection",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-relation": {"collection": "_superusers"}}}}}),
            "/properties/a/x-relation/collection",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "integer", "x-file": {}}}}}),
            "/properties/a/x-file",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"due": {"type": "string", "format": "daytime"}}}}),
            "/properties/due/format",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "strin"}}}}),
            "/properties/a/type",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {}}, "required": ["b"]}}),
            "/required/0",
        ),
        (json!({"name": "p", "schema": {"type": "array"}}), "/type"),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a b": {}}}}),
            "/properties/a b",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "properties": {"a": {}, "A": {}}}}),
            "/properties/",
        ),
        (
            json!({"name": "p", "schema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"}}),
            "/$schema",
        ),
        (
            json!({"name": "p", "indexes": [{"fields": ["nope"]}]}),
            "/indexes/0",
        ),
    ];
    for (body, pointer) in cases {
        let e = err(body.clone());
        assert!(
            e.contains(pointer),
            "{body}\n  expected pointer {pointer} in: {e}"
        );
    }
}

#[test]
fn names_are_checked() {
    for bad in [
        "",
        "1posts",
        "po-sts",
        "_hidden",
        "sqlite_master",
        "meta",
        &"a".repeat(101),
    ] {
        assert!(create(json!({"name": bad})).is_err(), "{bad:?}");
    }
    let e = err(json!({"name": "users"}));
    assert!(e.contains("already"), "{e}");
    let e = err(json!({"name": "USERS"}));
    assert!(
        e.contains("already"),
        "names collide case-insensitively: {e}"
    );
    assert!(err(json!({"name": "x", "bogus": 1})).contains("bogus"));
    assert!(err(json!({"name": "x", "authRule": ""})).contains("auth"));
}

#[test]
fn a_property_without_type_or_with_several_is_a_json_column() {
    let c = create(json!({"name": "p", "schema": {"type": "object", "properties": {"any": {}, "multi": {"type": ["string", "integer"]}}}})).unwrap();
    assert_eq!(c.field("any").unwrap().kind, FieldKind::Json);
    assert_eq!(c.field("multi").unwrap().kind, FieldKind::Json);
}

#[test]
fn auth_collections_get_options_with_defaults_and_hidden_secrets() {
    let c = create(json!({"name": "members", "type": "auth", "auth": {"passwordAuth": {"identityFields": ["email"]}}})).unwrap();
    let auth = c.auth.as_ref().unwrap();
    assert_eq!(auth["authToken"]["duration"], 432000);
    assert!(c.token_secret("authToken").unwrap().len() >= 30);
    let public = c.to_json();
    assert!(public["auth"]["authToken"].get("secret").is_none());
    assert_eq!(public["authRule"], "");
    assert_eq!(public["manageRule"], Value::Null);
    assert!(c.system_fields().contains(&"tokenKey"));
}

#[test]
fn oauth2_client_secrets_are_stored_but_never_shown_and_mapped_fields_must_exist() {
    let c = create(json!({"name": "members", "type": "auth",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
            "auth": {"oauth2": {"enabled": true,
                "providers": [{"name": "github", "clientId": "cid", "clientSecret": "TOPSECRET"}],
                "mappedFields": {"name": "name"}}}}))
    .unwrap();
    assert_eq!(
        c.stored_json()["auth"]["oauth2"]["providers"][0]["clientSecret"],
        "TOPSECRET"
    );
    let shown = c.to_json();
    assert_eq!(shown["auth"]["oauth2"]["providers"][0]["clientId"], "cid");
    assert!(!shown.to_string().contains("TOPSECRET"));
    let e = create(json!({"name": "members", "type": "auth",
            "auth": {"oauth2": {"mappedFields": {"avatarURL": "avatar"}}}}))
    .unwrap_err()
    .to_string();
    assert!(e.contains("/auth/oauth2/mappedFields/avatarURL"), "{e}");
}
