use std::collections::HashSet;

use super::schemas::or_zero;
use super::*;
use crate::schema::collection::{compile, CollectionRef, Definition};
use crate::schema::Collection;

/// Compile `defs` in order, each able to relate to the ones before it.
fn snapshot(defs: Vec<Value>) -> Snapshot {
    let mut done: Vec<Collection> = Vec::new();
    for def in defs {
        let body = def.as_object().unwrap().clone();
        let known: Vec<CollectionRef> = done
            .iter()
            .map(|c| CollectionRef {
                id: c.id.clone(),
                name: c.name.clone(),
                kind: c.kind,
                system: c.system,
            })
            .collect();
        let resolve = |key: &str| known.iter().find(|r| r.id == key || r.name == key).cloned();
        let system = body["name"].as_str().unwrap().starts_with('_');
        let c = compile(
            Definition {
                body: &body,
                existing: None,
                system,
                now: "2026-01-01 00:00:00.000Z",
                trusted: false,
            },
            &resolve,
        )
        .unwrap_or_else(|e| panic!("{def}: {e}"));
        done.push(c);
    }
    Snapshot::from_collections(1, done)
}

fn sample() -> Snapshot {
    snapshot(vec![
        json!({"name": "_superusers", "type": "auth"}),
        json!({"name": "users", "type": "auth", "listRule": "id = @request.auth.id", "viewRule": "id = @request.auth.id",
                   "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
        json!({"name": "posts", "listRule": "", "viewRule": "published = true", "createRule": "",
        "schema": {"type": "object", "properties": {
            "title": {"type": "string", "minLength": 1, "description": "Headline."},
            "published": {"type": "boolean"},
            "due": {"type": "string", "format": "date-time"},
            "meta": {"$ref": "#/$defs/meta"},
            "tree": {"$ref": "#node"},
            "secret": {"type": "string", "x-hidden": true},
            "peek": {"$ref": "#/properties/secret"},
            "author": {"type": "string", "x-relation": {"collection": "users"}},
            "editors": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "users"}},
            "stamp": {"type": "string", "x-autodate": "create"},
            "kind": {"enum": ["a", {"$ref": "#/not-a-ref"}]}
        }, "required": ["title"],
        "$defs": {
            "meta": {"type": "object", "properties": {"k": {"type": "integer"}}},
            "node": {"$anchor": "node", "type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#node"}}}}
        }}}),
        json!({"name": "audit", "schema": {"type": "object", "properties": {"what": {"type": "string"}}}}),
        json!({"name": "staff", "type": "auth", "authRule": "verified = true",
                   "schema": {"type": "object", "properties": {"badge": {"type": "string"}}}}),
        json!({"name": "stats", "type": "view", "listRule": "", "viewQuery": "SELECT id, title FROM posts",
                   "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}),
    ])
}

/// Every `$ref` in `doc` that is a JSON pointer resolves in `doc`; anchors are defined once.
fn assert_references_resolve(doc: &Value) {
    fn visit(v: &Value, refs: &mut Vec<String>, anchors: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    match (k.as_str(), v) {
                        ("$ref" | "$dynamicRef", Value::String(r)) => refs.push(r.clone()),
                        ("$anchor" | "$dynamicAnchor", Value::String(a)) => anchors.push(a.clone()),
                        // Data, not schemas.
                        ("enum" | "const" | "examples" | "default", _) => {}
                        _ => visit(v, refs, anchors),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| visit(v, refs, anchors)),
            _ => {}
        }
    }
    let (mut refs, mut anchors) = (Vec::new(), Vec::new());
    visit(doc, &mut refs, &mut anchors);
    let unique: HashSet<&String> = anchors.iter().collect();
    assert_eq!(
        unique.len(),
        anchors.len(),
        "anchors defined once: {anchors:?}"
    );
    for r in refs {
        let fragment = r.strip_prefix('#').expect("in-document reference");
        if fragment.starts_with('/') {
            assert!(doc.pointer(fragment).is_some(), "{r} resolves");
        } else {
            assert!(anchors.iter().any(|a| a == fragment), "{r} names an anchor");
        }
    }
}

