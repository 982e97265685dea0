//! Field validation errors as PocketBase gives them (issue 14): one row per JSON Schema
//! keyword, the code, message and params PocketBase 0.40.6 answers for the field option
//! the keyword stands for, over HTTP, in a plain create, an update and a batch item.
//! Keywords PocketBase has no option for keep the Keelbase codes the README lists.
//! Also: null and empty in filters (API.md Part B §3).

mod common;

use axum::http::{Method, StatusCode};
use common::{assert_error_shape, TestApp};
use serde_json::{json, Value};

async fn setup() -> (TestApp, String, Vec<String>) {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let mut users = Vec::new();
    for i in 0..3 {
        let u = app
            .post(
                "/api/collections/users/records",
                json!({"email": format!("u{i}@example.com"), "password": "a-long-password", "passwordConfirm": "a-long-password"}),
                Some(&token),
            )
            .await;
        assert_eq!(u.status, StatusCode::OK, "{}", u.body);
        users.push(u.body["id"].as_str().unwrap().to_owned());
    }
    let a = app
        .post(
            "/api/collections",
            json!({"name": "things", "schema": {"type": "object", "properties": {
                "name": {"type": "string"},
                "title": {"type": "string", "minLength": 3, "maxLength": 5},
                "code": {"type": "string", "pattern": "^[a-z]+$"},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "minimum": 0.5, "maximum": 2.5},
                "above": {"type": "number", "exclusiveMinimum": 0},
                "contact": {"type": "string", "format": "email"},
                "site": {"type": "string", "format": "uri"},
                "when": {"type": "string", "format": "date-time"},
                "status": {"type": "string", "enum": ["draft", "live"]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y", "z"]}, "minItems": 2, "maxItems": 2},
                "owners": {"type": "array", "items": {"type": "string"}, "maxItems": 2,
                           "x-relation": {"collection": "users"}},
                "owner": {"type": "string", "x-relation": {"collection": "users"}},
                "labels": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "even": {"type": "integer", "multipleOf": 2},
                "flag": {"type": "boolean"}
            }, "required": ["name"]},
            "listRule": "", "viewRule": "", "createRule": "", "updateRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (app, token, users)
}

/// `(body of the write, field, the field's whole error)`.
fn cases(users: &[String]) -> Vec<(Value, &'static str, Value)> {
    vec![
        (
            json!({"title": "ab"}),
            "title",
            json!({"code": "validation_min_text_constraint", "message": "Must be at least 3 character(s).", "params": {"min": 3}}),
        ),
        (
            json!({"title": "abcdef"}),
            "title",
            json!({"code": "validation_max_text_constraint", "message": "Must be no more than 5 character(s).", "params": {"max": 5}}),
        ),
        (
            json!({"code": "ABC"}),
            "code",
            json!({"code": "validation_invalid_format", "message": "Invalid value format."}),
        ),
        (
            json!({"count": 2.5}),
            "count",
            json!({"code": "validation_only_int_constraint", "message": "Decimal numbers are not allowed."}),
        ),
        (
            json!({"count": 0.5}),
            "count",
            json!({"code": "validation_only_int_constraint", "message": "Decimal numbers are not allowed."}),
        ),
        (
            json!({"count": -3}),
            "count",
            json!({"code": "validation_min_number_constraint", "message": "Must be greater or equal than 1.", "params": {"min": 1}}),
        ),
        (
            json!({"count": 11}),
            "count",
            json!({"code": "validation_max_number_constraint", "message": "Must be less or equal than 10.", "params": {"max": 10}}),
        ),
        (
            json!({"ratio": 0.25}),
            "ratio",
            json!({"code": "validation_min_number_constraint", "message": "Must be greater or equal than 0.5.", "params": {"min": 0.5}}),
        ),
        (
            json!({"ratio": 3}),
            "ratio",
            json!({"code": "validation_max_number_constraint", "message": "Must be less or equal than 2.5.", "params": {"max": 2.5}}),
        ),
        (
            json!({"contact": "not-an-email"}),
            "contact",
            json!({"code": "validation_is_email", "message": "Must be a valid email address."}),
        ),
        (
            json!({"site": "not a url"}),
            "site",
            json!({"code": "validation_invalid_url", "message": "Must be a valid url."}),
        ),
        (
            json!({"status": "gone"}),
            "status",
            json!({"code": "validation_invalid_value", "message": "Invalid value gone.", "params": {"value": "gone"}}),
        ),
        (
            json!({"tags": ["x", "nope"]}),
            "tags",
            json!({"code": "validation_invalid_value", "message": "Invalid value nope.", "params": {"value": "nope"}}),
        ),
        (
            json!({"tags": ["x", "y", "z"]}),
            "tags",
            json!({"code": "validation_too_many_values", "message": "Select no more than 2.", "params": {"maxSelect": 2}}),
        ),
        (
            json!({"tags": ["x"]}),
            "tags",
            json!({"code": "validation_not_enough_values", "message": "Select at least 2.", "params": {"minSelect": 2}}),
        ),
        (
            json!({"owners": users}),
            "owners",
            json!({"code": "validation_too_many_values", "message": "Select no more than 2.", "params": {"maxSelect": 2}}),
        ),
        (
            json!({"owner": "nosuchuser1234"}),
            "owner",
            json!({"code": "validation_missing_rel_records", "message": "Failed to find all relation records with the provided ids."}),
        ),
    ]
}

/// The Keelbase codes for keywords PocketBase has no option for (README).
fn keelbase_cases() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (
            json!({"above": -1}),
            "above",
            "validation_min_number_constraint",
        ),
        (
            json!({"labels": ["a", "a"]}),
            "labels",
            "validation_not_unique_items",
        ),
        (json!({"even": 3}), "even", "validation_invalid_value"),
        (json!({"flag": "yes"}), "flag", "validation_invalid_type"),
        (json!({"title": 12345}), "title", "validation_invalid_type"),
        (
            json!({"when": "yesterday"}),
            "when",
            "validation_invalid_date",
        ),
    ]
}

fn with_name(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut()
        .unwrap()
        .entry("name")
        .or_insert(json!("n"));
    body
}

#[tokio::test]
async fn each_keyword_answers_pocketbases_code_message_and_params() {
    let (app, token, users) = setup().await;
    for (body, field, error) in cases(&users) {
        let a = app
            .post("/api/collections/things/records", with_name(&body), None)
            .await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["message"], "Failed to create record.", "{body}");
        assert_eq!(a.body["data"][field], error, "create {body}: {}", a.body);
    }
    for (body, field, code) in keelbase_cases() {
        let a = app
            .post("/api/collections/things/records", with_name(&body), None)
            .await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["data"][field]["code"], code, "{body}: {}", a.body);
    }
    // `required` keeps its JSON Schema meaning (API.md Part A): present, even if blank.
    let missing = app
        .post(
            "/api/collections/things/records",
            json!({"title": "abc"}),
            None,
        )
        .await;
    assert_eq!(
        missing.body["data"]["name"],
        json!({"code": "validation_required", "message": "Cannot be blank."})
    );
    let listed = app
        .get("/api/collections/things/records", Some(&token))
        .await;
    assert_eq!(listed.body["totalItems"], 0, "no failed write left a row");

    // The same on update, and the record is left as it was.
    let ok = app
        .post(
            "/api/collections/things/records",
            json!({"name": "ok", "title": "fine"}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let id = ok.body["id"].as_str().unwrap();
    let uri = format!("/api/collections/things/records/{id}");
    for (body, field, error) in cases(&users) {
        let a = app
            .json(Method::PATCH, &uri, Some(body.clone()), None)
            .await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["message"], "Failed to update record.", "{body}");
        assert_eq!(a.body["data"][field], error, "update {body}: {}", a.body);
    }
    let after = app.get(&uri, None).await;
    assert_eq!(
        (after.body["name"].clone(), after.body["title"].clone()),
        (json!("ok"), json!("fine"))
    );
}

#[tokio::test]
async fn a_batch_item_carries_the_same_codes() {
    let (app, _token, users) = setup().await;
    for (body, field, error) in cases(&users) {
        let a = app
            .post(
                "/api/batch",
                json!({"requests": [
                    {"method": "POST", "url": "/api/collections/things/records", "body": {"name": "first"}},
                    {"method": "POST", "url": "/api/collections/things/records", "body": with_name(&body)}
                ]}),
                None,
            )
            .await;
        assert_error_shape(&a, 400);
        assert_eq!(
            a.body["data"]["requests"]["1"],
            json!({"code": "batch_request_failed", "message": "Batch request failed.",
                   "response": {"status": 400, "message": "Failed to create record.",
                                "data": {field: error}}}),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_unset_date_and_a_json_null_equal_null() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "articles", "schema": {"type": "object", "properties": {
                "title": {"type": "string"},
                "publishedAt": {"type": "string", "format": "date-time"},
                "meta": {"type": "object"}
            }}, "listRule": "publishedAt = null && meta = null", "viewRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for body in [
        json!({"title": "bare"}),
        json!({"title": "dated", "publishedAt": "2026-01-02 03:04:05.000Z"}),
        json!({"title": "meta", "meta": {"a": 1}}),
        json!({"title": "both", "publishedAt": "2026-01-02 03:04:05.000Z", "meta": {"a": null}}),
    ] {
        let c = app
            .post("/api/collections/articles/records", body, Some(&token))
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    }
    let titles = |a: &common::Answer| -> Vec<String> {
        a.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", a.body))
            .iter()
            .map(|r| r["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let filter = |f: &str| {
        format!(
            "/api/collections/articles/records?sort=title&filter={}",
            urlencode(f)
        )
    };
    let a = app
        .get(
            &filter(r#"publishedAt = null && publishedAt = "" && meta = null"#),
            Some(&token),
        )
        .await;
    assert_eq!(titles(&a), ["bare"]);
    let a = app.get(&filter("publishedAt != null"), Some(&token)).await;
    assert_eq!(titles(&a), ["both", "dated"]);
    let a = app.get(&filter("meta.a = null"), Some(&token)).await;
    assert_eq!(titles(&a), ["bare", "both", "dated"], "unset and JSON null");
    // The same through a rule, for a guest.
    let a = app
        .get("/api/collections/articles/records?sort=title", None)
        .await;
    assert_eq!(titles(&a), ["bare"]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