#[test]
fn guests_get_collections_they_can_reach_without_hidden_fields() {
    let doc = document(&sample(), Audience::Guest);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/collections/posts/records",
        "/api/collections/posts/records/{id}",
        "/api/collections/users/records",
        "/api/collections/stats/records",
        "/api/health",
        "/api/batch",
        "/api/collections/_superusers/auth-with-password",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    assert!(
        !paths.contains_key("/api/collections/audit/records"),
        "superusers only"
    );
    assert!(!paths.contains_key("/api/collections/_superusers/records"));
    for action in AUTH_ACTIONS {
        assert!(
            paths.contains_key(&format!("/api/collections/users/{action}")),
            "{action}"
        );
        assert!(
            !paths.contains_key(&format!("/api/collections/staff/{action}")),
            "{action}: superusers only"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(!schemas.contains_key("AuditRecord"));
    assert!(!schemas.contains_key("StaffAuthResponse"));
    let record = &schemas["PostsRecord"];
    assert!(record["properties"].get("secret").is_none());
    assert!(schemas["PostsCreate"]["properties"].get("secret").is_none());
    assert!(schemas["PostsSchema"]["properties"].get("secret").is_none());
    assert!(
        !record["properties"]["peek"].to_string().contains("$ref"),
        "a reference into a hidden field is dropped"
    );
    let rules = doc["paths"]["/api/collections/posts/records/{id}"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(
        !rules.contains("published"),
        "guests never see rule text: {rules}"
    );
    assert_references_resolve(&doc);
}

/// Every auth endpoint of a user auth collection, as a path under it. Written out, not
/// taken from `api::ratelimit`'s list: this is the contract the document is checked against
/// (and it has `auth-methods` and `impersonate/{id}`, which are not rate limited).
const AUTH_ACTIONS: [&str; 13] = [
    "auth-with-password",
    "request-otp",
    "auth-with-otp",
    "auth-with-oauth2",
    "auth-refresh",
    "auth-methods",
    "impersonate/{id}",
    "request-verification",
    "confirm-verification",
    "request-password-reset",
    "confirm-password-reset",
    "request-email-change",
    "confirm-email-change",
];

#[test]
fn auth_collections_get_their_auth_endpoints() {
    let doc = document(&sample(), Audience::Superuser);
    let paths = doc["paths"].as_object().unwrap();
    for name in ["users", "staff"] {
        for action in AUTH_ACTIONS {
            assert!(
                paths.contains_key(&format!("/api/collections/{name}/{action}")),
                "{name}/{action}"
            );
        }
    }
    for action in ["auth-with-password", "auth-refresh", "auth-methods"] {
        assert!(
            !paths.contains_key(&format!("/api/collections/posts/{action}")),
            "not an auth collection"
        );
        let p = format!("/api/collections/_superusers/{action}");
        assert!(paths.contains_key(&p), "{p}");
    }
    for action in [
        "impersonate/{id}",
        "request-verification",
        "confirm-verification",
    ] {
        let p = format!("/api/collections/_superusers/{action}");
        assert!(!paths.contains_key(&p), "{p}: never succeeds");
    }

    let sign_in = &paths["/api/collections/users/auth-with-password"]["post"];
    assert_eq!(sign_in["operationId"], "authWithPasswordUsers");
    assert_eq!(sign_in["security"], json!([{}]));
    assert_eq!(
        sign_in["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/UsersAuthResponse"})
    );
    let body = &sign_in["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["identity", "password"]));
    assert_eq!(
        body["properties"]["identityField"]["enum"],
        json!(["email"])
    );
    assert_eq!(body["properties"]["password"]["writeOnly"], true);
    let staff = paths["/api/collections/staff/auth-with-password"]["post"]["description"]
        .as_str()
        .unwrap();
    assert!(staff.contains("`verified = true`"), "{staff}");
    assert_eq!(
        paths["/api/collections/users/auth-refresh"]["post"]["security"],
        json!([{"bearerAuth": []}])
    );
    assert_eq!(
        paths["/api/collections/_superusers/auth-refresh"]["post"]["operationId"],
        "superuserAuthRefresh"
    );
    assert_eq!(
        paths["/api/collections/users/confirm-password-reset"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"]["password"]["minLength"],
        8
    );

    let s = &doc["components"]["schemas"];
    let answer = &s["UsersAuthResponse"];
    assert_eq!(answer["required"], json!(["token", "record"]));
    assert_eq!(
        answer["properties"]["record"]["allOf"],
        json!([{"$ref": "#/components/schemas/UsersRecord"}])
    );
    assert_eq!(answer["properties"]["record"]["required"], json!(["email"]));

    let create = &s["UsersCreate"];
    let required: Vec<&str> = create["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for key in ["email", "password", "passwordConfirm"] {
        assert!(required.contains(&key), "{key}");
    }
    let update = &s["UsersUpdate"];
    for (schema, keys) in [
        (create, &["password", "passwordConfirm"][..]),
        (update, &["oldPassword", "password", "passwordConfirm"][..]),
    ] {
        for key in keys {
            assert_eq!(schema["properties"][key]["writeOnly"], true, "{key}");
        }
        for key in ["email", "emailVisibility", "verified"] {
            assert!(schema["properties"].get(key).is_some(), "{key}");
        }
        assert!(schema["properties"].get("tokenKey").is_none());
    }
    assert!(update.get("required").is_none());
    assert!(!s.to_string().contains("tokenKey"));
}

#[test]
fn superusers_get_every_collection_hidden_fields_and_rules() {
    let doc = document(&sample(), Audience::Superuser);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/collections/audit/records"));
    assert!(!paths.contains_key("/api/collections/_superusers/records"));
    let record = &doc["components"]["schemas"]["PostsRecord"];
    assert_eq!(record["properties"]["secret"]["x-hidden"], true);
    let required: Vec<&str> = record["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"secret"));
    assert_eq!(
        record["properties"]["peek"]["anyOf"][0],
        json!({"$ref": "#/components/schemas/PostsSchema/properties/secret"})
    );
    let rules = doc["paths"]["/api/collections/posts/records/{id}"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(rules.contains("`published = true`"), "{rules}");
    assert_references_resolve(&doc);
}

#[test]
fn records_carry_system_fields_and_the_schemas_as_written() {
    let doc = document(&sample(), Audience::Guest);
    let s = &doc["components"]["schemas"];
    let posts = &s["PostsRecord"]["properties"];
    for key in [
        "id",
        "collectionId",
        "collectionName",
        "created",
        "updated",
        "expand",
    ] {
        assert!(posts.get(key).is_some(), "{key}");
    }
    assert_eq!(posts["collectionName"]["const"], "posts");
    assert_eq!(posts["published"], json!({"type": "boolean"}));
    assert_eq!(
        posts["author"]["x-relation"]["collection"], "users",
        "extensions stay as vendor extensions"
    );
    assert_eq!(
        posts["expand"]["properties"]["author"],
        json!({"$ref": "#/components/schemas/UsersRecord"})
    );
    assert_eq!(
        posts["expand"]["properties"]["editors"]["items"],
        json!({"$ref": "#/components/schemas/UsersRecord"})
    );
    assert_eq!(
        posts["meta"],
        or_zero(
            json!({"$ref": "#/components/schemas/PostsSchema/$defs/meta"}),
            Value::Null
        ),
        "an unset object reads as null"
    );
    assert_eq!(
        posts["tree"],
        or_zero(json!({"$ref": "#posts-node"}), Value::Null)
    );
    assert_eq!(s["PostsSchema"]["$defs"]["node"]["$anchor"], "posts-node");
    assert_eq!(
        posts["kind"]["anyOf"][0]["enum"][1],
        json!({"$ref": "#/not-a-ref"}),
        "data untouched"
    );
    // Unset values the schema would reject can still be read.
    assert_eq!(posts["due"]["anyOf"][1], json!({"const": ""}));
    assert_eq!(
        posts["title"],
        json!({"type": "string", "minLength": 1, "description": "Headline."}),
        "required: never unset"
    );
    assert!(
        posts["stamp"].get("anyOf").is_none(),
        "autodates are always set"
    );

    let create = &s["PostsCreate"];
    assert_eq!(create["required"], json!(["title"]));
    assert!(
        create["properties"].get("stamp").is_none(),
        "autodates are not input"
    );
    assert!(s["PostsUpdate"].get("required").is_none());

    let users = &s["UsersRecord"];
    for key in ["email", "emailVisibility", "verified"] {
        assert!(users["properties"].get(key).is_some(), "{key}");
    }
    for key in ["password", "tokenKey"] {
        assert!(users["properties"].get(key).is_none(), "{key}");
    }
    assert_eq!(s["UsersCreate"]["properties"]["password"]["minLength"], 8);

    let stats = doc["paths"]["/api/collections/stats/records"]
        .as_object()
        .unwrap();
    assert!(
        stats.contains_key("get") && !stats.contains_key("post"),
        "views are read-only"
    );
    assert!(s.get("StatsCreate").is_none());
    let one = doc["paths"]["/api/collections/stats/records/{id}"]
        .as_object()
        .unwrap();
    assert!(!one.contains_key("patch") && !one.contains_key("delete"));
}

#[test]
fn every_component_schema_is_a_valid_2020_12_schema() {
    for audience in [Audience::Guest, Audience::Superuser] {
        let doc = document(&sample(), audience);
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
                panic!("{name}: {e}");
            }
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    let doc = document(&sample(), Audience::Superuser);
    let mut seen = HashSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(seen.insert(id.to_owned()), "{id} twice");
            }
        }
    }
    assert!(seen.contains("listPosts") && seen.contains("deleteAudit"));
    assert!(seen.contains("impersonateStaff") && seen.contains("superuserAuthWithPassword"));
}

#[test]
fn the_cache_is_per_snapshot_and_audience() {
    let a = Arc::new(sample());
    let b = Arc::new(sample());
    store(&a, Audience::Guest, Bytes::from_static(b"a"));
    assert_eq!(cached(&a, Audience::Guest).as_deref(), Some(&b"a"[..]));
    assert!(cached(&a, Audience::Superuser).is_none());
    assert!(
        cached(&b, Audience::Guest).is_none(),
        "same version, other snapshot"
    );
}
